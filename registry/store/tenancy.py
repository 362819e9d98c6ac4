"""What a tenant holds, as a whole: what was stored before tenants existed, given to
``default`` once; the bytes each tenant stores.

Each resource's store scopes its own records (:mod:`.jobs`, :mod:`.models`,
:mod:`.datasets`, :mod:`.sweeps`); this is what spans them.
"""

from __future__ import annotations

import json

import redis

from ..tenants import DEFAULT_TENANT
from .base import Store

#: ids read per round trip while adopting
ADOPT_BATCH = 1000


class Tenancy(Store):
    def adopt_untenanted(self) -> bool:
        """Give the tenant ``default`` what was stored before tenants existed (records
        without a ``tenant``): its indexes list them and its bytes count them. Done once per
        store (``P:tenancy``, set unless the store is empty), in one transaction, so that
        API processes starting together neither do it twice nor count twice; True if this
        call did it."""
        with self.r.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(self.keys.adopted)
                if pipe.exists(self.keys.adopted):
                    return False
                indexes = (self.keys.jobs(), self.keys.sweeps, self.keys.models, self.keys.datasets)
                if not pipe.exists(*indexes):
                    # an empty store: whatever is stored from now on names its tenant
                    return False
                owned, sizes = self._untenanted()
                pipe.multi()
                for kind, scored in owned.items():
                    if scored:
                        pipe.zadd(self.keys.owned(kind, DEFAULT_TENANT), scored)
                for field, size in sizes.items():
                    if size:
                        pipe.hincrby(self.keys.owned("bytes", DEFAULT_TENANT), field, size)
                pipe.set(self.keys.adopted, 1)
                pipe.execute()
            except redis.WatchError:
                return False  # another process did it meanwhile
        return True

    def _untenanted(self) -> tuple[dict[str, dict], dict[str, int]]:
        """Every record without a tenant: {kind: {id: score}}, and their bytes by kind."""
        kinds = {
            "jobs": (self.keys.jobs(), self.keys.job),
            "sweeps": (self.keys.sweeps, self.keys.sweep),
            "models": (self.keys.models, self.keys.model),
            "datasets": (self.keys.datasets, self.keys.dataset),
        }
        owned: dict[str, dict] = {}
        sizes = {"models": 0, "datasets": 0}
        for kind, (index, record) in kinds.items():
            owned[kind] = {}
            start = 0
            while batch := self.r.zrange(index, start, start + ADOPT_BATCH - 1, withscores=True):
                start += len(batch)
                with self.r.pipeline(transaction=False) as pipe:
                    for member, _ in batch:
                        pipe.hmget(record(member.decode()), "tenant", "meta")
                        if kind == "models":
                            pipe.hstrlen(record(member.decode()), "blob")
                    replies = pipe.execute()
                step = 2 if kind == "models" else 1
                for (member, score), at in zip(batch, range(0, len(replies), step), strict=True):
                    owner, meta = replies[at]
                    if owner is not None:
                        continue
                    owned[kind][member.decode()] = score
                    if kind == "models":
                        sizes["models"] += replies[at + 1]
                    elif kind == "datasets" and meta is not None:
                        sizes["datasets"] += self._dataset_bytes(member.decode(), meta)
        return owned, sizes

    def _dataset_bytes(self, dataset_id: str, meta: bytes) -> int:
        n_columns = json.loads(meta).get("n_columns", 0)
        with self.r.pipeline(transaction=False) as pipe:
            for index in range(n_columns):
                pipe.hstrlen(self.keys.dataset(dataset_id), f"col:{index}")
            return sum(pipe.execute())

    def active_jobs(self, tenant: str) -> int:
        """The tenant's jobs queued or running now."""
        owned = self.keys.owned("jobs", tenant)
        with self.r.pipeline(transaction=False) as pipe:
            for status in ("queued", "running"):
                pipe.zintercard(2, [owned, self.keys.jobs(status)])
            return sum(pipe.execute())

    def submission_lock(self, tenant: str, ttl: float, wait: float) -> redis.lock.Lock:
        """The lock a submission of the tenant holds to count its active jobs and store its
        own as one step (``ttl`` seconds at most, ``wait`` seconds to get it)."""
        return self.r.lock(
            self.keys.owned("submitting", tenant), timeout=ttl, blocking_timeout=wait
        )

    def stored_bytes(self, tenant: str) -> int:
        """The bytes of the tenant's models and datasets."""
        return sum(int(v) for v in self.r.hvals(self.keys.owned("bytes", tenant)))

    def take_token(self, tenant: str, rate: float, burst: int) -> float:
        """Take a request's token from the tenant's bucket (``rate`` a second, ``burst``
        at most, shared by every API process): 0 when taken, else the seconds until one
        will be there."""
        taken, wait_ms = self.scripts.run(
            "bucket",
            keys={"bucket": self.keys.owned("bucket", tenant)},
            args={"rate": rate, "burst": burst},
        )
        return 0.0 if taken else wait_ms / 1000
