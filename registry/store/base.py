"""What every part of the store shares: the client, the key schema and the scripts."""

from __future__ import annotations

from typing import Self

import redis

from .. import settings
from ..tenants import DEFAULT_TENANT
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

    def _id_or_newest(
        self, record_key: str, names_key: str, ref: str, reach: str | None = None
    ) -> str | None:
        """``ref`` if ``record_key`` exists (and belongs to the tenant ``reach``, when
        given), else the newest id in the sorted set ``names_key``, else None: an id or a
        name, both asked in one round trip, as every prediction that is not cached asks
        them."""
        with self.r.pipeline(transaction=False) as pipe:
            pipe.exists(record_key)
            pipe.hget(record_key, "tenant")
            pipe.zrevrange(names_key, 0, 0)
            exists, owner, latest = pipe.execute()
        if exists and reaches(owner, reach):
            return ref
        return latest[0].decode() if latest else None


def reaches(owner: bytes | str | None, reach: str | None) -> bool:
    """Whether a record of the tenant ``owner`` (None: stored before tenants, so
    ``default``'s) is within ``reach`` (a tenant, or None for every tenant)."""
    if reach is None:
        return True
    if isinstance(owner, bytes):
        owner = owner.decode()
    return (owner or DEFAULT_TENANT) == reach
