"""The Python client and the command line over a tenant's rate: a short Retry-After is
waited out, a long one is one line and exit code 2."""

from __future__ import annotations

import os
import subprocess
import threading
import time

import pytest
from api_helpers import make_app
from live_service import VENV_BIN
from werkzeug.serving import make_server

from client import Client, TooManyRequests
from registry.tenants import entry_text

ALICE, BOB = "alice-key-0123456789", "bob-key-0123456789abc"


@pytest.fixture
def url(tmp_path, redis_url, prefix):
    """The real app, served over HTTP from a thread: alice's bucket refills a token every
    100 s, bob's every half second."""
    path = tmp_path / "keys.toml"
    text = entry_text("alice", "trainer", ALICE) + entry_text("bob", "trainer", BOB)
    text += "\n[tenants.alice]\nrate = 0.01\nburst = 1\n\n[tenants.bob]\nrate = 2\nburst = 1\n"
    path.write_text(text)
    app = make_app(redis_url, prefix, NNJOBS_KEYS_FILE=str(path))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


def test_the_client_waits_out_a_short_retry_after(url):
    with Client(url, api_key=BOB) as client:
        assert client.jobs() == []
        started = time.monotonic()
        assert client.jobs() == []  # 429 with Retry-After: 1, then a token
        assert time.monotonic() - started >= 0.9


def test_a_long_retry_after_is_raised_at_once(url):
    with Client(url, api_key=ALICE, max_retry_after=30) as client:
        assert client.jobs() == []
        started = time.monotonic()
        with pytest.raises(TooManyRequests) as caught:
            client.jobs()
        assert time.monotonic() - started < 5
    assert caught.value.code == 429 and 90 <= caught.value.retry_after <= 100
    assert "NNJOBS_TENANT_RATE" in caught.value.message


def test_the_command_line_says_so_in_one_line_with_exit_code_2(url):
    env = {k: v for k, v in os.environ.items() if not k.startswith("NNJOBS_")}
    env |= {"NNJOBS_URL": url, "NNJOBS_API_KEY": ALICE}
    command = [str(VENV_BIN / "nnjobs"), "jobs"]
    first = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)
    assert first.returncode == 0, first.stderr
    over = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)
    assert over.returncode == 2, over.stderr
    assert over.stderr.count("\n") == 1 and over.stderr.startswith("error: tenant 'alice'")
    assert "retry after" in over.stderr and ALICE not in over.stderr
