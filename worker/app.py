"""The Celery app of the worker.

Run with ``celery -A worker.app:app worker --queues nnjobs``. Configuration comes from
the environment: ``REDIS_URL``, ``NNJOBS_QUEUE``, ``NNJOBS_KEY_PREFIX``,
``NNJOBS_WORKER_CONCURRENCY`` (training processes, default 1) and
``NNJOBS_BLAS_THREADS`` (threads per process; default: cores / concurrency).
"""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import celeryd_init, worker_process_init

import nn
from registry.queue import celery_config
from registry.store import Registry
from registry.tasks import TRAIN_TASK

from .tasks import run_job

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def blas_threads_for(concurrency: int) -> int:
    """BLAS threads per training process so that processes x threads <= cores."""
    configured = os.environ.get("NNJOBS_BLAS_THREADS")
    if configured:
        return max(1, int(configured))
    return max(1, (os.cpu_count() or 1) // max(1, concurrency))


def create_worker_app(
    redis_url: str | None = None, queue: str | None = None, key_prefix: str | None = None
) -> Celery:
    """A Celery app with the training task, bound to one Redis and one registry prefix."""
    redis_url = redis_url or os.environ.get("REDIS_URL", DEFAULT_REDIS_URL)
    key_prefix = key_prefix or os.environ.get("NNJOBS_KEY_PREFIX", "nnjobs")
    app = Celery("nnjobs-worker", set_as_current=False)
    app.conf.update(celery_config(redis_url, queue))
    app.conf.worker_concurrency = int(os.environ.get("NNJOBS_WORKER_CONCURRENCY", 1))
    registries: dict[int, Registry] = {}

    def registry() -> Registry:
        # one client per process: a forked child must not share its parent's sockets
        pid = os.getpid()
        if pid not in registries:
            registries[pid] = Registry.from_url(redis_url, key_prefix)
        return registries[pid]

    # shared=False: the task belongs to this app only (it closes over this app's registry)
    @app.task(name=TRAIN_TASK, bind=True, ignore_result=True, shared=False)
    def train(self, job_id: str) -> str:
        """Train one job, by id."""
        return run_job(registry(), job_id, worker=self.request.hostname or "")

    app.nnjobs_registry = registry
    return app


app = create_worker_app()
_concurrency = {"n": app.conf.worker_concurrency}


@celeryd_init.connect
def _remember_concurrency(sender=None, conf=None, options=None, **kwargs):
    if options and options.get("concurrency"):
        _concurrency["n"] = int(options["concurrency"])
    nn.set_blas_threads(blas_threads_for(_concurrency["n"]))


@worker_process_init.connect
def _pin_blas_threads(**kwargs):
    nn.set_blas_threads(blas_threads_for(_concurrency["n"]))
