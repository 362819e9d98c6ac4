"""``GET /metrics``: Prometheus's text format, and the per-request figures and log line.

Two kinds of figures:

- those of this API process (requests, predictions), kept by ``prometheus_client``;
  under gunicorn, ``PROMETHEUS_MULTIPROC_DIR`` names a directory where every worker
  process writes its own, and a scrape sums them all (``gunicorn.conf.py`` sets it up);
  without it (a test client, one process) the ordinary in-memory registry serves;
- those of the whole deployment (jobs submitted, ended, training durations, queue depth,
  jobs by status), which the worker and the API write to Redis as jobs change status
  (``registry.store``) and which are read from there at scrape time, in one round trip:
  nothing assumes the API and the workers share a machine. Every API replica reports the
  same values for these, so aggregate them with ``max``, not ``sum``.

Predictions are labelled by model *name*, not id: every training makes a new id, so ids
would grow the series without bound, while names are few and chosen.
"""

from __future__ import annotations

import logging
import os
import time

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)

from registry.store import JOB_STATUSES

from .errors import UNAVAILABLE

log = logging.getLogger(__name__)
access_log = logging.getLogger("nnjobs.access")

blp = Blueprint("metrics", __name__)

# the *_created series (one more per series) exist in a single process only: without them
# a test client and gunicorn expose the same families
disable_created_metrics()

#: the route label of a request that matched no route (404, 405)
UNMATCHED = "unmatched"

HTTP_REQUESTS = Counter(
    "nnjobs_http_requests",
    "HTTP requests answered, by method, route (the URL rule, not the path) and status.",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "nnjobs_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
PREDICTIONS = Counter(
    "nnjobs_predictions", "Predictions served (requests answered 200), by model name.", ["model"]
)
PREDICTION_ROWS = Counter(
    "nnjobs_prediction_rows", "Input rows predicted, by model name.", ["model"]
)
PREDICTION_DURATION = Histogram(
    "nnjobs_prediction_duration_seconds",
    "Time to load (from cache or Redis) and run a model on a request's inputs, by model name.",
    ["model"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)


#: the method label of a request whose method is none of these: clients choose methods,
#: and each label value would be a series of its own
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"

# The labelled series of each label set, looked up once: prometheus_client's ``labels()``
# takes a lock and builds a key on every call, which on a one-row prediction costs as
# much as the model. Label sets are few (routes, methods, statuses, model names); should a
# map ever grow large it is emptied and refilled.
_SERIES_KEPT = 4096
_request_series: dict[tuple, tuple] = {}
_prediction_series: dict[str, tuple] = {}


def _kept(series: dict, key, make):
    found = series.get(key)
    if found is None:
        if len(series) >= _SERIES_KEPT:
            series.clear()
        found = series[key] = make()
    return found


def observe_prediction(model: str, rows: int, seconds: float) -> None:
    count, row_count, duration = _kept(
        _prediction_series,
        model,
        lambda: (
            PREDICTIONS.labels(model),
            PREDICTION_ROWS.labels(model),
            PREDICTION_DURATION.labels(model),
        ),
    )
    count.inc()
    row_count.inc(rows)
    duration.observe(seconds)


def annotate_access(**fields) -> bool:
    """Add ``fields`` to this request's access line; False when there is no access line
    (the caller then logs the event on a line of its own). One line per request, not two:
    on the prediction path a log line costs more than all the metrics together."""
    if not current_app.config["NNJOBS_ACCESS_LOG"]:
        return False
    g.nnjobs_access_fields = fields
    return True


class StoreCollector:
    """The deployment's figures, read from Redis when scraped."""

    def __init__(self, app: Flask):
        self.app = app

    def collect(self):
        svc = self.app.extensions["nnjobs"]
        up = GaugeMetricFamily("nnjobs_redis_up", "1 if Redis answered this scrape, else 0.")
        try:
            stats = svc.registry.stats(svc.queue)
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


#: where :class:`_Timed` puts the time a request arrived, in its WSGI environ
STARTED = "nnjobs.started"


class _Timed:
    """WSGI middleware stamping each request's arrival in its environ, before Flask does
    anything with it (cheaper than a ``before_request`` hook, and it times more)."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        environ[STARTED] = time.perf_counter()
        return self.wsgi_app(environ, start_response)


def _record(response: Response) -> Response:
    # the objects behind the proxies, looked up once: this runs for every request
    req = request._get_current_object()
    started = req.environ.get(STARTED)
    if started is None:
        return response
    seconds = time.perf_counter() - started
    method = req.method if req.method in METHODS else OTHER_METHOD
    route = req.url_rule.rule if req.url_rule is not None else UNMATCHED
    status = response.status_code
    count, duration = _kept(
        _request_series,
        (method, route, status),
        lambda: (
            HTTP_REQUESTS.labels(method, route, str(status)),
            HTTP_DURATION.labels(method, route),
        ),
    )
    count.inc()
    duration.observe(seconds)
    if current_app.config["NNJOBS_ACCESS_LOG"] and access_log.isEnabledFor(logging.INFO):
        fields = {
            "method": req.method,
            "route": route,
            "path": req.path,
            "status": status,
            "duration_ms": round(seconds * 1000, 3),
            "remote_addr": req.remote_addr,
            **g.pop("nnjobs_access_fields", {}),
        }
        # made and handled directly: Logger.info would also walk the stack for the
        # caller's file and line, which no access line shows
        access_log.handle(
            access_log.makeRecord(
                access_log.name,
                logging.INFO,
                __file__,
                0,
                "%s %s %s %.1fms",
                (req.method, req.path, status, seconds * 1000),
                None,
                extra=fields,
            )
        )
    return response


def init(app: Flask) -> None:
    """Time and count every request, those refused by a ``before_request`` hook included."""
    app.wsgi_app = _Timed(app.wsgi_app)
    app.after_request(_record)
    app.register_blueprint(blp)
