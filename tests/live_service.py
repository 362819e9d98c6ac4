"""Helpers for the tests that run the service as processes: `make run`'s script (the
playground's browser tests run the service through it too) and the deployment commands of
the Docker image and compose file.

The ``live_url`` fixture (import it into a test module) is one `make run` service for the
whole session, on the session's throwaway Redis, for the tests that use it as a client would.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
RUN = ROOT / "scripts" / "run.py"
READY_LINE = "nnjobs is running at"

# a tiny job: a few hundred milliseconds of training on two cores
TINY_JOB = {
    "data": {"synthetic": {"name": "xor", "n_samples": 120, "noise": 0.05, "seed": 0}},
    "layers": [{"units": 8, "activation": "tanh"}],
    "training": {"epochs": 40, "learning_rate": 0.05},
}


class Process:
    """A started command whose output (stdout and stderr together) is collected by a
    thread, so that it can neither fill a pipe and block nor get lost when a test fails."""

    def __init__(self, args, env: dict[str, str], cwd: Path = ROOT, new_group: bool = True):
        self.args = [str(a) for a in args]
        self.proc = subprocess.Popen(
            self.args,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=new_group,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, text: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if text in line:
                    return line
            if self.proc.poll() is not None:
                self._reader.join(2)
                break
            time.sleep(0.05)
        for line in self.lines:
            if text in line:
                return line
        raise AssertionError(f"no line with {text!r} in {timeout} s; output:\n{self.output}")

    def stop(self, timeout: float = 20) -> None:
        """Stop it and everything in its process group, whatever state it is in."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        kill_group(self.proc.pid)
        self._reader.join(5)


def kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, parent pid, process group) of a live process, None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[2])


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            info = _stat(int(entry.name))
            if info:
                children.setdefault(info[1], []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def running(pids) -> set[int]:
    """Those of ``pids`` that still run (a zombie is finished: it only awaits reaping)."""
    alive = set()
    for pid in pids:
        info = _stat(pid)
        if info and info[0] != "Z":
            alive.add(pid)
    return alive


def wait_until(predicate, timeout: float, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def http_status(url: str, headers: dict | None = None) -> int | None:
    try:
        return requests.get(url, timeout=2, headers=headers).status_code
    except requests.RequestException:
        return None


def wait_ready(
    base_url: str, process: Process | None = None, timeout: float = 60, key: str | None = None
) -> None:
    """Until /readyz answers 200 (asked with ``key`` when the service needs one): the API
    runs, Redis answers and a worker listens."""
    headers = {"Authorization": f"Bearer {key}"} if key else None

    def ready():
        if process is not None and process.proc.poll() is not None:
            raise AssertionError(f"{process.args[0]} exited early:\n{process.output}")
        return http_status(base_url + "/readyz", headers) == 200

    wait_until(ready, timeout, what=f"{base_url}/readyz")


def train_and_predict(base_url: str, name: str, timeout: float = 90) -> dict:
    """POST a tiny job, poll it to success, predict with its model; returns the prediction."""
    response = requests.post(f"{base_url}/jobs", json={"name": name, **TINY_JOB}, timeout=10)
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["Location"].endswith(f"/jobs/{job['id']}")

    def ended():
        # the long poll answers on each change, so no polling interval is needed
        record = requests.get(f"{base_url}/jobs/{job['id']}?wait=10", timeout=20).json()
        return record if record["status"] in ("succeeded", "failed", "cancelled") else None

    job = wait_until(ended, timeout, interval=0, what=f"job {job['id']} to end")
    assert job["training_seconds"] > 0
    assert job["status"] == "succeeded", job
    inputs = [[0.5, 0.5], [-0.5, 0.5], [0.5, -0.5]]
    response = requests.post(
        f"{base_url}/predict", json={"model_id": job["model_id"], "inputs": inputs}, timeout=10
    )
    assert response.status_code == 200, response.text
    prediction = response.json()
    assert prediction["output"] == "sigmoid"
    assert len(prediction["probabilities"]) == len(inputs)
    assert all(0 <= p <= 1 for p in prediction["probabilities"])
    assert set(prediction["predictions"]) <= {0, 1}
    return prediction


def run_env(tmp_path: Path, key_prefix: str, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update(
        PORT=str(free_port()),
        NNJOBS_RUN_DIR=str(tmp_path / "run"),
        NNJOBS_KEY_PREFIX=key_prefix,
        NNJOBS_QUEUE=key_prefix,
        NNJOBS_WORKER_CONCURRENCY="1",
        NNJOBS_BLAS_THREADS="1",
        NNJOBS_STOP_TIMEOUT="20",
    )
    env.update(overrides)
    return env


class RunningService:
    """`make run`'s script (Redis if none answers, a worker, the API) as the test's child."""

    def __init__(self, env: dict[str, str]):
        self.env = env
        self.port = int(env["PORT"])
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = Process([sys.executable, RUN], env)
        self.pids: set[int] = set()

    def start(self, timeout: float = 90) -> RunningService:
        line = self.process.wait_for_line(READY_LINE, timeout)
        assert line == f"{READY_LINE} {self.url} (Ctrl-C to stop)"
        wait_ready(self.url, self.process)
        # every process below run.py once the worker's pool and gunicorn's workers run
        self.pids = descendants(self.process.pid)
        return self

    def cleanup(self) -> None:
        """Whatever happened in the test: nothing of it may outlive it."""
        leftovers = self.pids | descendants(self.process.pid)
        self.process.stop()
        for pid in running(leftovers):
            try:
                group = os.getpgid(pid)
            except ProcessLookupError:
                continue
            if group != os.getpgrp():  # run.py's children lead groups of their own
                kill_group(group)


class LiveService:
    """The API under gunicorn (``gunicorn.conf.py``, ``workers`` processes) and a Celery
    worker, as separate processes on the tests' Redis, under ``key_prefix`` (also the
    queue). ``api`` and ``worker`` are their :class:`Process`, each with its own output."""

    def __init__(
        self, redis_url: str, key_prefix: str, workers: int = 2, key: str | None = None, **env: str
    ):
        from conftest import free_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "REDIS_URL": redis_url,
            "NNJOBS_KEY_PREFIX": key_prefix,
            "NNJOBS_QUEUE": key_prefix,
            "PORT": str(self.port),
            "NNJOBS_HOST": "127.0.0.1",
            "WEB_CONCURRENCY": str(workers),
            "NNJOBS_WORKER_CONCURRENCY": "1",
            "NNJOBS_BLAS_THREADS": "1",
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        self.queue = key_prefix
        #: the key /readyz is asked with, when the service needs one
        self.key = key
        self.api: Process | None = None
        self.worker: Process | None = None

    def __enter__(self) -> LiveService:
        worker = [VENV_BIN / "celery", "-A", "worker.app:app", "worker", "--loglevel=INFO"]
        worker += ["--queues", self.queue, "--without-gossip", "--without-mingle"]
        api = [VENV_BIN / "gunicorn", "--config", ROOT / "gunicorn.conf.py"]
        try:
            self.worker = Process(worker, self.env)
            self.api = Process([*api, "service.app:create_app()"], self.env)
            wait_ready(self.url, self.api, key=self.key)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        for process in (self.api, self.worker):
            if process is not None:
                process.stop()


@pytest.fixture(scope="session")
def live_url(tmp_path_factory, redis_url):
    """The URL of a running service (API under gunicorn, one Celery worker), started once."""
    tmp_path = tmp_path_factory.mktemp("live")
    service = RunningService(
        run_env(tmp_path, "nnjobs-test-live", REDIS_URL=redis_url, WEB_CONCURRENCY="1")
    )
    LIVE.append(service)
    try:
        yield service.start().url
    finally:
        LIVE.remove(service)
        service.cleanup()


#: the service of ``live_url`` while it runs, for a failing test to show what it logged
LIVE: list[RunningService] = []


def live_log(text: str, lines: int = 40) -> str:
    """The last ``lines`` lines the ``live_url`` service logged that mention ``text``."""
    found = [line for s in LIVE for line in s.process.lines if text in line]
    return "\n".join(found[-lines:])
