"""The training task's body: fetch the job, train with nn, write the results.

Kept free of Celery so it can be read (and called) as a plain function: the task in
:mod:`worker.app` only passes the job id through, retries when told to, and names the
exception its soft time limit raises.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import redis.exceptions

import nn
from interop import parity
from nn.diagnostics import find_warnings
from registry.outages import transient
from registry.store import DEFAULT_LEASE, DEFAULT_MAX_ATTEMPTS, NotReplicated, Registry
from registry.store.records import add_epoch, epoch_row

log = logging.getLogger("nnjobs.worker")

#: seconds between progress writes to the job record (each one also extends the lease)
PROGRESS_INTERVAL = 0.5

#: first and longest pause (s) between tries of a write while Redis is away or in a
#: passing state (registry.outages); each pause doubles, and is drawn between half and
#: all of its length, so workers that lost Redis together do not come back together
BACKOFF_FIRST, BACKOFF_CAP = 0.1, 2.0

T = TypeVar("T")


class JobStopped(Exception):
    """The job left the running state (cancelled, or taken over by another attempt after
    this one lost its lease) while it trained."""


class LeaseLost(JobStopped):
    """Redis stayed away, or in a passing state, until this attempt's lease ran out: the
    job may be another attempt's by now (lease recovery requeues it), so this one stops."""

    def __init__(self, error: BaseException, seconds: float):
        super().__init__(f"Redis unavailable for {seconds:.1f} s ({type(error).__name__}: {error})")
        self.error, self.seconds = error, seconds


class Lease:
    """Until when (monotonic clock) an attempt holds its job: ``seconds`` after its last
    write that extended the lease, the claim counting as one."""

    def __init__(self, seconds: float, written_at: float | None = None):
        self.seconds = seconds
        self.ends = (time.monotonic() if written_at is None else written_at) + seconds

    def keep_trying(self, write: Callable[[], T], extends: bool = False) -> T:
        """``write()``, tried again with capped, jittered backoff while Redis is away or in
        a passing state, never past the lease's end (then :class:`LeaseLost`); any other
        error is raised at once. ``extends``: a write that succeeds renews the lease (from
        when it was sent, as the server may have run it at once)."""
        first = time.monotonic()
        pause = BACKOFF_FIRST
        while True:
            sent = time.monotonic()
            try:
                result = write()
            except redis.exceptions.RedisError as error:
                if not transient(error):
                    raise
                wait = pause * random.uniform(0.5, 1.0)
                away = time.monotonic() - first
                if time.monotonic() + wait >= self.ends:
                    raise LeaseLost(error, away) from error
                log.warning(
                    "Redis unavailable for %.1f s (%s: %s); trying again in %.2f s",
                    away,
                    type(error).__name__,
                    error,
                    wait,
                )
                time.sleep(wait)
                pause = min(BACKOFF_CAP, pause * 2)
                continue
            if extends and result:
                self.ends = sent + self.seconds
            return result


#: validation rows the parity certificate compares at most (``NNJOBS_PARITY_ROWS``)
DEFAULT_PARITY_ROWS = 1000


@dataclass(frozen=True)
class Attempt:
    """How an attempt holds its job: the lease it keeps extending, the attempts allowed,
    the soft time limit (for the message when it is hit), and the rows the model's parity
    certificate compares at most."""

    lease: float = DEFAULT_LEASE
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    soft_time_limit: float | None = None
    parity_rows: int = DEFAULT_PARITY_ROWS


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
        lease: Lease | None = None,
    ):
        self.registry, self.job_id, self.interval = registry, job_id, interval
        self.attempt, self.lease = attempt, lease or Lease(DEFAULT_LEASE)
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
        no longer runs under this attempt. Redis away is waited out while the lease lasts
        (:meth:`Lease.keep_trying`); a write repeated after its reply was lost stores no
        epoch twice."""
        progress, warnings, pending = progress or self.progress, self.warnings, self.pending
        written = self.lease.keep_trying(
            lambda: self.registry.report_progress(
                self.job_id,
                progress,
                pending,
                self.stored,
                self.attempt,
                self.lease.seconds,
                warnings=warnings,
            ),
            extends=True,
        )
        if written:
            self.stored += len(self.pending)
            self.pending = []
        return written


def _preparation(spec: dict) -> nn.Preparation | None:
    """The preparation that encoded a dataset job's columns (the API fitted it)."""
    fitted = (spec.get("data") or {}).get("preparation")
    return None if fitted is None else nn.Preparation.from_dict(fitted)


def run_job(
    registry: Registry,
    job_id: str,
    worker: str = "",
    policy: Attempt = Attempt(),
    timeouts: tuple[type[BaseException], ...] = (),
    host: str = "",
) -> str | Retry:
    """Train job ``job_id`` and record the outcome; returns what happened, in one word, or a
    :class:`Retry` when another attempt holds the job. ``timeouts`` are the exceptions that
    mean the time budget ran out; ``worker`` (the node name) and ``host`` are recorded in
    the job's ``attempt_log``."""
    claimed_at = time.monotonic()
    # the process too: a hard time limit kills a process, and fails the job only while
    # that process's attempt holds it (worker.app)
    outcome, value = registry.claim_job(
        job_id, worker, policy.lease, policy.max_attempts, host=host, pid=os.getpid()
    )
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
    lease = Lease(policy.lease, claimed_at)
    try:
        job = lease.keep_trying(lambda: registry.get_job(job_id))
        data = lease.keep_trying(lambda: registry.load_data(job_id))
    except LeaseLost as e:
        return _lost(ids, e)
    if data is None:
        return _fail(registry, ids, "DataMissing", "the job's training data is gone")
    X, y, w = data
    try:
        parent = _parent(registry, job["spec"], lease)
    except LeaseLost as e:
        return _lost(ids, e)
    except (LookupError, nn.ModelFormatError) as e:
        return _fail(registry, ids, "ParentMissing", str(e))
    reporter = Reporter(registry, job_id, attempt=attempt, lease=lease)
    started = time.perf_counter()
    try:
        # the API checked the spec under its own configured limits
        model, history = nn.fit(
            job["spec"],
            X,
            y,
            reporter,
            limits=nn.Limits.unbounded(),
            sample_weight=w,
            init_model=None if parent is None else parent[1],
            # its groups (a raw feature's columns) are what the importance shuffles
            preparation=_preparation(job["spec"]),
        )
    except LeaseLost as e:
        return _lost(ids, e)
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
            with contextlib.suppress(LeaseLost):
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
        "parity": _certificate(model, X, history.val_rows, policy.parity_rows, ids),
    }
    meta["parent"] = None if parent is None else parent[0]
    blob = model.to_bytes()
    try:
        limit = lease.keep_trying(lambda: _largest_value(registry))
        if len(blob) > limit:
            # sent anyway, Redis would close the connection mid-write, which looks like a
            # blip and would be tried again until the lease ran out
            message = (
                f"the model is {len(blob):,} bytes, over Redis's limit of {limit:,} bytes "
                "for one value (its proto-max-bulk-len); train a smaller network"
            )
            return _fail(registry, ids, "ModelTooLarge", message)
        stored = lease.keep_trying(
            lambda: registry.succeed_job(job_id, blob, meta, reporter.progress, attempt=attempt)
        )
    except LeaseLost as e:
        # Redis away for longer than the lease while the model was being stored, as in a
        # failover: the attempt gives the job up as it does during training, and lease
        # recovery trains it again once Redis is back (within NNJOBS_MAX_ATTEMPTS), rather
        # than failing a job that nothing was wrong with
        return _lost(ids, e)
    except NotReplicated as e:
        # stored on the master: lost with it before a replica has it, the job is found
        # running there under this attempt's lease, which runs out, and it trains again
        log.warning("job %s: model stored, but %s", job_id, e, extra=ids)
        return "succeeded"
    except redis.exceptions.ResponseError as e:
        # a refusal no retry mends, such as a value over Redis's proto-max-bulk-len
        message = f"the model ({len(blob):,} bytes) could not be stored: Redis answered: {e}"
        return _fail(registry, ids, "ModelNotStored", message)
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


def _parent(registry: Registry, spec: dict, lease: Lease) -> tuple[dict, nn.Model] | None:
    """The model a warm start continues from, and who it is (``id``, ``name``,
    ``version``), or None; LookupError when it was deleted since the job was sent."""
    init = spec.get("init")
    if not init:
        return None
    model_id = init["model"]
    blob = lease.keep_trying(lambda: registry.model_blob(model_id))
    about = lease.keep_trying(lambda: registry.get_model(model_id, with_history=False))
    if blob is None or about is None:
        raise LookupError(f"the model {model_id!r} this job continues from was deleted")
    who = {"id": model_id, "name": about["name"], "version": about["version"]}
    return who, nn.load(blob)


def _certificate(
    model: nn.Model, X: np.ndarray, val_rows: np.ndarray | None, limit: int, ids: dict
) -> dict | None:
    """The model's parity certificate on (at most ``limit`` of) its validation rows, or
    its first training rows without a validation split; None if it could not be computed,
    which is logged whole: the model is stored all the same."""
    rows, rows_from = val_rows, "validation"
    if rows is None or len(rows) == 0:
        rows, rows_from = np.arange(len(X)), "training"
    try:
        return parity.certificate(model, np.asarray(X)[rows[:limit]], rows_from)
    except Exception:
        log.exception("job %s: no parity certificate", ids["job_id"], extra=ids)
        return None


#: Redis's default proto-max-bulk-len, for a server that does not tell its own
DEFAULT_LARGEST_VALUE = 512 * 2**20


def _largest_value(registry: Registry) -> int:
    """The largest value (bytes) Redis takes in one command."""
    try:
        reply = registry.r.config_get("proto-max-bulk-len")
    except redis.exceptions.ResponseError:  # CONFIG is disabled on managed servers
        return DEFAULT_LARGEST_VALUE
    return int(reply.get(b"proto-max-bulk-len") or reply.get("proto-max-bulk-len") or 0) or (
        DEFAULT_LARGEST_VALUE
    )


def _lost(ids: dict, error: LeaseLost) -> str:
    """The attempt gave its job up (lease recovery requeues it): log it."""
    log.warning(
        "job %s: attempt %d gave up its lease: %s", ids["job_id"], ids["attempt"], error, extra=ids
    )
    return "stopped"


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
