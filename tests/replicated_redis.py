"""A replicated Redis on loopback ports for the failover tests: a master, a replica and
three Redis Sentinels watching them, each a real ``redis-server`` process (sentinels are
the same binary in sentinel mode), all stopped and removed at the end. Redis and the
sentinels each have a password, as in production: the URL carries Redis's,
``NNJOBS_SENTINEL_PASSWORD`` the sentinels'."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import redis
from conftest import RedisServer, answers_ping, free_port, redis_server_binary

MASTER_NAME = "nnjobs-test"
REDIS_PASSWORD = "redis-pw-0123"
SENTINEL_PASSWORD = "sentinel-pw-4567"
#: how long a master must be silent before the sentinels call it down (ms), and how
#: long a failover may take before another is tried: short, for short tests
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 4000
#: a master starts a replica's full copy at once, rather than after 5 s spent waiting for
#: more replicas to share it
SYNC_AT_ONCE = ("--repl-diskless-sync-delay", "0")


def server(*extra: str, port: int | None = None) -> RedisServer:
    """A started Redis of the set: with its password, and the one to replicate with."""
    args = ("--masterauth", REDIS_PASSWORD, *SYNC_AT_ONCE, *extra)
    return RedisServer(*args, port=port, password=REDIS_PASSWORD).start()


def replica_of(port: int, own_port: int | None = None) -> RedisServer:
    """A started replica of the Redis at ``port`` (on ``own_port``, else a free one)."""
    return server("--replicaof", "127.0.0.1", str(port), port=own_port)


def _answers(port: int) -> bool:
    try:
        return answers_ping(port, SENTINEL_PASSWORD)
    except OSError:
        return False


class Sentinel:
    """One sentinel process; it rewrites its configuration file, so it gets its own."""

    def __init__(self, master_port: int, quorum: int, directory: Path):
        self.port = free_port()
        self.dir = directory / f"sentinel-{self.port}"
        self.dir.mkdir()
        self.conf = self.dir / "sentinel.conf"
        self.conf.write_text(
            "\n".join(
                [
                    f"port {self.port}",
                    "bind 127.0.0.1",
                    f"dir {self.dir}",
                    f"sentinel monitor {MASTER_NAME} 127.0.0.1 {master_port} {quorum}",
                    f"sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}",
                    f"sentinel failover-timeout {MASTER_NAME} {FAILOVER_TIMEOUT_MS}",
                    f"sentinel parallel-syncs {MASTER_NAME} 1",
                    f"sentinel auth-pass {MASTER_NAME} {REDIS_PASSWORD}",
                    f"requirepass {SENTINEL_PASSWORD}",
                    # the sentinels talk to each other with the same password
                    f"sentinel sentinel-pass {SENTINEL_PASSWORD}",
                    "",
                ]
            )
        )
        self.proc = subprocess.Popen(
            [redis_server_binary(), str(self.conf), "--sentinel"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class ReplicatedRedis:
    """Master, replica and three sentinels; :attr:`url` is the ``sentinel://`` URL."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="nnjobs-sentinel-"))
        self.master = server()
        self.replica = replica_of(self.master.port)
        self.sentinels = [Sentinel(self.master.port, 2, self.dir) for _ in range(3)]
        self.wait_synced(self.master.port, 1)
        deadline = time.monotonic() + 10
        while not all(_answers(s.port) for s in self.sentinels):
            if time.monotonic() > deadline:
                self.cleanup()
                raise RuntimeError("the sentinels did not start")
            time.sleep(0.05)
        # every sentinel must know the replica (and each other) before a failover can
        # promote it
        self.wait_until(lambda: all(self._knows_replica(s) for s in self.sentinels), 15)

    @property
    def url(self) -> str:
        auth = f":{REDIS_PASSWORD}@"
        return ";".join(f"sentinel://{auth}127.0.0.1:{s.port}" for s in self.sentinels) + "/0"

    def _sentinel_client(self, sentinel: Sentinel) -> redis.Redis:
        return redis.Redis(
            port=sentinel.port, password=SENTINEL_PASSWORD, socket_timeout=1, decode_responses=True
        )

    def _knows_replica(self, sentinel: Sentinel) -> bool:
        with self._sentinel_client(sentinel) as client:
            try:
                replicas = client.sentinel_slaves(MASTER_NAME)
                peers = client.sentinel_sentinels(MASTER_NAME)
            except redis.RedisError:
                return False
        return len(replicas) >= 1 and len(peers) >= 2

    def master_port(self) -> int | None:
        """The master's port as the first sentinel that answers names it."""
        for sentinel in self.sentinels:
            with self._sentinel_client(sentinel) as client:
                try:
                    return int(client.sentinel_get_master_addr_by_name(MASTER_NAME)[1])
                except (redis.RedisError, TypeError):
                    continue
        return None

    def wait_synced(self, master_port: int, replicas: int, timeout: float = 15) -> None:
        def synced() -> bool:
            with redis.Redis(port=master_port, password=REDIS_PASSWORD, socket_timeout=1) as client:
                try:
                    info = client.info("replication")
                except redis.RedisError:
                    return False
            online = [v for k, v in info.items() if k.startswith("slave") and isinstance(v, dict)]
            return sum(v.get("state") == "online" for v in online) >= replicas

        self.wait_until(synced, timeout)

    @staticmethod
    def wait_until(predicate, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"not within {timeout} s")
            time.sleep(0.05)

    def kill_master(self) -> RedisServer:
        """SIGKILL the master; the server object, to start it again on its port."""
        self.master.stop(sig_kill=True)
        return self.master

    def cleanup(self) -> None:
        for sentinel in getattr(self, "sentinels", ()):
            sentinel.stop()
        for server in (self.master, getattr(self, "replica", None)):
            if server is not None:
                server.cleanup()
        shutil.rmtree(self.dir, ignore_errors=True)
