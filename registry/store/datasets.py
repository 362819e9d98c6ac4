"""Datasets: uploaded tables, stored column by column, named and listed."""

from __future__ import annotations

import json
import time

from ..tenants import DEFAULT_TENANT
from .base import Store, reaches
from .keys import new_id
from .records import now_iso


class Datasets(Store):
    def create_dataset(
        self, meta: dict, columns: list[bytes], tenant: str = DEFAULT_TENANT
    ) -> dict:
        """Store a dataset of the tenant ``tenant``: ``meta`` describes it (its ``name``,
        its ``columns`` in file order), and ``columns`` holds each column's bytes in the
        same order. Returns the Dataset."""
        dataset_id = new_id()
        created_ms = int(time.time() * 1000)
        meta = {"id": dataset_id, **meta, "created_at": now_iso()}
        fields = {f"col:{i}": blob for i, blob in enumerate(columns)}
        size = sum(len(blob) for blob in columns)
        record = {"meta": json.dumps(meta), "tenant": tenant, "bytes": size, **fields}
        with self.r.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.dataset(dataset_id), mapping=record)
            pipe.zadd(self.keys.datasets, {dataset_id: created_ms})
            pipe.zadd(self.keys.owned("datasets", tenant), {dataset_id: created_ms})
            pipe.zadd(self.keys.dataset_name(meta["name"], tenant), {dataset_id: created_ms})
            pipe.hincrby(self.keys.owned("bytes", tenant), "datasets", size)
            pipe.execute()
        return meta

    def resolve_dataset(
        self, ref: str, tenant: str = DEFAULT_TENANT, reach: str | None = None
    ) -> str | None:
        """The id of the dataset ``ref`` names: its id (of a dataset of the tenant
        ``reach``, when given), or one of ``tenant``'s names (the newest of that name)."""
        return self._id_or_newest(
            self.keys.dataset(ref), self.keys.dataset_name(ref, tenant), ref, reach
        )

    def get_dataset(
        self, ref: str, tenant: str = DEFAULT_TENANT, reach: str | None = None
    ) -> dict | None:
        """The Dataset ``ref`` (an id or a name) names, or None."""
        dataset_id = self.resolve_dataset(ref, tenant, reach)
        meta = None if dataset_id is None else self.r.hget(self.keys.dataset(dataset_id), "meta")
        return None if meta is None else json.loads(meta)

    def dataset_columns(self, dataset_id: str, indexes: list[int]) -> list[bytes] | None:
        """The bytes of the columns at ``indexes``; None if the dataset is gone."""
        blobs = self.r.hmget(self.keys.dataset(dataset_id), [f"col:{i}" for i in indexes])
        return None if any(b is None for b in blobs) else blobs

    def list_datasets(
        self, offset: int = 0, limit: int = 20, tenant: str | None = None
    ) -> tuple[list[dict], int]:
        """Datasets newest first (the tenant ``tenant``'s; None: every tenant's), and how
        many there are in all."""
        index = self.keys.owned("datasets", tenant) if tenant else self.keys.datasets
        total = self.r.zcard(index)
        ids = self.r.zrevrange(index, offset, offset + limit - 1)
        with self.r.pipeline(transaction=False) as pipe:
            for dataset_id in ids:
                pipe.hget(self.keys.dataset(dataset_id.decode()), "meta")
            metas = pipe.execute()
        return [json.loads(m) for m in metas if m is not None], total

    def delete_dataset(self, dataset_id: str, reach: str | None = None) -> dict | None:
        """Delete a dataset by id (of the tenant ``reach``, when given); returns it, or None
        if there was none. Jobs already submitted keep their own copy of the data, and
        models their feature names."""
        key = self.keys.dataset(dataset_id)
        meta, owner, size = self.r.hmget(key, "meta", "tenant", "bytes")
        if meta is None or not reaches(owner, reach):
            return None
        meta, owner = json.loads(meta), (owner or DEFAULT_TENANT.encode()).decode()
        with self.r.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.zrem(self.keys.datasets, dataset_id)
            pipe.zrem(self.keys.owned("datasets", owner), dataset_id)
            pipe.zrem(self.keys.dataset_name(meta["name"], owner), dataset_id)
            pipe.hincrby(self.keys.owned("bytes", owner), "datasets", -int(size or 0))
            removed = pipe.execute()[0]
        return meta if removed else None
