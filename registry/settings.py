"""Every setting of nnjobs, in one table: its environment variable, type, default, bounds
and meaning, for the API, the worker, ``gunicorn.conf.py`` and ``scripts/run.py``.

Each program reads the settings it uses through :func:`read` (or one through :func:`get`)
at start, so a bad value stops it there, with the variable named, rather than on the
first request or job. The configuration reference, ``docs/configuration.md``, is written
from this table by :mod:`registry.settings_reference` (``make docs``, or ``python -m
registry.settings --markdown``), and a test fails when the two differ.

Standard library only: gunicorn's configuration file and ``make run`` read it too. The
defaults of nn's limits are nn's own, looked up only when one of them is read.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping

from .setting import (
    API,
    GUNICORN,
    LOG_FORMATS,
    LOG_LEVELS,
    RUN,
    WORKER,
    LimitDefault,
    Section,
    Setting,
    SettingsError,
    number_text,
)

__all__ = [
    "API",
    "GUNICORN",
    "LIMIT_FIELDS",
    "LOG_FORMATS",
    "LOG_LEVELS",
    "RUN",
    "SETTINGS",
    "TABLE",
    "WORKER",
    "LimitDefault",
    "Section",
    "Setting",
    "SettingsError",
    "check",
    "get",
    "number_text",
    "read",
]

_EVERYONE = (API, WORKER, RUN)


def _server(name: str, default: int, doc: str) -> Setting:
    return Setting(name, int, default, doc, (GUNICORN,), Section.SERVER, min=1)


def _delivery(name: str, shown: str, doc: str, **more) -> Setting:
    """A duration the worker derives from the others unless it is set."""
    return Setting(
        name, float, None, doc, (WORKER,), Section.DELIVERY, positive=True, shown=shown, **more
    )


def _limit(name: str, kind: type, default: object, doc: str, **more) -> Setting:
    return Setting(name, kind, default, doc, (API,), Section.LIMITS, **{"min": 0, **more})


#: characters of the shortest API key taken: a shorter one is within reach of guessing
MIN_API_KEY_LENGTH = 16


class _Keys(Setting):
    """A comma-separated list of secrets, each at least :data:`MIN_API_KEY_LENGTH`
    characters; a refusal says which key (by position) and how long it is, never the key."""

    def parse(self, raw: object, given_as: str | None = None) -> object:
        value = super().parse(raw, given_as)
        keys = [key.strip() for key in str(value).split(",") if key.strip()]
        for position, key in enumerate(keys, 1):
            if len(key) < MIN_API_KEY_LENGTH:
                raise SettingsError(
                    f"{given_as or self.name}: every key must be at least "
                    f"{MIN_API_KEY_LENGTH} characters; key {position} of {len(keys)} has "
                    f"{len(key)}"
                )
        return value


def _run(name: str, default: float, doc: str) -> Setting:
    return Setting(name, float, default, doc, (RUN,), Section.RUN, positive=True)


#: every setting, grouped by section
TABLE: tuple[Setting, ...] = (
    Setting(
        "REDIS_URL",
        str,
        "redis://127.0.0.1:6379/0",
        "broker, job and model store; `redis://:PASSWORD@host:port/db`",
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
        1,
        "training processes per worker",
        (WORKER,),
        Section.WORKER,
        min=1,
    ),
    Setting(
        "NNJOBS_BLAS_THREADS",
        int,
        None,
        "BLAS threads per training process",
        (WORKER,),
        Section.WORKER,
        min=1,
        shown="cores / concurrency",
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
    _limit("NNJOBS_MAX_BODY_MB", float, 32, "request body limit (413)"),
    _limit(
        "NNJOBS_MAX_VALUES",
        int,
        5_000_000,
        "numbers in `X` (or `inputs`, or a dataset job's features)",
    ),
    _limit(
        "NNJOBS_MAX_DATASET_MB",
        float,
        32,
        "size of an uploaded CSV file (the body limit applies too) (413)",
    ),
    _limit(
        "NNJOBS_MAX_DATASET_ROWS",
        int,
        1_000_000,
        "data rows of an uploaded CSV file, or of a CSV prediction body (413)",
    ),
    _limit(
        "NNJOBS_MAX_DATASET_COLUMNS",
        int,
        10_000,
        "columns of an uploaded CSV file, or of a CSV prediction body; checked on the "
        "header, before the rows are read (413)",
    ),
    _limit(
        "NNJOBS_MAX_CELL_LENGTH",
        int,
        10_000,
        "characters in a cell (or a header name) of an uploaded CSV file, or of a CSV "
        "prediction body (413)",
    ),
    _limit(
        "NNJOBS_MAX_LABEL_LENGTH",
        int,
        1_000,
        "characters in a class label: a string in `y`, or a cell of a dataset's text target (413)",
    ),
    _limit("NNJOBS_MAX_UNITS", int, LimitDefault("max_units"), "units per hidden layer"),
    _limit("NNJOBS_MAX_LAYERS", int, LimitDefault("max_layers"), "hidden layers"),
    _limit("NNJOBS_MAX_EPOCHS", int, LimitDefault("max_epochs"), "training epochs"),
    _limit("NNJOBS_MAX_BATCH_SIZE", int, LimitDefault("max_batch_size"), "rows per training batch"),
    _limit(
        "NNJOBS_MAX_CLASSES",
        int,
        LimitDefault("max_classes"),
        "distinct class labels, or columns of a target matrix (multi-label or regression)",
    ),
    _limit(
        "NNJOBS_MAX_COMPUTE",
        float,
        LimitDefault("max_compute"),
        "compute budget: (training rows + validation rows / 3) x epochs x weights, a "
        "validation row being a forward pass only (the default admits 20,000 rows x 20 "
        "features, hidden (128, 128), 500 epochs); over it, 413",
    ),
    _limit(
        "NNJOBS_MAX_PARAMETERS",
        int,
        LimitDefault("max_parameters"),
        "weights and biases of a network, 4 bytes each when stored and about 25 while "
        "training: the default keeps a model under 80 MB, far below Redis's 512 MB value "
        "limit, and a worker training it near 0.5 GB at the default batch size; over it, 413",
    ),
    _limit(
        "NNJOBS_MAX_STEPS",
        int,
        LimitDefault("max_steps"),
        "optimizer steps of a job, epochs x batches an epoch, each about 0.1 ms of Python "
        "however small its batch, so the default is minutes of that alone (it admits 20,000 "
        "rows in batches of 32 for 500 epochs); over it, 413",
    ),
    _limit(
        "NNJOBS_MAX_SWEEP_JOBS",
        int,
        64,
        "jobs one sweep may queue (the number of combinations of its `vary` lists); over it, 413",
    ),
    _limit(
        "NNJOBS_MODEL_CACHE",
        int,
        32,
        "loaded models kept per API process (least recently used go first)",
    ),
    _limit(
        "NNJOBS_MODEL_CACHE_MB",
        float,
        512,
        "MiB of loaded models kept per API process, besides their number: the least recently "
        "used go first until both hold; a larger model is served without being kept",
    ),
    _limit(
        "NNJOBS_MAX_ANSWER_VALUES",
        int,
        1_000_000,
        "values in one prediction's answer: rows x the model's outputs (one per class for "
        "softmax, per label, per target; one for two classes), checked before predicting; "
        "over it, 413",
    ),
    _limit(
        "NNJOBS_REQUEST_DEADLINE",
        float,
        20,
        "seconds a prediction or a CSV upload may take from its arrival, checked between "
        "chunks of rows; over it, 503 with `Retry-After`, nothing stored (below "
        "`NNJOBS_API_TIMEOUT`, so that a request is answered before its process is replaced)",
        min=None,
        positive=True,
    ),
    _limit(
        "NNJOBS_METRICS_MAX_MODELS",
        int,
        100,
        "model names with series of their own in `/metrics`, per API process; predictions "
        'by any other name are counted under `model="(other)"`',
    ),
    _limit("NNJOBS_READY_TIMEOUT", float, 0.5, "seconds `/readyz` waits for workers to answer"),
    _Keys(
        "API_KEYS",
        str,
        "",
        "comma-separated API keys, each of at least 16 characters (a shorter one stops "
        "the API at start); when set, every endpoint but `/healthz`, `/openapi.json`, "
        "`/docs` and the playground page (`/`, `/playground/*`) needs "
        "`Authorization: Bearer <key>` (else 401)",
        (API,),
        Section.LIMITS,
        shown="empty (no key needed)",
    ),
    _limit(
        "NNJOBS_METRICS_PUBLIC",
        bool,
        False,
        "with `API_KEYS` set, serve `/metrics` without a key",
        min=None,
    ),
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

SETTINGS: dict[str, Setting] = {setting.name: setting for setting in TABLE}

#: setting -> the nn.Limits field it sets
LIMIT_FIELDS: dict[str, str] = {
    s.name: s.default.field for s in TABLE if isinstance(s.default, LimitDefault)
}


def _given(setting: Setting, environ: Mapping) -> tuple[str, object] | None:
    """(variable, raw value) as set in ``environ``, under the name or a former one; a
    blank value counts as not set."""
    for name in (setting.name, *setting.aliases):
        raw = environ.get(name)
        if raw is not None and not (isinstance(raw, str) and not raw.strip()):
            return name, raw
    return None


def _selected(names: str | Iterable[str] | None) -> list[Setting]:
    """The settings one reader uses (``names`` one of API, WORKER, GUNICORN, RUN), or the
    ones named, or all."""
    if names is None:
        return list(TABLE)
    if isinstance(names, str):
        return [s for s in TABLE if names in s.readers]
    return [SETTINGS[name] for name in names]


def read(
    names: str | Iterable[str] | None = None,
    environ: Mapping | None = None,
    defaults: Mapping[str, object] | None = None,
) -> dict[str, object]:
    """The settings of one reader (API, WORKER, GUNICORN or RUN), or those named, or all,
    from ``environ`` (``os.environ`` by default), converted and checked.

    An unset variable takes its value from ``defaults`` when it is there (a default known
    only where it is read, such as a path in the checkout), else from the table. Raises
    SettingsError naming the first bad variable.
    """
    environ = os.environ if environ is None else environ
    defaults = defaults or {}
    reader = names if isinstance(names, str) else None
    out = {}
    for setting in _selected(names):
        given = _given(setting, environ)
        if given is not None:
            out[setting.name] = setting.parse(given[1], given[0])
        elif setting.name in defaults:
            out[setting.name] = defaults[setting.name]
        else:
            out[setting.name] = setting.default_value(reader)
    return out


def get(name: str, environ: Mapping | None = None, default: object = ...) -> object:
    """One setting, as :func:`read` gives it; ``default``, when given, instead of the
    table's when the variable is not set."""
    return read([name], environ, {} if default is ... else {name: default})[name]


def check(names: str | Iterable[str] | None = None, environ: Mapping | None = None) -> None:
    """SettingsError, naming the variable, for the first bad value set among the settings
    selected as by :func:`read`; defaults are not looked up (nn's would load NumPy)."""
    environ = os.environ if environ is None else environ
    for setting in _selected(names):
        given = _given(setting, environ)
        if given is not None:
            setting.parse(given[1], given[0])


if __name__ == "__main__":
    if sys.argv[1:] != ["--markdown"]:
        sys.exit("usage: python -m registry.settings --markdown > docs/configuration.md")
    from registry.settings_reference import markdown

    sys.stdout.write(markdown())
