"""The training task's body: fetch the job, train with nn, write the results.

Kept free of Celery so it can be read (and called) as a plain function: the task in
:mod:`worker.app` only passes the job id through, retries when told to, and names the
exception its soft time limit raises.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from dataclasses import dataclass

import nn
from registry.store import DEFAULT_LEASE, DEFAULT_MAX_ATTEMPTS, Registry

log = logging.getLogger("nnjobs.worker")

#: seconds between progress writes to the job record (each one also extends the lease)
PROGRESS_INTERVAL = 0.5

#: Fault injection for the recovery tests only: a job whose name equals this variable's
#: value kills the process training it (SIGKILL) as soon as its attempt starts, as a job
#: that crashes its worker would. Unset (the default) it does nothing.
CRASH_HOOK = "NNJOBS_TEST_CRASH_ON"


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
    """nn.fit callback: writes progress and history to the job record, throttled, extending
    the attempt's lease with each write, and stops training when the record says the job
    no longer runs under this attempt (cancellation, or a takeover)."""

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
        self.progress: dict | None = None
        self.last_write = 0.0

    def __call__(self, event: dict) -> None:
        if event["event"] == "epoch":
            row = {"loss": event["loss"], "val_loss": event["val_loss"], **event["metrics"]}
            for key, value in row.items():
                if value is not None:
                    self.history.setdefault(key, []).append(value)
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
            if not self.registry.report_progress(
                self.job_id, progress, self.history, self.attempt, self.lease
            ):
                raise JobStopped


def _crash_if_asked(job: dict) -> None:
    target = os.environ.get(CRASH_HOOK)
    if target and job.get("name") == target:
        log.warning("job %s: %s names it, killing this process", job["id"], CRASH_HOOK)
        os.kill(os.getpid(), signal.SIGKILL)


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
        log.info("job %s is held by a live attempt: retrying in %.1f s", job_id, value)
        return Retry(countdown=value)
    if outcome == "exhausted":
        log.warning("job %s failed: %d attempts started, none finished", job_id, int(value))
        return "failed"
    if outcome != "started":
        log.info("job %s is %s: skipped", job_id, outcome)
        return "skipped"
    attempt = int(value)
    job = registry.get_job(job_id)
    _crash_if_asked(job)
    data = registry.load_data(job_id)
    if data is None:
        registry.fail_job(job_id, "DataMissing", "the job's training data is gone", attempt)
        return "failed"
    X, y = data
    reporter = Reporter(registry, job_id, attempt=attempt, lease=policy.lease)
    started = time.perf_counter()
    try:
        # the API checked the spec under its own configured limits
        model, history = nn.fit(job["spec"], X, y, reporter, limits=nn.Limits.unbounded())
    except JobStopped:
        log.info("job %s stopped: %s", job_id, registry.job_status(job_id))
        return "stopped"
    except timeouts:
        limit = f" of {policy.soft_time_limit:g} s" if policy.soft_time_limit else ""
        message = f"training ran over its time limit{limit} and was stopped"
        registry.fail_job(job_id, "Timeout", message, attempt)
        return "failed"
    except (nn.SpecError, nn.TrainingError) as e:
        registry.fail_job(job_id, type(e).__name__, str(e), attempt)
        return "failed"
    except Exception as e:  # an unexpected bug must still end the job, not leave it running
        log.exception("job %s failed", job_id)
        registry.fail_job(job_id, type(e).__name__, str(e) or type(e).__name__, attempt)
        return "failed"
    meta = {
        **model.describe(),
        "history": history.as_dict(),
        "training_seconds": round(time.perf_counter() - started, 6),
    }
    stored = registry.succeed_job(
        job_id, model.to_bytes(), meta, reporter.progress, attempt=attempt
    )
    return "succeeded" if stored else "stopped"
