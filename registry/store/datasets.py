"""Datasets: uploaded tables, stored column by column, named and listed."""

from __future__ import annotations

import json
import time

from .base import Store
from .keys import new_id
from .records import now_iso


class Datasets(Store):
    def create_dataset(self, meta: dict, columns: list[bytes]) -> dict:
        """Store a dataset: ``meta`` describes it (its ``name``, its ``columns`` in file
        order), and ``columns`` holds each column's bytes in the same order. Returns the
        Dataset."""
        dataset_id = new_id()
        created_ms = int(time.time() * 1000)
        meta = {"id": dataset_id, **meta, "created_at": now_iso()}
        fields = {f"col:{i}": blob for i, blob in enumerate(columns)}
        with self.r.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.dataset(dataset_id), mapping={"meta": json.dumps(meta), **fields})
            pipe.zadd(self.keys.datasets, {dataset_id: created_ms})
            pipe.zadd(self.keys.dataset_name(meta["name"]), {dataset_id: created_ms})
            pipe.execute()
        return meta

    def resolve_dataset(self, ref: str) -> str | None:
        """The id of the dataset ``ref`` names: its id, or a name (the newest of that name)."""
        return self._id_or_newest(self.keys.dataset(ref), self.keys.dataset_name(ref), ref)

    def get_dataset(self, ref: str) -> dict | None:
        """The Dataset ``ref`` (an id or a name) names, or None."""
        dataset_id = self.resolve_dataset(ref)
        meta = None if dataset_id is None else self.r.hget(self.keys.dataset(dataset_id), "meta")
        return None if meta is None else json.loads(meta)

    def dataset_columns(self, dataset_id: str, indexes: list[int]) -> list[bytes] | None:
        """The bytes of the columns at ``indexes``; None if the dataset is gone."""
        blobs = self.r.hmget(self.keys.dataset(dataset_id), [f"col:{i}" for i in indexes])
        return None if any(b is None for b in blobs) else blobs

    def list_datasets(self, offset: int = 0, limit: int = 20) -> tuple[list[dict], int]:
        """Datasets newest first, and how many there are in all."""
        index = self.keys.datasets
        total = self.r.zcard(index)
        ids = self.r.zrevrange(index, offset, offset + limit - 1)
        with self.r.pipeline(transaction=False) as pipe:
            for dataset_id in ids:
                pipe.hget(self.keys.dataset(dataset_id.decode()), "meta")
            metas = pipe.execute()
        return [json.loads(m) for m in metas if m is not None], total

    def delete_dataset(self, dataset_id: str) -> dict | None:
        """Delete a dataset by id; returns it, or None if there was none. Jobs already
        submitted keep their own copy of the data, and models their feature names."""
        meta = self.get_dataset(dataset_id)
        if meta is None or meta["id"] != dataset_id:
            return None
        with self.r.pipeline(transaction=True) as pipe:
            pipe.delete(self.keys.dataset(dataset_id))
            pipe.zrem(self.keys.datasets, dataset_id)
            pipe.zrem(self.keys.dataset_name(meta["name"]), dataset_id)
            removed = pipe.execute()[0]
        return meta if removed else None
