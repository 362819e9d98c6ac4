"""The training task's body: fetch the job, train with nn, write the results.

Kept free of Celery so it can be read (and called) as a plain function: the task in
:mod:`worker.app` only passes the job id through.
"""

from __future__ import annotations

import logging
import time

import nn
from registry.store import Registry

log = logging.getLogger("nnjobs.worker")

#: seconds between progress writes to the job record
PROGRESS_INTERVAL = 0.5


class JobStopped(Exception):
    """The job left the running state (cancelled) while it trained."""


class Reporter:
    """nn.fit callback: writes progress and history to the job record, throttled, and
    stops training when the record says the job no longer runs (cancellation)."""

    def __init__(self, registry: Registry, job_id: str, interval: float = PROGRESS_INTERVAL):
        self.registry, self.job_id, self.interval = registry, job_id, interval
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
            if not self.registry.report_progress(self.job_id, progress, self.history):
                raise JobStopped


def run_job(registry: Registry, job_id: str, worker: str = "") -> str:
    """Train job ``job_id`` and record the outcome; returns what happened, in one word."""
    job = registry.start_job(job_id, worker)
    if job is None:
        log.info("job %s is not queued (cancelled, ended or unknown): skipped", job_id)
        return "skipped"
    data = registry.load_data(job_id)
    if data is None:
        registry.fail_job(job_id, "DataMissing", "the job's training data is gone")
        return "failed"
    X, y = data
    reporter = Reporter(registry, job_id)
    try:
        # the API checked the spec under its own configured limits
        model, history = nn.fit(job["spec"], X, y, reporter, limits=nn.Limits.unbounded())
    except JobStopped:
        log.info("job %s stopped: %s", job_id, registry.job_status(job_id))
        return "stopped"
    except (nn.SpecError, nn.TrainingError) as e:
        registry.fail_job(job_id, type(e).__name__, str(e))
        return "failed"
    except Exception as e:  # an unexpected bug must still end the job, not leave it running
        log.exception("job %s failed", job_id)
        registry.fail_job(job_id, type(e).__name__, str(e) or type(e).__name__)
        return "failed"
    meta = {**model.describe(), "history": history.as_dict()}
    stored = registry.succeed_job(job_id, model.to_bytes(), meta, reporter.progress)
    return "succeeded" if stored else "stopped"
