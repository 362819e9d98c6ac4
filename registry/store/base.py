"""What every part of the store shares: the client, the key schema and the scripts."""

from __future__ import annotations

from typing import Self

import redis

from .. import connections, settings
from .keys import Keys
from .scripts import Scripts


class NotReplicated(Exception):
    """Fewer replicas than required confirmed a write in time (``WAIT``): the write is on
    the master, but a failover before it reaches a replica would lose it."""

    def __init__(self, confirmed: int, required: int, timeout: float):
        super().__init__(
            f"{confirmed} of the {required} Redis replicas required confirmed the write "
            f"within {timeout:g} s (NNJOBS_REDIS_MIN_REPLICAS)"
        )
        self.confirmed, self.required, self.timeout = confirmed, required, timeout


class Store:
    """A Redis database under one key prefix.

    Parameters
    ----------
    client : redis.Redis
        A client that returns bytes (``decode_responses=False``): model blobs are binary.
    prefix : str
        Namespace of every key, so several deployments or tests can share a server.
    job_ttl : int, optional
        Seconds an ended job, and an ended sweep, are kept (0: for ever); by default
        ``NNJOBS_JOB_TTL``'s.

    The replicas that must confirm a submission or a model stored, and for how long they
    are waited for, are ``NNJOBS_REDIS_MIN_REPLICAS`` and ``NNJOBS_REDIS_WAIT_TIMEOUT``
    (``min_replicas`` and ``wait_timeout``, which may be changed on the instance).
    """

    def __init__(self, client: redis.Redis, prefix: str = "nnjobs", job_ttl: int | None = None):
        self.r = client
        self.prefix = prefix
        self.keys = Keys(prefix)
        self.scripts = Scripts(client)
        self.job_ttl = settings.get("NNJOBS_JOB_TTL") if job_ttl is None else job_ttl
        self.min_replicas = settings.get("NNJOBS_REDIS_MIN_REPLICAS")
        self.wait_timeout = settings.get("NNJOBS_REDIS_WAIT_TIMEOUT")

    def _wait_replicas(self, pipe) -> None:
        """Queue, after the writes queued in ``pipe`` (a pipeline: one connection), a
        ``WAIT`` for the required replicas; a no-op when none are."""
        if self.min_replicas:
            pipe.wait(self.min_replicas, max(1, int(self.wait_timeout * 1000)))

    def _check_replicated(self, replies: list) -> list:
        """``replies`` of a pipeline given to :meth:`_wait_replicas`, without the WAIT's;
        NotReplicated when too few replicas confirmed.

        WAIT waits for every write this connection made, and as a replica's offset is the
        master's whole stream, for every write any connection made before them too."""
        if not self.min_replicas:
            return replies
        *replies, confirmed = replies
        if int(confirmed) < self.min_replicas:
            raise NotReplicated(int(confirmed), self.min_replicas, self.wait_timeout)
        return replies

    @classmethod
    def from_url(
        cls, url: str, prefix: str = "nnjobs", job_ttl: int | None = None, **kwargs
    ) -> Self:
        kwargs.setdefault("socket_timeout", 5)
        kwargs.setdefault("socket_connect_timeout", 2)
        kwargs.setdefault("health_check_interval", 30)
        # a sentinel:// URL: the master the sentinels name, followed through a failover
        return cls(connections.client(url, **kwargs), prefix, job_ttl)

    def ping(self) -> bool:
        return bool(self.r.ping())

    def _id_or_newest(self, record_key: str, names_key: str, ref: str) -> str | None:
        """``ref`` if ``record_key`` exists, else the newest id in the sorted set
        ``names_key``, else None: an id or a name, both asked in one round trip, as every
        prediction that is not cached asks them."""
        with self.r.pipeline(transaction=False) as pipe:
            pipe.exists(record_key)
            pipe.zrevrange(names_key, 0, 0)
            exists, latest = pipe.execute()
        if exists:
            return ref
        return latest[0].decode() if latest else None
