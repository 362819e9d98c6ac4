"""The settings of where things are and how the programs run: addresses, the API
server, the worker, delivery and recovery, logs and ``make run``."""

from __future__ import annotations

from ..setting import (
    API,
    GUNICORN,
    LOG_FORMATS,
    LOG_LEVELS,
    RUN,
    WORKER,
    Section,
    Setting,
)

_EVERYONE = (API, WORKER, RUN)


def _server(name: str, default: int, doc: str) -> Setting:
    return Setting(name, int, default, doc, (GUNICORN,), Section.SERVER, min=1)


def _delivery(name: str, shown: str, doc: str, **more) -> Setting:
    """A duration the worker derives from the others unless it is set."""
    return Setting(
        name, float, None, doc, (WORKER,), Section.DELIVERY, positive=True, shown=shown, **more
    )


def _run(name: str, default: float, doc: str) -> Setting:
    return Setting(name, float, default, doc, (RUN,), Section.RUN, positive=True)


#: the rows of these sections, in the reference's order
PLACES: tuple[Setting, ...] = (
    Setting(
        "REDIS_URL",
        str,
        "redis://127.0.0.1:6379/0",
        "broker, job and model store; `redis://:PASSWORD@host:port/db`, or the Redis "
        "Sentinels of a replicated one, `sentinel://:PASSWORD@host:26379;sentinel://host2"
        ":26379/db` (see Replication and Sentinel)",
        _EVERYONE,
        Section.ADDRESSES,
    ),
    Setting(
        "NNJOBS_KEY_PREFIX",
        str,
        "nnjobs",
        "prefix of every Redis key, for several deployments on one Redis",
        (API, WORKER),
        Section.ADDRESSES,
    ),
    Setting(
        "NNJOBS_QUEUE",
        str,
        "nnjobs",
        "the Celery queue the API sends to and the worker reads",
        _EVERYONE,
        Section.ADDRESSES,
    ),
    Setting(
        "PORT", int, 8000, "the API's port", (GUNICORN, RUN), Section.ADDRESSES, min=1, max=65535
    ),
    Setting(
        "NNJOBS_HOST",
        str,
        "0.0.0.0",
        "the API's address (`0.0.0.0`: every interface, as a container needs; `make run` "
        "serves this machine only unless told otherwise)",
        (GUNICORN, RUN),
        Section.ADDRESSES,
        reader_defaults=((RUN, "127.0.0.1"),),
    ),
    _server("WEB_CONCURRENCY", 2, "API worker processes, each with its own cache of models"),
    _server(
        "NNJOBS_API_THREADS",
        128,
        "threads per API process, each serving one request at a time (a client in a long "
        "poll holds one, asleep, for up to 20 s); started only as requests need them",
    ),
    Setting(
        "NNJOBS_MAX_WAITING",
        int,
        112,
        "requests of one API process that may wait on a job at once (`GET /jobs/<id>?wait=`); "
        "below `NNJOBS_API_THREADS`, so that waiting clients never hold every thread; "
        "beyond it, 503 with `Retry-After`",
        (API, GUNICORN),
        Section.SERVER,
        min=0,
    ),
    _server(
        "NNJOBS_API_BLAS_THREADS",
        1,
        "BLAS threads per API process: predictions are small products served by several "
        "threads and processes at once, which BLAS threads would only contend with",
    ),
    _server("NNJOBS_API_TIMEOUT", 30, "seconds a request may run before its process is replaced"),
    _server("NNJOBS_API_GRACEFUL_TIMEOUT", 30, "seconds in-flight requests get on SIGTERM"),
    Setting(
        "PROMETHEUS_MULTIPROC_DIR",
        str,
        None,
        "where every API process writes its metrics, for `/metrics` to sum them; emptied at start",
        (GUNICORN, RUN),
        Section.SERVER,
        shown="a temporary directory, removed at the end; `make run`: `.run/metrics-<port>`",
    ),
    Setting(
        "NNJOBS_WORKER_CONCURRENCY",
        int,
        None,
        "training processes per worker, each training one job at a time",
        (WORKER,),
        Section.WORKER,
        min=1,
        shown="the cores the worker may use (its CPU affinity, within its container's CPU quota)",
    ),
    Setting(
        "NNJOBS_BLAS_THREADS",
        int,
        None,
        "BLAS threads per training process; more than the cores / concurrency would spend "
        "the other processes' CPU on waiting threads",
        (WORKER,),
        Section.WORKER,
        min=1,
        shown="cores / concurrency (1 by default)",
    ),
    Setting(
        "NNJOBS_VISIBILITY_TIMEOUT",
        int,
        3600,
        "seconds before Redis hands an unacknowledged training message to another worker",
        (API, WORKER),
        Section.DELIVERY,
        min=1,
    ),
    _delivery(
        "NNJOBS_HARD_TIME_LIMIT",
        "visibility / 2 (1800)",
        "seconds a job may train before its process is killed and the job failed",
    ),
    _delivery(
        "NNJOBS_SOFT_TIME_LIMIT",
        "0.95 x hard (1710)",
        "seconds a job may train before it is stopped and failed with a timeout message",
    ),
    _delivery(
        "NNJOBS_LEASE_SECONDS",
        "min(30, visibility / 4)",
        "how long a running job stays held without a progress write before it may be taken over",
    ),
    _delivery(
        "NNJOBS_RECOVERY_INTERVAL",
        "min(10, lease)",
        "seconds between a worker's scans for expired leases and lost messages (formerly "
        "`NNJOBS_SWEEP_INTERVAL`, still read when this is not set)",
        aliases=("NNJOBS_SWEEP_INTERVAL",),
    ),
    Setting(
        "NNJOBS_MAX_ATTEMPTS",
        int,
        3,
        "attempts at a job before it is failed",
        (WORKER,),
        Section.DELIVERY,
        min=1,
    ),
    Setting(
        "NNJOBS_JOB_TTL",
        int,
        7 * 24 * 3600,
        "seconds an ended job, and a sweep whose jobs all ended, are kept before they expire "
        "(`0`: kept until removed with `DELETE ...?purge=true`); models and datasets stay "
        "until deleted",
        (API, WORKER),
        Section.DELIVERY,
        min=0,
    ),
)

OPERATIONS: tuple[Setting, ...] = (
    Setting(
        "NNJOBS_LOG_LEVEL",
        str,
        "INFO",
        "the level of the API's and the worker's logs",
        (GUNICORN, WORKER),
        Section.LOGS,
        choices=LOG_LEVELS,
        shown="`INFO`; the worker: its `--loglevel`",
    ),
    Setting(
        "NNJOBS_LOG_FORMAT",
        str,
        "json",
        "`json` (one object per line) or `text` (for reading in a terminal)",
        (GUNICORN, WORKER),
        Section.LOGS,
        choices=LOG_FORMATS,
    ),
    Setting(
        "NNJOBS_ACCESS_LOG",
        bool,
        True,
        "one log line per request, written by the API (gunicorn's own access log is off)",
        (API,),
        Section.LOGS,
    ),
    Setting(
        "NNJOBS_RUN_DIR",
        str,
        None,
        "where `make run` keeps the data of the Redis it starts, and the API's metrics",
        (RUN,),
        Section.RUN,
        shown="`.run` in the checkout",
    ),
    _run(
        "NNJOBS_REDIS_START_TIMEOUT", 20, "seconds the Redis that `make run` starts has to answer"
    ),
    _run("NNJOBS_START_TIMEOUT", 60, "seconds the API has to answer `/healthz` once started"),
    _run("NNJOBS_STOP_TIMEOUT", 30, "seconds the worker gets to finish its job on stop"),
)
