"""The `nnjobs` command line, run as the installed console script against the running
service (and against nothing, for the exit code of an unreachable service)."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from conftest import free_port
from live_service import ROOT, live_url, wait_until  # noqa: F401  (live_url: a fixture)

import nn
from client import Client

NNJOBS = Path(sys.executable).parent / "nnjobs"
IRIS = ROOT / "examples" / "iris.csv"
SPECIES = {"setosa", "versicolor", "virginica"}


def nnjobs(*args, url: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    command = [NNJOBS, *map(str, args)]
    if url:
        command += ["--url", url]
    env = {k: v for k, v in os.environ.items() if not k.startswith("NNJOBS_")}
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)


def in_terminal(args, timeout: float = 90, interrupt_when=None) -> tuple[int, str]:
    """Run ``nnjobs args`` on a pseudo-terminal 120 columns wide; returns its exit code
    and everything it drew. Once ``interrupt_when(text)`` is true, it gets a SIGINT."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NNJOBS_", "NO_COLOR"))}
    env.update(TERM="xterm-256color", COLUMNS="120", LINES="40")
    proc = subprocess.Popen(
        [NNJOBS, *map(str, args)], stdin=slave, stdout=slave, stderr=slave, env=env
    )
    os.close(slave)
    chunks: list[bytes] = []
    interrupted = False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: every copy of the terminal's other end is closed
                    break
                if not data:
                    break
                chunks.append(data)
            text = b"".join(chunks).decode(errors="replace")
            if interrupt_when and not interrupted and interrupt_when(text):
                proc.send_signal(signal.SIGINT)
                interrupted = True
            if proc.poll() is not None and not ready:
                break
        else:
            raise AssertionError(f"nnjobs {args} still running after {timeout} s")
        return proc.wait(10), b"".join(chunks).decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


@pytest.fixture(scope="module")
def trained(live_url):  # noqa: F811
    """A model trained through the Python client, for the commands that show things."""
    X, y = nn.datasets.make("xor", n_samples=80, noise=0.05, seed=0)
    job = Client(live_url).train(
        X, y, layers=[8], name="cli-xor", epochs=20, learning_rate=0.05, progress=False
    )
    return job


def test_service_down_is_exit_3_with_one_line():
    url = f"http://127.0.0.1:{free_port()}"
    # a GET is retried (with pauses adding up to under 2 s) before giving up; a DELETE is not
    for args in (["jobs"], ["cancel", "abc"]):
        result = nnjobs(*args, url=url)
        assert result.returncode == 3, (args, result.stderr)
        assert result.stderr.count("\n") == 1, result.stderr
        assert result.stderr.startswith("error: cannot reach"), result.stderr
        assert result.stdout == ""


def test_service_down_while_uploading_is_exit_3(tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("a,b\n1,x\n2,y\n")
    result = nnjobs("train", data, "--target", "b", url=f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 3, result.stderr
    assert result.stderr.splitlines()[-1].startswith("error: cannot reach")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["train"],
        ["train", "no-such-file.csv", "--target", "y"],
        ["train", __file__, "--target", "y", "--layers", "a,b"],
        ["train", __file__, "--target", "y", "--epochs", "0"],
        ["predict", "model-only"],
        ["no-such-command"],
    ],
)
def test_bad_usage_is_exit_2(args):
    result = nnjobs(*args, url=f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 2, result.stderr
    assert "Usage:" in result.stderr and "Traceback" not in result.stderr


def test_a_refused_request_is_exit_2_with_the_apis_message(live_url, trained):  # noqa: F811
    result = nnjobs("show", "no-such-thing", url=live_url)
    assert result.returncode == 2
    assert result.stderr == "error: no job or model 'no-such-thing'\n"

    result = nnjobs("cancel", trained["id"], url=live_url)  # it has ended: 409
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "succeeded" in result.stderr

    result = nnjobs("jobs", "--status", "bogus", url=live_url)
    assert result.returncode == 2
    assert result.stderr.startswith("error: status: Must be one of")

    result = nnjobs("show", "no-such-thing", "--json", url=live_url)
    assert result.returncode == 2
    assert json.loads(result.stdout)["error"]["code"] == 404


def test_json_output_parses(live_url, trained):  # noqa: F811
    jobs = json.loads(nnjobs("jobs", "--json", url=live_url).stdout)
    assert trained["id"] in {job["id"] for job in jobs}
    succeeded = json.loads(nnjobs("jobs", "--status", "succeeded", "--json", url=live_url).stdout)
    assert {job["status"] for job in succeeded} == {"succeeded"}
    models = json.loads(nnjobs("models", "--json", url=live_url).stdout)
    assert trained["model_id"] in {m["id"] for m in models}
    shown = json.loads(nnjobs("show", trained["id"], "--json", url=live_url).stdout)
    assert shown["job"]["id"] == trained["id"] and shown["job"]["status"] == "succeeded"
    shown = json.loads(nnjobs("show", "cli-xor@1", "--json", url=live_url).stdout)
    assert shown["model"]["id"] == trained["model_id"]
    names = {a["name"] for a in json.loads(nnjobs("activations", "--json", url=live_url).stdout)}
    assert set(nn.hidden_activation_names()) <= names


def test_tables_show_ids_and_names(live_url, trained):  # noqa: F811
    result = nnjobs("jobs", url=live_url)
    assert result.returncode == 0 and trained["id"] in result.stdout
    result = nnjobs("models", "--name", "cli-xor", url=live_url)
    assert "cli-xor@1" in result.stdout and trained["model_id"] in result.stdout
    result = nnjobs("show", "cli-xor", url=live_url)
    assert "cli-xor@1" in result.stdout and "sigmoid" in result.stdout
    result = nnjobs("activations", url=live_url)
    assert all(name in result.stdout for name in nn.hidden_activation_names())
