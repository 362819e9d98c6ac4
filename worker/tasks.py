"""The training task's body: fetch the job, train with nn, write the results.

Kept free of Celery so it can be read (and called) as a plain function: the task in
:mod:`worker.app` only passes the job id through, retries when told to, and names the
exception its soft time limit raises.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import nn
from nn.diagnostics import find_warnings
from registry.store import DEFAULT_LEASE, DEFAULT_MAX_ATTEMPTS, Registry
from registry.store.records import add_epoch, epoch_row

log = logging.getLogger("nnjobs.worker")

#: seconds between progress writes to the job record (each one also extends the lease)
PROGRESS_INTERVAL = 0.5


class JobStopped(Exception):
    """The job left the running state (cancelled, or taken over by another attempt after
    this one lost its lease) while it trained."""


@dataclass(frozen=True)
class Attempt:
    """How an attempt holds its job: the lease it keeps extending, the attempts allowed,
    and the soft time limit (for the message when it is hit)."""

    lease: float = DEFAULT_LEASE
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    soft_time_limit: float | None = None


@dataclass(frozen=True)
class Retry:
    """Another attempt holds a live lease on the job: deliver it again after ``countdown``
    seconds, when that lease will have been extended (the job runs) or have run out (the
    attempt died and this delivery takes over)."""

    countdown: float


class Reporter:
    """nn.fit callback: writes progress and the epochs not yet stored to the job record,
    throttled, extending the attempt's lease with each write, and stops training when the
    record says the job no longer runs under this attempt (cancellation, or a takeover).

    A write sends the epochs since the last one that succeeded (``stored`` counts those
    before), so its size does not grow with the epochs run."""

    def __init__(
        self,
        registry: Registry,
        job_id: str,
        interval: float = PROGRESS_INTERVAL,
        attempt: int | None = None,
        lease: float = DEFAULT_LEASE,
    ):
        self.registry, self.job_id, self.interval = registry, job_id, interval
        self.attempt, self.lease = attempt, lease
        self.history: dict[str, list] = {}
        self.pending: list[dict] = []
        self.stored = 0
        self.progress: dict | None = None
        self.last_write = 0.0

    def __call__(self, event: dict) -> None:
        if event["event"] == "epoch":
            row = epoch_row(event)
            add_epoch(self.history, row)
            self.pending.append(row)
            self.progress = {
                k: event[k]
                for k in ("epoch", "epochs", "loss", "val_loss", "metrics", "best_epoch")
            }
        now = time.monotonic()
        if now - self.last_write >= self.interval:
            self.last_write = now
            progress = self.progress or {"epoch": 0, "epochs": event["epochs"]}
            if event["event"] == "batch":
                progress = {**progress, "batch": event["batch"], "batches": event["batches"]}
            if not self.write(progress):
                raise JobStopped

    @property
    def warnings(self) -> list[dict]:
        return find_warnings(self.history.get("diagnostics"))

    def write(self, progress: dict | None = None) -> bool:
        """Write progress, the epochs not yet stored and warnings now; False once the job
        no longer runs under this attempt."""
        written = self.registry.report_progress(
            self.job_id,
            progress or self.progress,
            self.pending,
            self.stored,
            self.attempt,
            self.lease,
            warnings=self.warnings,
        )
        if written:
            self.stored += len(self.pending)
            self.pending = []
        return written


def run_job(
    registry: Registry,
    job_id: str,
    worker: str = "",
    policy: Attempt = Attempt(),
    timeouts: tuple[type[BaseException], ...] = (),
) -> str | Retry:
    """Train job ``job_id`` and record the outcome; returns what happened, in one word, or a
    :class:`Retry` when another attempt holds the job. ``timeouts`` are the exceptions that
    mean the time budget ran out."""
    outcome, value = registry.claim_job(job_id, worker, policy.lease, policy.max_attempts)
    if outcome == "busy":
        log.info(
            "job %s is held by a live attempt: retrying in %.1f s",
            job_id,
            value,
            extra={"job_id": job_id},
        )
        return Retry(countdown=value)
    if outcome == "exhausted":
        log.warning(
            "job %s failed: %d attempts started, none finished",
            job_id,
            int(value),
            extra={"job_id": job_id},
        )
        return "failed"
    if outcome != "started":
        log.info("job %s is %s: skipped", job_id, outcome, extra={"job_id": job_id})
        return "skipped"
    attempt = int(value)
    ids = {"job_id": job_id, "attempt": attempt}
    log.info("job %s started (attempt %d)", job_id, attempt, extra=ids)
    job = registry.get_job(job_id)
    data = registry.load_data(job_id)
    if data is None:
        return _fail(registry, ids, "DataMissing", "the job's training data is gone")
    X, y = data
    reporter = Reporter(registry, job_id, attempt=attempt, lease=policy.lease)
    started = time.perf_counter()
    try:
        # the API checked the spec under its own configured limits
        model, history = nn.fit(job["spec"], X, y, reporter, limits=nn.Limits.unbounded())
    except JobStopped:
        status = registry.job_status(job_id)
        log.info("job %s stopped: %s", job_id, status, extra={**ids, "status": status})
        return "stopped"
    except timeouts:
        limit = f" of {policy.soft_time_limit:g} s" if policy.soft_time_limit else ""
        message = f"training ran over its time limit{limit} and was stopped"
        return _fail(registry, ids, "Timeout", message)
    except (nn.SpecError, nn.TrainingError) as e:
        # the epochs recorded up to a divergence, and what their diagnostics warn of,
        # are what explains it
        if reporter.progress is not None:
            reporter.write()
        diverged = "diverged" if isinstance(e, nn.TrainingError) else None
        return _fail(registry, ids, type(e).__name__, str(e), diverged)
    except Exception as e:  # an unexpected bug must still end the job, not leave it running
        log.exception("job %s failed", job_id, extra={**ids, "error_type": type(e).__name__})
        registry.fail_job(job_id, type(e).__name__, str(e) or type(e).__name__, attempt)
        return "failed"
    meta = {
        **model.describe(),
        "history": history.as_dict(),
        "warnings": history.warnings,
        "training_seconds": round(time.perf_counter() - started, 6),
        "stop_reason": history.stop_reason,
    }
    stored = registry.succeed_job(
        job_id, model.to_bytes(), meta, reporter.progress, attempt=attempt
    )
    seconds = round(meta["training_seconds"], 3)
    if not stored:
        log.info("job %s stopped before its model was stored", job_id, extra=ids)
        return "stopped"
    log.info(
        "job %s succeeded: model %s, trained in %.2f s",
        job_id,
        stored["id"],
        seconds,
        extra={
            **ids,
            "model_id": stored["id"],
            "model_name": stored["name"],
            "training_seconds": seconds,
        },
    )
    return "succeeded"


def _fail(
    registry: Registry, ids: dict, error_type: str, message: str, stop_reason: str | None = None
) -> str:
    """Fail the attempt's job with a known error, and log it (no traceback: the error is
    the job's, not the worker's)."""
    job_id = ids["job_id"]
    registry.fail_job(job_id, error_type, message, ids["attempt"], stop_reason)
    log.warning(
        "job %s failed: %s: %s",
        job_id,
        error_type,
        message,
        extra={**ids, "error_type": error_type},
    )
    return "failed"
