"""What every part of the store shares: the client, the key schema and the scripts, and
what the listings of jobs and sweeps share: trimming what expired, a tenant's page."""

from __future__ import annotations

from typing import Self

import redis

from .. import connections, settings
from ..tenants import DEFAULT_TENANT
from .keys import JOB_STATUSES, Keys
from .scripts import Scripts

#: expired ids one listing removes from the indexes at most (the rest, at the next)
TRIM_BATCH = 1000


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

    def trim_expired(self, limit: int = TRIM_BATCH, pipe=None) -> tuple[int, int] | None:
        """Remove from the listings up to ``limit`` jobs and as many sweeps that expired;
        how many of each (with ``pipe``, queued there first: None). Listings call it before
        they read, so an id is trimmed once, by whichever reads first, at the cost of what
        it removes, however long the backlog."""
        keys = {
            "expiring": self.keys.expiring("jobs"),
            "sweeps_expiring": self.keys.expiring("sweeps"),
            "index_all": self.keys.jobs(),
            "sweeps": self.keys.sweeps,
        }
        keys |= {f"index_{status}": self.keys.jobs(status) for status in JOB_STATUSES}
        if pipe is not None:
            self.scripts.run("trim", keys=keys, args={"limit": limit}, client=pipe)
            return None
        jobs, sweeps = self.scripts.run("trim", keys=keys, args={"limit": limit})
        return int(jobs), int(sweeps)

    def _owned_page(
        self, kind: str, tenant: str, index: str, offset: int, limit: int
    ) -> tuple[list[bytes], int]:
        """The ids of one page of the tenant's ``jobs`` or ``sweeps`` that are in ``index``
        too, newest first, and how many there are."""
        keys = {"owned": self.keys.owned(kind, tenant), "index_all": self._all(kind)}
        keys["index"] = index
        total, *ids = self.scripts.run(
            "owned_page", keys=keys, args={"offset": offset, "limit": limit}
        )
        return ids, int(total)

    def _all(self, kind: str) -> str:
        return self.keys.jobs() if kind == "jobs" else self.keys.sweeps


def reaches(owner: bytes | str | None, reach: str | None) -> bool:
    """Whether a record of the tenant ``owner`` (None: stored before tenants, so
    ``default``'s) is within ``reach`` (a tenant, or None for every tenant)."""
    if reach is None:
        return True
    if isinstance(owner, bytes):
        owner = owner.decode()
    return (owner or DEFAULT_TENANT) == reach
