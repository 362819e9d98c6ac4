"""The API process's figures (requests, predictions) and the per-request log line, which
``GET /metrics`` (:mod:`service.scrape`) serves in Prometheus's text format.

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
would grow the series without bound. Names are chosen by clients, so they are capped too:
the first ``NNJOBS_METRICS_MAX_MODELS`` names an API process predicts with get series of
their own, and every other is counted under :data:`OTHER_MODELS`.
"""

from __future__ import annotations

import logging
import threading
import time
from bisect import bisect_left

from flask import Flask, Response, current_app, g, request
from prometheus_client import Counter, Histogram, disable_created_metrics

access_log = logging.getLogger("nnjobs.access")

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


def _adder(counter):
    """The cheapest call adding to a labelled counter's series: its stored value's own
    ``inc``. The counter's checks (label values given, amount not negative) hold here by
    construction, and they cost a quarter of each addition."""
    value = getattr(counter, "_value", None)
    return value.inc if callable(getattr(value, "inc", None)) else counter.inc


class _Observer:
    """A labelled histogram's ``observe`` without its per-call checks and bucket loop:
    the sum and the first bucket whose bound holds the amount (a bisection), as
    prometheus_client itself adds them."""

    __slots__ = ("bounds", "buckets", "total")

    def __init__(self, bounds: list, buckets: list, total):
        self.bounds, self.buckets, self.total = bounds, [b.inc for b in buckets], total.inc

    def __call__(self, amount: float) -> None:
        self.total(amount)
        # the last bound is +Inf, so a finite amount always finds its bucket
        self.buckets[bisect_left(self.bounds, amount)](1)


def _observer(histogram):
    try:
        bounds, buckets, total = histogram._upper_bounds, histogram._buckets, histogram._sum
    except AttributeError:  # pragma: no cover - a prometheus_client laid out otherwise
        return histogram.observe
    if len(bounds) != len(buckets) or bounds[-1] != float("inf"):  # pragma: no cover
        return histogram.observe
    return _Observer(list(bounds), buckets, total)


def _kept(series: dict, key, make):
    found = series.get(key)
    if found is None:
        if len(series) >= _SERIES_KEPT:
            series.clear()
        found = series[key] = make()
    return found


#: the model label of the names beyond the cap (in parentheses: no model's name)
OTHER_MODELS = "(other)"


class ModelLabels:
    """The model names with series of their own in one process: the first ``cap`` seen."""

    def __init__(self, cap: int):
        self.cap = cap
        self._named: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, name: str) -> str:
        if name in self._named:
            return name
        with self._lock:
            if len(self._named) < self.cap:
                self._named.add(name)
                return name
        return OTHER_MODELS


def observe_prediction(name: str, rows: int, seconds: float, app: Flask | None = None) -> None:
    """Count a prediction of ``rows`` rows by the model ``name`` that took ``seconds``
    (``app``: the running app, when the caller has it at hand)."""
    model = (app or current_app).extensions["nnjobs.model_labels"](name)
    count, row_count, duration = _kept(
        _prediction_series,
        model,
        lambda: (
            _adder(PREDICTIONS.labels(model)),
            _adder(PREDICTION_ROWS.labels(model)),
            _observer(PREDICTION_DURATION.labels(model)),
        ),
    )
    count(1)
    row_count(rows)
    duration(seconds)


def annotate_access(app: Flask | None = None, /, **fields) -> bool:
    """Add ``fields`` to this request's access line; False when there is no access line
    (the caller then logs the event on a line of its own). One line per request, not two:
    on the prediction path a log line costs more than all the metrics together. ``app``:
    the running app, when the caller has it at hand."""
    if not (app or current_app).config["NNJOBS_ACCESS_LOG"]:
        return False
    g.nnjobs_access_fields = fields
    return True


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
            _adder(HTTP_REQUESTS.labels(method, route, str(status))),
            _observer(HTTP_DURATION.labels(method, route)),
        ),
    )
    count(1)
    duration(seconds)
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
    app.extensions["nnjobs.model_labels"] = ModelLabels(app.config["NNJOBS_METRICS_MAX_MODELS"])
