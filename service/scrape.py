"""``GET /metrics``: the figures in Prometheus's text format, those of this API process
(:mod:`service.metrics`) and those of the whole deployment, read from Redis when scraped
(see :mod:`service.metrics` for which is which)."""

from __future__ import annotations

import logging
import os

from flask import Blueprint, Flask, Response, current_app
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)

from domain.errors import UNAVAILABLE
from registry import JOB_STATUSES

log = logging.getLogger(__name__)

blp = Blueprint("metrics", __name__)


class StoreCollector:
    """The deployment's figures, read from Redis when scraped."""

    def __init__(self, app: Flask):
        self.app = app

    def collect(self):
        svc = self.app.extensions["nnjobs"]
        up = GaugeMetricFamily("nnjobs_redis_up", "1 if Redis answered this scrape, else 0.")
        broker = self.app.extensions.get("nnjobs.broker_redis")
        try:
            stats = svc.registry.stats(None if broker else svc.queue)
            if broker is not None:
                stats["queue_length"] = int(broker.llen(svc.queue))
        except UNAVAILABLE as e:
            log.warning("metrics: Redis unavailable: %s", e)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield CounterMetricFamily(
            "nnjobs_jobs_submitted", "Jobs accepted and queued.", value=stats["submitted"]
        )
        ended = CounterMetricFamily(
            "nnjobs_jobs_ended", "Jobs ended, by status.", labels=["status"]
        )
        for status, count in stats["ended"].items():
            ended.add_metric([status], count)
        yield ended
        training = HistogramMetricFamily(
            "nnjobs_training_duration_seconds",
            "Training time of the attempt that ended a job (start to end), by the status it "
            "ended with; jobs that ended without running are not counted.",
            labels=["status"],
        )
        for status, hist in stats["training"].items():
            buckets = [(_bound(le), count) for le, count in hist["buckets"]]
            training.add_metric([status], buckets, hist["sum"])
        yield training
        nodes = CounterMetricFamily(
            "nnjobs_attempts_ended",
            "Training attempts ended, by the worker node that ran them and how they ended "
            "(succeeded, failed, cancelled, lease_expired).",
            labels=["node", "outcome"],
        )
        for (node, outcome), count in sorted(stats["nodes"].items()):
            nodes.add_metric([node, outcome], count)
        yield nodes
        jobs = GaugeMetricFamily("nnjobs_jobs", "Jobs now in each status.", labels=["status"])
        for status in JOB_STATUSES:
            jobs.add_metric([status], stats["jobs"][status])
        yield jobs
        queue = GaugeMetricFamily(
            "nnjobs_queue_length",
            "Training messages waiting in the Celery queue (not yet taken by a worker).",
            labels=["queue"],
        )
        queue.add_metric([svc.queue], stats["queue_length"])
        yield queue


def _bound(value: float) -> str:
    return "+Inf" if value == float("inf") else repr(value)


def _scrape_registry(app: Flask) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(REGISTRY)
    registry.register(StoreCollector(app))
    return registry


@blp.get("/metrics")
def metrics():
    """The service's metrics in Prometheus's text format."""
    body = generate_latest(_scrape_registry(current_app))
    return Response(body, content_type=CONTENT_TYPE_LATEST)
