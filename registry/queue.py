"""Celery settings shared by the API (which sends) and the worker (which consumes), and
the delivery and recovery settings of training (``docs/guarantees.md`` explains them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from . import connections, settings
from .settings import SettingsError

_DELIVERY = [s.name for s in settings.TABLE if s.section == settings.Section.DELIVERY]


def visibility_timeout(env: Mapping[str, str] | None = None) -> int:
    """Seconds before the Redis transport hands an unacknowledged message out again."""
    return settings.get("NNJOBS_VISIBILITY_TIMEOUT", env)


def restore_interval(visibility: int) -> int:
    """Seconds between a worker's scans for unacknowledged messages past the timeout.

    kombu's default cadence (a timer every 10 s that scans on every 10th tick) would add
    up to 100 s to every recovery whatever the timeout; a scan is one small ZRANGE.
    """
    return max(1, min(10, visibility // 4))


@dataclass(frozen=True)
class Delivery:
    """How training is delivered and recovered (all seconds but ``max_attempts``)."""

    visibility_timeout: int
    soft_time_limit: float
    hard_time_limit: float
    lease: float
    recovery_interval: float
    max_attempts: int

    @property
    def restore_interval(self) -> int:
        return restore_interval(self.visibility_timeout)

    @property
    def worst_case_takeover(self) -> float:
        """Longest time a job whose worker vanished stays ``running`` while another worker
        is up: its lease runs out, then the next recovery scan re-queues or fails it."""
        return self.lease + self.recovery_interval


def delivery_settings(env: Mapping[str, str] | None = None) -> Delivery:
    """The delivery settings from the environment, checked for consistency.

    Raises SettingsError, naming the settings, when soft limit < hard limit < visibility
    timeout does not hold (a job still running at the visibility timeout would be handed
    to a second worker), or when the lease is not shorter than the visibility timeout
    (a re-delivery waits up to a lease before it may take over).
    """
    given = settings.read(_DELIVERY, env)
    visibility = given["NNJOBS_VISIBILITY_TIMEOUT"]
    hard = given["NNJOBS_HARD_TIME_LIMIT"] or visibility * 0.5
    soft = given["NNJOBS_SOFT_TIME_LIMIT"] or hard * 0.95
    lease = given["NNJOBS_LEASE_SECONDS"] or min(30.0, visibility / 4)
    recovery = given["NNJOBS_RECOVERY_INTERVAL"] or min(10.0, lease)
    attempts = given["NNJOBS_MAX_ATTEMPTS"]
    if not soft < hard < visibility:
        raise SettingsError(
            "time limits must satisfy NNJOBS_SOFT_TIME_LIMIT < NNJOBS_HARD_TIME_LIMIT < "
            f"NNJOBS_VISIBILITY_TIMEOUT, got {soft:g} < {hard:g} < {visibility}"
        )
    if not lease < visibility:
        raise SettingsError(
            f"NNJOBS_LEASE_SECONDS ({lease:g}) must be shorter than "
            f"NNJOBS_VISIBILITY_TIMEOUT ({visibility})"
        )
    return Delivery(visibility, soft, hard, lease, recovery, attempts)


def celery_config(redis_url: str, queue: str | None = None) -> dict:
    """Settings for a Celery app on the Redis broker at ``redis_url`` (a ``sentinel://``
    URL: kombu's Sentinel transport, told the master's name and the sentinels' password).

    JSON is the only serializer accepted, so a message can never carry a pickle. Results
    are not kept by Celery: the job record in the registry is the result.
    """
    queue = queue or settings.get("NNJOBS_QUEUE")
    visibility = visibility_timeout()
    return {
        "broker_url": redis_url,
        "task_serializer": "json",
        "accept_content": ["json"],
        "result_serializer": "json",
        "result_accept_content": ["json"],
        "task_ignore_result": True,
        "task_default_queue": queue,
        # at least once: a message is acknowledged only after the task returns, and one
        # whose worker process died is put back rather than acknowledged
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        # Celery's Redis notes ask for the same visibility timeout in all three places, on
        # every client of the broker (the shortest one in use wins): the API sets it too
        "broker_transport_options": {
            "visibility_timeout": visibility,
            "unacked_restore_interval": restore_interval(visibility),
            "unacked_restore_throttle": 1,
            **connections.broker_transport_options(redis_url),
        },
        "result_backend_transport_options": {"visibility_timeout": visibility},
        "visibility_timeout": visibility,
        "broker_connection_retry_on_startup": True,
        # keep reconnecting while Redis is away (a restart can take a while to load)
        "broker_connection_max_retries": None,
        "worker_send_task_events": False,
    }
