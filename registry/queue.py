"""Celery settings shared by the API (which sends) and the worker (which consumes)."""

from __future__ import annotations

import os

DEFAULT_QUEUE = "nnjobs"


def celery_config(redis_url: str, queue: str | None = None) -> dict:
    """Settings for a Celery app on the Redis broker at ``redis_url``.

    JSON is the only serializer accepted, so a message can never carry a pickle. Results
    are not kept by Celery: the job record in the registry is the result.
    """
    queue = queue or os.environ.get("NNJOBS_QUEUE", DEFAULT_QUEUE)
    visibility = int(os.environ.get("NNJOBS_VISIBILITY_TIMEOUT", 3600))
    return {
        "broker_url": redis_url,
        "task_serializer": "json",
        "accept_content": ["json"],
        "result_serializer": "json",
        "result_accept_content": ["json"],
        "task_ignore_result": True,
        "task_default_queue": queue,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        # the Redis transport re-delivers an unacknowledged message after this many seconds
        "broker_transport_options": {"visibility_timeout": visibility},
        "broker_connection_retry_on_startup": True,
        "worker_send_task_events": False,
    }
