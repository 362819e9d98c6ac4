"""The reference for ``bench/jobs.py``: a Celery app with one task that does nothing.

A round trip through it (``send_task``, then ``result.get()``, on the same Redis, with the
same prefork pool) is the least any Celery-based job service can take to run a job.
"""

from __future__ import annotations

import os

from celery import Celery

NOOP = "bench.noop"


def make_app(redis_url: str) -> Celery:
    app = Celery("bench_bare", broker=redis_url, backend=redis_url)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )
    app.task(name=NOOP)(noop)
    return app


def noop() -> None:
    """Nothing: what is measured is the trip there and back."""


app = make_app(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
