"""Sweeps: sets of jobs submitted together, read back with a summary of each job.

A sweep's jobs share its training data, stored once: the set of those that have not ended
(``P:sweep:<id>:users``) keeps it until the last one ends (see ``retire`` in
``lua/lib.lua``), and that ending lets the sweep expire.
"""

from __future__ import annotations

import json
import time

import numpy as np

from ..tenants import DEFAULT_TENANT
from . import records
from .base import reaches
from .jobs import Jobs
from .keys import ENDED, new_id
from .records import now_iso


class Sweeps(Jobs):
    def create_sweep(
        self,
        *,
        name: str | None,
        vary: dict,
        jobs: list[dict],
        X: np.ndarray,
        y: np.ndarray,
        w: np.ndarray | None = None,
        tenant: str = DEFAULT_TENANT,
    ) -> tuple[str, list[str]]:
        """Store a sweep of the tenant ``tenant`` and its queued jobs, all or nothing; return
        the sweep id and its job ids in the order of ``jobs``.

        ``jobs`` holds one ``{"name", "spec", "data", "vary"}`` per combination; every job
        trains on the same ``X``, ``y`` and row weights ``w`` (if any), stored once for
        them all.
        """
        sweep_id = new_id()
        new_jobs = [
            records.new_job(job["name"], job["spec"], job["data"], sweep_id=sweep_id, tenant=tenant)
            for job in jobs
        ]
        job_ids = [record["id"] for record in new_jobs]
        created_ms = int(time.time() * 1000)
        sweep = {
            "id": sweep_id,
            "name": json.dumps(name),
            "created_at": now_iso(),
            "created_ms": created_ms,
            "vary": json.dumps(vary),
            "combinations": json.dumps([job["vary"] for job in jobs]),
            "tenant": tenant,
        }
        with self.r.pipeline(transaction=True) as pipe:
            for record in new_jobs:
                self._store_job(pipe, record, None)
            self._store_data(pipe, self.keys.sweep_data(sweep_id), X, y, w)
            pipe.sadd(self.keys.sweep_users(sweep_id), *job_ids)
            pipe.hset(self.keys.sweep(sweep_id), mapping=sweep)
            pipe.rpush(self.keys.sweep_jobs(sweep_id), *job_ids)
            pipe.zadd(self.keys.sweeps, {sweep_id: created_ms})
            pipe.zadd(self.keys.owned("sweeps", tenant), {sweep_id: created_ms})
            pipe.execute()
        return sweep_id, job_ids

    def _sweep_job_ids(self, sweep_id: str) -> list[str]:
        return [i.decode() for i in self.r.lrange(self.keys.sweep_jobs(sweep_id), 0, -1)]

    def _delete_sweep_keys(self, sweep_id: str) -> None:
        owner = self.r.hget(self.keys.sweep(sweep_id), "tenant") or DEFAULT_TENANT.encode()
        with self.r.pipeline(transaction=True) as pipe:
            pipe.zrem(self.keys.owned("sweeps", owner.decode()), sweep_id)
            pipe.delete(
                self.keys.sweep(sweep_id),
                self.keys.sweep_jobs(sweep_id),
                self.keys.sweep_users(sweep_id),
                *self.keys.sweep_data(sweep_id),
            )
            pipe.zrem(self.keys.sweeps, sweep_id)
            pipe.zrem(self.keys.expiring("sweeps"), sweep_id)
            pipe.execute()

    def delete_sweep(self, sweep_id: str) -> None:
        """Remove a sweep and every one of its jobs (undoes :meth:`create_sweep`)."""
        for job_id in self._sweep_job_ids(sweep_id):
            self.delete_job(job_id)
        self._delete_sweep_keys(sweep_id)

    def remove_sweep(self, sweep_id: str) -> bool | None:
        """Remove a sweep whose jobs all ended, and its jobs (their models stay): True;
        False, leaving it as it is, while one of its jobs has not ended; None for an
        unknown sweep."""
        if not self.r.exists(self.keys.sweep(sweep_id)):
            return None
        job_ids = self._sweep_job_ids(sweep_id)
        with self.r.pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                pipe.hget(self.keys.job(job_id), "status")
            statuses = [raw.decode() for raw in pipe.execute() if raw is not None]
        if any(status not in ENDED for status in statuses):
            return False
        for job_id in job_ids:
            self.remove_job(job_id)
        self._delete_sweep_keys(sweep_id)
        return True

    def _read_sweeps(self, sweep_ids: list[str], tenant: str | None = None) -> list[dict]:
        """The sweeps with their jobs' records (no histories): one round trip for the
        sweeps, one for all their jobs; given ``tenant``, that tenant's only."""
        with self.r.pipeline(transaction=False) as pipe:
            for sweep_id in sweep_ids:
                pipe.hgetall(self.keys.sweep(sweep_id))
                pipe.lrange(self.keys.sweep_jobs(sweep_id), 0, -1)
            replies = pipe.execute()
        sweeps = []
        for raw, ids in zip(replies[::2], replies[1::2], strict=True):
            if not raw or not reaches(raw.get(b"tenant"), tenant):
                continue
            rec = {k.decode(): v.decode() for k, v in raw.items()}
            sweeps.append(
                {
                    "id": rec["id"],
                    "name": json.loads(rec["name"]),
                    "created_at": rec["created_at"],
                    "cancelled_at": rec.get("cancelled_at"),
                    "vary": json.loads(rec["vary"]),
                    "combinations": json.loads(rec["combinations"]),
                    "job_ids": [i.decode() for i in ids],
                }
            )
        with self.r.pipeline(transaction=False) as pipe:
            for sweep in sweeps:
                for job_id in sweep["job_ids"]:
                    pipe.hmget(self.keys.job(job_id), *records.SWEEP_FIELDS)
            rows = iter(pipe.execute())
        for sweep in sweeps:
            sweep["jobs"] = []
            for job_id in sweep.pop("job_ids"):
                job = records.decode(records.SWEEP_FIELDS, next(rows))
                job["id"] = job_id  # a job deleted since reads as unknown, not as None
                sweep["jobs"].append(job)
        self._fill_metrics([j for s in sweeps for j in s["jobs"]])
        return sweeps

    def _fill_metrics(self, jobs: list[dict]) -> None:
        # jobs that succeeded before their records carried metrics: read their models'
        missing = [j for j in jobs if j["status"] == "succeeded" and j["metrics"] is None]
        if not missing:
            return
        with self.r.pipeline(transaction=False) as pipe:
            for job in missing:
                pipe.hget(self.keys.model(job["model_id"] or ""), "meta")
            metas = pipe.execute()
        for job, meta in zip(missing, metas, strict=True):
            job["metrics"] = json.loads(meta).get("metrics") if meta else None

    def get_sweep(self, sweep_id: str, tenant: str | None = None) -> dict | None:
        """A sweep: ``{"id", "name", "created_at", "cancelled_at", "vary", "combinations",
        "jobs"}``, each job ``{"id", "status", "finished_at", "model_id", "data",
        "metrics"}`` (status None for a job since deleted); None for an unknown id (or,
        given ``tenant``, one of another tenant)."""
        found = self._read_sweeps([sweep_id], tenant)
        return found[0] if found else None

    def list_sweeps(
        self, offset: int = 0, limit: int = 20, tenant: str | None = None
    ) -> tuple[list[dict], int]:
        """Sweeps newest first (the tenant ``tenant``'s; None: every tenant's), as
        :meth:`get_sweep` reads them, and how many in all."""
        self.trim_expired()
        index = self.keys.sweeps
        if tenant is not None:
            raw, total = self._owned_page("sweeps", tenant, index, offset, limit)
        else:
            total = self.r.zcard(index)
            raw = self.r.zrevrange(index, offset, offset + limit - 1)
        return self._read_sweeps([i.decode() for i in raw]), total

    def cancel_sweep(self, sweep_id: str) -> int | None:
        """Cancel every job of a sweep that has not ended, as :meth:`cancel_job` does;
        return how many were cancelled (0: all had ended), None for an unknown sweep."""
        if not self.r.exists(self.keys.sweep(sweep_id)):
            return None
        cancelled = sum(self._cancel(job_id)[1] for job_id in self._sweep_job_ids(sweep_id))
        if cancelled:
            self.r.hsetnx(self.keys.sweep(sweep_id), "cancelled_at", now_iso())
        return cancelled
