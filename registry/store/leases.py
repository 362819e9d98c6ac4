"""Leases and attempts: a worker claims a queued job, holds it by reporting progress, and
loses it when its lease runs out, for lease recovery to requeue or reclaim."""

from __future__ import annotations

import json
import time

from . import records
from .jobs import DEFAULT_LEASE, DEFAULT_MAX_ATTEMPTS, RESEND_BATCH, Jobs, _attempt
from .records import now_iso


class Leases(Jobs):
    """The attempts of running jobs, each holding its job by a lease."""

    def _lease_script(self, name: str, job_id: str, max_attempts: int, why: str, **args):
        """Run ``start`` or ``reclaim``, which fail a job whose attempts are used up."""
        message = f"gave up after {max_attempts} attempts: {why}"
        error = {"type": "AttemptsExhausted", "message": message}
        return self.scripts.run(
            name,
            keys=self._script_keys(job_id, ("queued", "running", "failed")),
            args={
                "job_id": job_id,
                **args,
                "ttl": self.job_ttl,
                "max_attempts": max_attempts,
                "error": records.JOB_FIELDS["error"].encode(error),
                "finished_at": now_iso(),
            },
        )

    def claim_job(
        self,
        job_id: str,
        worker: str = "",
        lease: float = DEFAULT_LEASE,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        host: str = "",
        pid: int | None = None,
    ) -> tuple[str, float]:
        """Start an attempt at a job, atomically; returns (outcome, value). ``worker`` (the
        worker's node name) and ``host`` go into the job's ``attempt_log``, and ``pid``
        (the process that trains) into its stored form, which
        :meth:`~registry.store.jobs.Jobs.fail_job_of_process` matches.

        - ``("started", attempt)``: the job was queued, or running under an expired lease
          (the worker of the previous attempt is presumed dead); it now runs as ``attempt``
          and holds a lease of ``lease`` seconds.
        - ``("busy", seconds)``: another attempt holds a live lease for that long yet; the
          caller must neither run the job nor forget it (try again once the lease ends).
        - ``("exhausted", attempts)``: ``max_attempts`` attempts were started and none
          finished; the job is now failed, saying so.
        - ``(status, 0)``: the job had ended (succeeded, failed, cancelled) or is unknown
          (``"unknown"``).
        """
        why = (
            "each one ended without a result (the worker process training it died or "
            "stopped responding)"
        )
        result = self._lease_script(
            "start",
            job_id,
            max_attempts,
            why,
            worker=worker,
            host=host,
            pid="" if pid is None else pid,
            started_at=now_iso(),
            lease=lease,
        )
        if not result:
            return "unknown", 0
        return result[0].decode(), float(result[1])

    def start_job(self, job_id: str, worker: str = "", lease: float = DEFAULT_LEASE) -> dict | None:
        """Move a queued job (or a running one whose lease ran out) to running; None if it
        cannot start now (unknown, ended, or held by a live attempt)."""
        outcome, _ = self.claim_job(job_id, worker, lease)
        return self.get_job(job_id) if outcome == "started" else None

    def running_job_ids(self) -> list[str]:
        return [i.decode() for i in self.r.zrange(self.keys.jobs("running"), 0, -1)]

    def stale_queued_ids(
        self, older_than: float, offset: int = 0, batch: int = RESEND_BATCH
    ) -> tuple[list[str], int]:
        """Of the ``batch`` oldest queued jobs from ``offset`` on, those whose last message
        was sent more than ``older_than`` seconds ago and that are still queued (claimed:
        the caller must send each one a new message); and the offset to look from next
        (0 once the end is reached). A call costs two round trips whatever the backlog."""
        cutoff = int((time.time() - older_than) * 1000)
        ids = self.r.zrangebyscore(self.keys.jobs("queued"), 0, cutoff, start=offset, num=batch)
        args = {"older_than_ms": int(older_than * 1000)}
        with self.r.pipeline(transaction=False) as pipe:
            for raw in ids:
                keys = {"job": self.keys.job(raw.decode())}
                self.scripts.run("resend", keys=keys, args=args, client=pipe)
            claims = pipe.execute()
        claimed = [raw.decode() for raw, claim in zip(ids, claims, strict=True) if claim]
        return claimed, offset + len(ids) if len(ids) == batch else 0

    def reclaim_job(
        self, job_id: str, max_attempts: int = DEFAULT_MAX_ATTEMPTS, requeue: bool = False
    ) -> str:
        """For the sweeper: what to do with a running job whose lease may have expired.

        Returns ``"live"`` (its lease holds), ``"gone"`` (no longer running), ``"failed"``
        (expired with its attempts used up: now failed), else ``"expired"``, or with
        ``requeue`` ``"requeued"`` (moved back to queued, for a new message to start it).
        """
        why = (
            "the worker training it stopped reporting each time (it died or was cut off from Redis)"
        )
        mode = "requeue" if requeue else "check"
        return self._lease_script("reclaim", job_id, max_attempts, why, mode=mode).decode()

    def report_progress(
        self,
        job_id: str,
        progress: dict,
        epochs: list[dict] = (),
        first: int = 0,
        attempt: int | None = None,
        lease: float = DEFAULT_LEASE,
        warnings: list | None = None,
    ) -> bool:
        """Record progress (and, when given, the warnings) of a running job, append its
        ``epochs`` (rows of :func:`records.epoch_row`, the first of them the job's epoch
        ``first + 1``; those already stored are skipped) and extend its lease by ``lease``
        seconds; False once it no longer runs (or, given ``attempt``, once another attempt
        took it over). A write sends only the epochs given, never the history before."""
        fields = {"progress": progress}
        if warnings is not None:
            fields["warnings"] = warnings
        args = {
            "fields": records.encode_flat(fields),
            "attempt": _attempt(attempt),
            "lease": lease,
            "first": first,
            # JSON has no raw newline: one row a line
            "rows": "\n".join(json.dumps(row) for row in epochs),
        }
        keys = {"job": self.keys.job(job_id), "epochs": self.keys.epochs(job_id)}
        return bool(self.scripts.run("progress", keys=keys, args=args))
