"""What every part of the store shares: the client, the key schema and the scripts."""

from __future__ import annotations

from typing import Self

import redis

from .. import settings
from .keys import Keys
from .scripts import Scripts


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
    """

    def __init__(self, client: redis.Redis, prefix: str = "nnjobs", job_ttl: int | None = None):
        self.r = client
        self.prefix = prefix
        self.keys = Keys(prefix)
        self.scripts = Scripts(client)
        self.job_ttl = settings.get("NNJOBS_JOB_TTL") if job_ttl is None else job_ttl

    @classmethod
    def from_url(
        cls, url: str, prefix: str = "nnjobs", job_ttl: int | None = None, **kwargs
    ) -> Self:
        kwargs.setdefault("socket_timeout", 5)
        kwargs.setdefault("socket_connect_timeout", 2)
        kwargs.setdefault("health_check_interval", 30)
        return cls(redis.Redis.from_url(url, **kwargs), prefix, job_ttl)

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
