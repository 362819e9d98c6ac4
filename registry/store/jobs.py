"""Jobs: their records and training data, their status changes (the attempts that hold
running jobs are in :mod:`.leases`), the figures counted as they end, and the change feed of
each job.

Every status change is one script of ``lua/`` (see :mod:`registry.store.keys` for what they
keep in step); a job that succeeds stores its model in the same step, which is why jobs
are built on :class:`~registry.store.models.Models`.
"""

from __future__ import annotations

import json
import time

import numpy as np

from ..tenants import DEFAULT_TENANT
from . import records
from .base import reaches
from .keys import ENDED, JOB_STATUSES, TRAINING_BUCKETS, bucket_field, new_id
from .models import Models
from .records import now_iso

#: seconds an attempt holds a running job without reporting progress (worker default:
#: ``NNJOBS_LEASE_SECONDS``), and attempts before a job is given up
DEFAULT_LEASE = 30.0
DEFAULT_MAX_ATTEMPTS = 3
#: queued jobs a recovery pass looks at, so that a pass costs the same whatever the backlog
RESEND_BATCH = 100


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode()


def _attempt(attempt: int | None) -> str:
    # the scripts take '' for "whichever attempt holds the job"
    return "" if attempt is None else str(attempt)


class Jobs(Models):
    def _store_job(self, pipe, record: dict, data: tuple | None) -> None:
        """Store a job's record and, unless it trains on its sweep's (``data`` None), its
        data: ``(X, y, w)``, ``w`` the rows' weights or None."""
        job_id, created_ms = record["id"], record["created_ms"]
        pipe.hset(self.keys.job(job_id), mapping=record)
        if data is not None:
            self._store_data(pipe, self.keys.job_data(job_id), *data)
        pipe.zadd(self.keys.jobs(), {job_id: created_ms})
        pipe.zadd(self.keys.jobs("queued"), {job_id: created_ms})
        pipe.zadd(self.keys.owned("jobs", record["tenant"]), {job_id: created_ms})

    @staticmethod
    def _store_data(pipe, keys: tuple[str, str, str], X, y, w) -> None:
        for key, array in zip(keys, (X, y, w), strict=True):
            if array is not None:
                pipe.set(key, records.npy(array))

    def create_job(
        self,
        *,
        name: str | None,
        spec: dict,
        data: dict,
        X: np.ndarray,
        y: np.ndarray,
        w: np.ndarray | None = None,
        tenant: str = DEFAULT_TENANT,
    ) -> dict:
        """Store a new queued job of the tenant ``tenant`` with its training data (``w``:
        the rows' weights, if any); return the Job."""
        record = records.new_job(name, spec, data, tenant=tenant)
        with self.r.pipeline(transaction=True) as pipe:
            self._store_job(pipe, record, (X, y, w))
            pipe.execute()
        return self.get_job(record["id"])

    def count_submitted(self, jobs: int = 1) -> None:
        """Count jobs as submitted (once their training messages are on their way) and,
        with ``min_replicas``, wait until that many replicas have every write so far, the
        jobs and (on the same Redis) their messages included: NotReplicated otherwise."""
        with self.r.pipeline(transaction=False) as pipe:
            pipe.incrby(self.keys.stats("submitted"), jobs)
            self._wait_replicas(pipe)
            self._check_replicated(pipe.execute())

    def stats(self, queue: str | None = None) -> dict:
        """The figures the API exposes as metrics, read in one round trip.

        ``submitted``; ``ended`` and ``jobs`` (now), by status; ``training``, by status
        ended: ``{"buckets": [(upper bound, cumulative count), ..., (inf, count)],
        "count", "sum"}``; ``nodes``: ``{(node, outcome): attempts ended}``; and
        ``queue_length``, the messages waiting in the Celery queue ``queue`` (None
        without one).
        """
        with self.r.pipeline(transaction=False) as pipe:
            # in the same round trip, before the counts it would change
            self.trim_expired(pipe=pipe)
            pipe.get(self.keys.stats("submitted"))
            pipe.hgetall(self.keys.stats("ended"))
            pipe.hgetall(self.keys.stats("nodes"))
            for status in ENDED:
                pipe.hgetall(self.keys.training(status))
            for status in JOB_STATUSES:
                pipe.zcard(self.keys.jobs(status))
            if queue:
                pipe.llen(queue)
            replies = pipe.execute()
        _trimmed, submitted, ended, nodes, *rest = replies
        training_raw, rest = rest[: len(ENDED)], rest[len(ENDED) :]
        counts, rest = rest[: len(JOB_STATUSES)], rest[len(JOB_STATUSES) :]
        ended = {k.decode(): int(v) for k, v in ended.items()}
        training = {}
        for status, raw in zip(ENDED, training_raw, strict=True):
            fields = {k.decode(): v for k, v in raw.items()}
            running_total, buckets = 0, []
            for bound in (*TRAINING_BUCKETS, float("inf")):
                running_total += int(fields.get(bucket_field(bound), 0))
                buckets.append((bound, running_total))
            training[status] = {
                "buckets": buckets,
                "count": int(fields.get("count", 0)),
                "sum": float(fields.get("sum", 0)),
            }
        return {
            "submitted": int(submitted or 0),
            "ended": {status: ended.get(status, 0) for status in ENDED},
            "training": training,
            "jobs": dict(zip(JOB_STATUSES, counts, strict=True)),
            "nodes": {tuple(k.decode().rsplit("|", 1)): int(v) for k, v in nodes.items()},
            "queue_length": int(rest[0]) if queue else None,
        }

    def delete_job(self, job_id: str) -> None:
        """Remove a job record and its data entirely (undoes :meth:`create_job`)."""
        # not MULTI: over maxmemory, Redis refuses every command queued in a transaction,
        # DEL included, and this undoes a submission that Redis was too full to queue
        owner = self.r.hget(self.keys.job(job_id), "tenant") or DEFAULT_TENANT.encode()
        with self.r.pipeline(transaction=False) as pipe:
            pipe.zrem(self.keys.owned("jobs", owner.decode()), job_id)
            pipe.delete(
                self.keys.job(job_id), self.keys.epochs(job_id), *self.keys.job_data(job_id)
            )
            for status in ("", *JOB_STATUSES):
                pipe.zrem(self.keys.jobs(status), job_id)
            pipe.zrem(self.keys.expiring("jobs"), job_id)
            pipe.execute()

    def remove_job(self, job_id: str) -> str | None:
        """Remove an ended job now (its model stays); returns its status, which is not an
        ended one when the job was left as it is, or None for an unknown job."""
        keys = {
            "job": self.keys.job(job_id),
            "epochs": self.keys.epochs(job_id),
            "expiring": self.keys.expiring("jobs"),
            "index_all": self.keys.jobs(),
        }
        keys |= {f"index_{status}": self.keys.jobs(status) for status in ENDED}
        return _text(self.scripts.run("remove", keys=keys, args={"job_id": job_id}) or None)

    def get_job(
        self,
        job_id: str,
        with_history: bool = True,
        tenant: str | None = None,
        since: int | None = None,
    ) -> dict | None:
        """The Job, or None for an unknown id (or, given ``tenant``, one of another tenant).

        Its history is assembled from the epochs stored so far; a succeeded job's is its
        model's (``{}`` once the model is deleted), which keeps the one copy. Given
        ``since``, each per-epoch series of the history holds the epochs from ``since + 1``
        on (:func:`records.epochs_after`; empty when there are none) and ``first_epoch`` says
        so; of the stored epochs only those are read, so that a follower's read costs what
        it has not seen.
        """
        if not with_history:
            *raw, owner = self.r.hmget(self.keys.job(job_id), [*records.SUMMARY_FIELDS, "tenant"])
            return records.decode_summary(raw) if reaches(owner, tenant) else None
        epochs = self.keys.epochs(job_id)
        # one transaction: a new attempt empties the epochs as it counts itself, so the
        # rows read are those of the attempt the record shows
        with self.r.pipeline(transaction=True) as pipe:
            pipe.hgetall(self.keys.job(job_id))
            pipe.lrange(epochs, since or 0, -1)
            if since:
                # the last epoch stored names the series when none is new
                pipe.lindex(epochs, -1)
            raw, rows, *last = pipe.execute()
        if not reaches(raw.get(b"tenant"), tenant):
            return None
        job = records.decode_job(raw)
        if job is None:
            return None
        # the epochs the history read still holds before those asked for
        skip = since or 0
        if job["history"]:
            pass  # a record stored whole, before the epochs were stored apart
        elif rows:
            job["history"], skip = records.history_of(rows), 0
        elif last and last[0] is not None:
            job["history"], skip = records.history_of(last), 1
        elif job["status"] == "succeeded" and job["model_id"]:
            meta = self.r.hget(self.keys.model(job["model_id"]), "meta")
            job["history"] = json.loads(meta).get("history", {}) if meta else {}
        if since is not None:
            history = records.epochs_after(job["history"], skip)
            job["history"] = {**history, "first_epoch": since + 1}
        return job

    def wait_for_change(
        self, job_id: str, seconds: float, with_history: bool = True, since: int | None = None
    ) -> dict | None:
        """The Job (its history from epoch ``since + 1``, as :meth:`get_job` reads it) as
        soon as its record changes (a status change or a progress report), else after
        ``seconds``; at once when the job has ended or is unknown.

        The subscription is confirmed before the record is read, so a change made between
        the two is not missed.
        """
        if seconds <= 0:
            return self.get_job(job_id, with_history, since=since)
        channel = self.keys.job(job_id)
        deadline = time.monotonic() + seconds
        pubsub = self.r.pubsub()
        try:
            pubsub.subscribe(channel)
            while (left := deadline - time.monotonic()) > 0:
                message = pubsub.get_message(timeout=left)
                if message is not None and message["type"] == "subscribe":
                    break
            job = self.get_job(job_id, with_history, since=since)
            if job is None or job["status"] in ENDED:
                return job
            while (left := deadline - time.monotonic()) > 0:
                message = pubsub.get_message(timeout=left)
                if message is not None and message["type"] == "message":
                    return self.get_job(job_id, with_history, since=since)
            return job
        finally:
            pubsub.close()

    def job_belongs(self, job_id: str, tenant: str | None) -> bool:
        """Whether the job ``job_id`` exists and is the tenant ``tenant``'s (None: any)."""
        status, owner = self.r.hmget(self.keys.job(job_id), "status", "tenant")
        return status is not None and reaches(owner, tenant)

    def job_status(self, job_id: str) -> str | None:
        return _text(self.r.hget(self.keys.job(job_id), "status"))

    def list_jobs(
        self,
        status: str | None = None,
        offset: int = 0,
        limit: int = 20,
        tenant: str | None = None,
    ) -> tuple[list[dict], int]:
        """Jobs newest first (the tenant ``tenant``'s; None: every tenant's), without their
        history (only their summary fields are read), and how many there are in all."""
        self.trim_expired()
        index = self.keys.jobs(status or "")
        if tenant is not None:
            ids, total = self._owned_page("jobs", tenant, index, offset, limit)
        else:
            total = self.r.zcard(index)
            ids = self.r.zrevrange(index, offset, offset + limit - 1)
        with self.r.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hmget(self.keys.job(job_id.decode()), records.SUMMARY_FIELDS)
            raws = pipe.execute()
        jobs = [records.decode_summary(raw) for raw in raws]
        return [j for j in jobs if j is not None], total

    def _sweep_of(self, job_id: str) -> str | None:
        """The sweep a job belongs to (whose data it trains on), if any."""
        return _text(self.r.hget(self.keys.job(job_id), "sweep_id"))

    def _script_keys(self, job_id: str, statuses: tuple[str, ...]) -> dict[str, str]:
        return self.keys.job_script_keys(job_id, statuses, self._sweep_of(job_id))

    def load_data(self, job_id: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None] | None:
        """The job's (X, y, w), ``w`` the rows' weights or None, or None once the job has
        ended and its data is gone (or, a sweep's job, is no longer its own)."""
        sweep_id = self._sweep_of(job_id)
        if sweep_id and not self.r.sismember(self.keys.sweep_users(sweep_id), job_id):
            return None
        *blobs, w_blob = self.r.mget(self.keys.data_of(job_id, sweep_id))
        if any(b is None for b in blobs):
            return None
        x, y = (records.from_npy(b) for b in blobs)
        return x, y, None if w_blob is None else records.from_npy(w_blob)

    def _end(
        self,
        job_id: str,
        status: str,
        fields: dict,
        attempt: int | None = None,
        process: tuple[str, int] | None = None,
    ) -> tuple[str | None, bool]:
        """End a queued or running job as ``status`` (given ``process``, a worker node and
        a pid: only a job running under an attempt of that process); (its status before,
        whether ended)."""
        node, pid = process or ("", "")
        result = self.scripts.run(
            "end_job",
            keys=self._script_keys(job_id, ("queued", "running", "failed", "cancelled")),
            args={
                "job_id": job_id,
                "status": status,
                "fields": records.encode_flat(fields),
                "attempt": _attempt(attempt),
                "node": node,
                "pid": pid,
                "ttl": self.job_ttl,
            },
        )
        if not result:
            return None, False
        return result[0].decode(), bool(result[1])

    def succeed_job(
        self,
        job_id: str,
        blob: bytes,
        meta: dict,
        progress: dict | None = None,
        attempt: int | None = None,
    ) -> dict | None:
        """Store the model of a running job and mark the job succeeded, in one step.

        ``meta`` is the Model's description (n_features, output, classes, layers, metrics,
        history, warnings, ...); ``progress`` the job's final progress; ``attempt``, when given, the
        attempt that must still hold the job. Returns the Model, or None if the job was no
        longer running (cancelled meanwhile, or taken over by another attempt), in which
        case nothing is stored. With ``min_replicas``, NotReplicated when too few replicas
        confirmed it in time (it is stored on the master all the same).
        """
        job = self.get_job(job_id, with_history=False)
        if job is None:
            return None
        model_id = new_id()
        name = job["name"]
        tenant = (self.r.hget(self.keys.job(job_id), "tenant") or DEFAULT_TENANT.encode()).decode()
        finished = now_iso()
        meta = {**meta, "id": model_id, "name": name, "job_id": job_id, "created_at": finished}
        # trained from a dataset, the model keeps the names of its columns
        for key in ("features", "target"):
            meta.setdefault(key, (job["data"] or {}).get(key))
        # the history is stored once, in the model
        job_fields = {
            "finished_at": finished,
            "warnings": meta.get("warnings", []),
            "metrics": meta.get("metrics"),
            "evaluation": meta.get("evaluation"),
            "importance": meta.get("importance"),
        }
        if meta.get("stop_reason") is not None:
            job_fields["stop_reason"] = meta["stop_reason"]
        if progress is not None:
            job_fields["progress"] = progress
        if meta.get("training_seconds") is not None:
            job_fields["training_seconds"] = meta["training_seconds"]
        keys = self.keys.job_script_keys(job_id, ("running", "succeeded"), job["sweep_id"])
        keys |= self.keys.stored_model_keys(model_id, name, tenant)
        args = {
            "job_id": job_id,
            "attempt": _attempt(attempt),
            "fields": records.encode_flat(job_fields),
            "model_id": model_id,
            "meta": json.dumps(meta),
            "blob": blob,
            "created_ms": int(time.time() * 1000),
            "changes": self.keys.model_changes,
            "ttl": self.job_ttl,
            "tenant": tenant,
        }
        with self.r.pipeline(transaction=False) as pipe:
            self.scripts.run("succeed", keys=keys, args=args, client=pipe)
            self._wait_replicas(pipe)
            (version,) = self._check_replicated(pipe.execute())
        return None if version is None else self.get_model(model_id)

    def fail_job(
        self,
        job_id: str,
        error_type: str,
        message: str,
        attempt: int | None = None,
        stop_reason: str | None = None,
    ) -> bool:
        """Mark a queued or running job failed with its error (and ``stop_reason``, e.g.
        ``diverged``); False if it had ended (or, given ``attempt``, if another attempt
        holds it)."""
        error = {"type": error_type, "message": message}
        fields = {"finished_at": now_iso(), "error": error}
        if stop_reason is not None:
            fields["stop_reason"] = stop_reason
        return self._end(job_id, "failed", fields, attempt)[1]

    def fail_job_of_process(
        self, job_id: str, node: str, pid: int, error_type: str, message: str
    ) -> bool:
        """Fail the job with its error if it runs under an attempt that process ``pid`` of
        the worker ``node`` started (the process a hard time limit killed); False
        otherwise: that process's attempt had ended (it gave its lease up, and the job was
        requeued or taken over), and the job goes on."""
        fields = {"finished_at": now_iso(), "error": {"type": error_type, "message": message}}
        return self._end(job_id, "failed", fields, process=(node, pid))[1]

    def _cancel(self, job_id: str) -> tuple[str | None, bool]:
        return self._end(
            job_id, "cancelled", {"finished_at": now_iso(), "stop_reason": "cancelled"}
        )

    def cancel_job(self, job_id: str) -> dict | None:
        """Cancel a queued or running job (a running one stops at its next check).

        Returns the job after the call, unchanged if it had already ended; None if unknown.
        """
        old, _ = self._cancel(job_id)
        return None if old is None else self.get_job(job_id)
