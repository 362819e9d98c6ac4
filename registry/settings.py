"""Every setting of nnjobs, in one table: its environment variable, type, default, bounds
and meaning, for the API, the worker, ``gunicorn.conf.py`` and ``scripts/run.py``.

Each program reads the settings it uses through :func:`read` (or one through :func:`get`)
at start, so a bad value stops it there, with the variable named, rather than on the
first request or job. The configuration reference, ``docs/configuration.md``, is written
from this table (``make docs``, or ``python -m registry.settings --markdown``), and a test
fails when the two differ.

Standard library only: gunicorn's configuration file and ``make run`` read it too. The
defaults of nn's limits are nn's own, looked up only when one of them is read.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

#: who reads a setting
API, WORKER, GUNICORN, RUN = "API", "worker", "gunicorn", "make run"

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("json", "text")

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class SettingsError(ValueError):
    """A setting is malformed, out of its bounds, or inconsistent with the others; the
    message names the variable."""


@dataclass(frozen=True)
class LimitDefault:
    """The default of one of nn's limits (a field of ``nn.Limits``), looked up when it is
    needed: nn loads NumPy, which a reader of the other settings need not."""

    field: str

    def __call__(self) -> float:
        import nn

        return getattr(nn.DEFAULT_LIMITS, self.field)


@dataclass(frozen=True)
class Setting:
    """One environment variable. A ``default`` of None means the reader derives the value
    (``shown`` says how); a callable default is called when needed."""

    name: str
    type: type
    default: object
    doc: str
    readers: tuple[str, ...]
    section: str
    min: float | None = None
    max: float | None = None
    #: the value must be above zero (a duration, say)
    positive: bool = False
    choices: tuple[str, ...] = ()
    #: the default as the reference shows it, when the value alone would not say enough
    shown: str = ""
    #: former names, still read when the name itself is not set
    aliases: tuple[str, ...] = ()
    #: (reader, default) where one reader's default differs from the others'
    reader_defaults: tuple[tuple[str, object], ...] = ()

    def default_value(self, reader: str | None = None) -> object:
        value = dict(self.reader_defaults).get(reader, self.default)
        value = value() if callable(value) else value
        # 32 in the table is 32.0 for a float setting, as it would be from the environment
        return value if value is None else self.type(value)

    def parse(self, raw: object, given_as: str | None = None) -> object:
        """``raw`` (text from the environment, or a value already of the setting's type)
        converted and checked; SettingsError naming the variable otherwise."""
        name = given_as or self.name
        if self.type is str:
            value = str(raw).strip()
            if self.choices:
                matches = [c for c in self.choices if c.lower() == value.lower()]
                if not matches:
                    choices = ", ".join(self.choices)
                    raise SettingsError(f"{name} must be one of {choices}, got {raw!r}")
                value = matches[0]
            return value
        if self.type is bool:
            return _boolean(name, raw)
        value = _number(name, raw, self.type)
        if self.positive and not value > 0:
            raise SettingsError(f"{name} must be positive, got {raw!r}")
        if self.min is not None and value < self.min:
            raise SettingsError(f"{name} must be at least {_n(self.min)}, got {_n(value)}")
        if self.max is not None and value > self.max:
            raise SettingsError(f"{name} must be at most {_n(self.max)}, got {_n(value)}")
        return value


def _n(number: float) -> str:
    """A bound or a value for a message: 5000000, not 5e+06."""
    return str(number) if isinstance(number, int) else f"{number:g}"


def _boolean(name: str, raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text not in _TRUE + _FALSE:
        raise SettingsError(f"{name} must be true or false (1/0, yes/no, on/off), got {raw!r}")
    return text in _TRUE


def _number(name: str, raw: object, kind: type) -> float:
    try:
        number = float(raw)
    except (TypeError, ValueError):
        number = math.nan
    if math.isnan(number):
        raise SettingsError(f"{name} must be a number, got {raw!r}")
    if kind is int:
        if not number.is_integer():
            raise SettingsError(f"{name} must be a whole number, got {raw!r}")
        # through int() when it can, so a large whole number keeps every digit
        return int(raw) if isinstance(raw, int) or str(raw).strip().isdigit() else int(number)
    return number


_ADDRESS, _SERVER, _WORKER = "Addresses", "The API server (gunicorn)", "The worker"
DELIVERY = "Delivery and recovery"
_LIMITS, _LOGS, _RUN = "API limits", "Logs", "make run"
_EVERYONE = (API, WORKER, RUN)

#: intros of the reference's sections, in order
SECTIONS = {
    _ADDRESS: "Where Redis is and where the API listens.",
    _SERVER: "Read by `gunicorn.conf.py`, in the Docker image and under `make run` alike.",
    _WORKER: "Read by the Celery worker (`celery -A worker.app:app worker`).",
    DELIVERY: (
        "How training is delivered and recovered. The worker refuses to start, saying "
        "which, unless soft limit < hard limit < visibility timeout (a job still training "
        "at the visibility timeout would be handed to a second worker) and lease < "
        "visibility timeout. Set `NNJOBS_VISIBILITY_TIMEOUT` to the same value for the API "
        "and every worker: the Redis transport uses the shortest value any client of the "
        "broker sets. Choose the lease longer than the slowest single batch of training: "
        "an attempt that writes no progress for a lease is presumed dead."
    ),
    _LIMITS: (
        "What the API accepts. A refusal names the limit's value and the setting behind "
        "it, e.g. `layers.0.units: must be in [1, 4096] (NNJOBS_MAX_UNITS)` (422)."
    ),
    _LOGS: "Logs are JSON lines on stderr, from the API and the worker alike.",
    _RUN: "Read by `scripts/run.py`, which `make run` calls.",
}

#: every setting, grouped by section
TABLE: tuple[Setting, ...] = (
    Setting(
        "REDIS_URL",
        str,
        "redis://127.0.0.1:6379/0",
        "broker, job and model store; `redis://:PASSWORD@host:port/db`",
        _EVERYONE,
        _ADDRESS,
    ),
    Setting(
        "NNJOBS_KEY_PREFIX",
        str,
        "nnjobs",
        "prefix of every Redis key, for several deployments on one Redis",
        (API, WORKER),
        _ADDRESS,
    ),
    Setting(
        "NNJOBS_QUEUE",
        str,
        "nnjobs",
        "the Celery queue the API sends to and the worker reads",
        _EVERYONE,
        _ADDRESS,
    ),
    Setting("PORT", int, 8000, "the API's port", (GUNICORN, RUN), _ADDRESS, min=1, max=65535),
    Setting(
        "NNJOBS_HOST",
        str,
        "0.0.0.0",
        "the API's address (`0.0.0.0`: every interface, as a container needs; `make run` "
        "serves this machine only unless told otherwise)",
        (GUNICORN, RUN),
        _ADDRESS,
        reader_defaults=((RUN, "127.0.0.1"),),
    ),
    Setting(
        "WEB_CONCURRENCY",
        int,
        2,
        "API worker processes, each with its own cache of models",
        (GUNICORN,),
        _SERVER,
        min=1,
    ),
    Setting(
        "NNJOBS_API_THREADS",
        int,
        4,
        "threads per API process, each serving one request at a time (a client in a long "
        "poll holds one for up to 20 s)",
        (GUNICORN,),
        _SERVER,
        min=1,
    ),
    Setting(
        "NNJOBS_API_BLAS_THREADS",
        int,
        1,
        "BLAS threads per API process: predictions are small products served by several "
        "threads and processes at once, which BLAS threads would only contend with",
        (GUNICORN,),
        _SERVER,
        min=1,
    ),
    Setting(
        "NNJOBS_API_TIMEOUT",
        int,
        30,
        "seconds a request may run before its API process is replaced",
        (GUNICORN,),
        _SERVER,
        min=1,
    ),
    Setting(
        "NNJOBS_API_GRACEFUL_TIMEOUT",
        int,
        30,
        "seconds in-flight requests get on SIGTERM",
        (GUNICORN,),
        _SERVER,
        min=1,
    ),
    Setting(
        "PROMETHEUS_MULTIPROC_DIR",
        str,
        None,
        "where every API process writes its metrics, for `/metrics` to sum them; emptied at start",
        (GUNICORN, RUN),
        _SERVER,
        shown="a temporary directory, removed at the end; `make run`: `.run/metrics-<port>`",
    ),
    Setting(
        "NNJOBS_WORKER_CONCURRENCY",
        int,
        1,
        "training processes per worker",
        (WORKER,),
        _WORKER,
        min=1,
    ),
    Setting(
        "NNJOBS_BLAS_THREADS",
        int,
        None,
        "BLAS threads per training process",
        (WORKER,),
        _WORKER,
        min=1,
        shown="cores / concurrency",
    ),
    Setting(
        "NNJOBS_VISIBILITY_TIMEOUT",
        int,
        3600,
        "seconds before Redis hands an unacknowledged training message to another worker",
        (API, WORKER),
        DELIVERY,
        min=1,
    ),
    Setting(
        "NNJOBS_HARD_TIME_LIMIT",
        float,
        None,
        "seconds a job may train before its process is killed and the job failed",
        (WORKER,),
        DELIVERY,
        positive=True,
        shown="visibility / 2 (1800)",
    ),
    Setting(
        "NNJOBS_SOFT_TIME_LIMIT",
        float,
        None,
        "seconds a job may train before it is stopped and failed with a timeout message",
        (WORKER,),
        DELIVERY,
        positive=True,
        shown="0.95 x hard (1710)",
    ),
    Setting(
        "NNJOBS_LEASE_SECONDS",
        float,
        None,
        "how long a running job stays held without a progress write before it may be taken over",
        (WORKER,),
        DELIVERY,
        positive=True,
        shown="min(30, visibility / 4)",
    ),
    Setting(
        "NNJOBS_RECOVERY_INTERVAL",
        float,
        None,
        "seconds between a worker's scans for expired leases and lost messages (formerly "
        "`NNJOBS_SWEEP_INTERVAL`, still read when this is not set)",
        (WORKER,),
        DELIVERY,
        positive=True,
        shown="min(10, lease)",
        aliases=("NNJOBS_SWEEP_INTERVAL",),
    ),
    Setting(
        "NNJOBS_MAX_ATTEMPTS",
        int,
        3,
        "attempts at a job before it is failed",
        (WORKER,),
        DELIVERY,
        min=1,
    ),
    Setting("NNJOBS_MAX_BODY_MB", float, 32, "request body limit (413)", (API,), _LIMITS, min=0),
    Setting(
        "NNJOBS_MAX_VALUES",
        int,
        5_000_000,
        "numbers in `X` (or `inputs`, or a dataset job's features)",
        (API,),
        _LIMITS,
        min=0,
    ),
    Setting(
        "NNJOBS_MAX_DATASET_MB",
        float,
        32,
        "size of an uploaded CSV file (the body limit applies too) (413)",
        (API,),
        _LIMITS,
        min=0,
    ),
    Setting(
        "NNJOBS_MAX_DATASET_ROWS",
        int,
        1_000_000,
        "data rows of an uploaded CSV file, or of a CSV prediction body (413)",
        (API,),
        _LIMITS,
        min=0,
    ),
    Setting(
        "NNJOBS_MAX_UNITS",
        int,
        LimitDefault("max_units"),
        "units per hidden layer",
        (API,),
        _LIMITS,
        min=0,
    ),
    Setting(
        "NNJOBS_MAX_LAYERS",
        int,
        LimitDefault("max_layers"),
        "hidden layers",
        (API,),
        _LIMITS,
        min=0,
    ),
    Setting(
        "NNJOBS_MAX_EPOCHS",
        int,
        LimitDefault("max_epochs"),
        "training epochs",
        (API,),
        _LIMITS,
        min=0,
    ),
    Setting(
        "NNJOBS_MAX_BATCH_SIZE",
        int,
        LimitDefault("max_batch_size"),
        "rows per training batch",
        (API,),
        _LIMITS,
        min=0,
    ),
    Setting(
        "NNJOBS_MAX_CLASSES",
        int,
        LimitDefault("max_classes"),
        "distinct class labels",
        (API,),
        _LIMITS,
        min=0,
    ),
    Setting(
        "NNJOBS_MAX_COMPUTE",
        float,
        LimitDefault("max_compute"),
        "compute budget: training rows x epochs x weights (the default admits 20,000 rows "
        "x 20 features, hidden (128, 128), 500 epochs); over it, 413",
        (API,),
        _LIMITS,
        min=0,
    ),
    Setting(
        "NNJOBS_MAX_SWEEP_JOBS",
        int,
        64,
        "jobs one sweep may queue (the number of combinations of its `vary` lists); over it, 413",
        (API,),
        _LIMITS,
        min=0,
    ),
    Setting(
        "NNJOBS_MODEL_CACHE",
        int,
        32,
        "loaded models kept per API process (least recently used go first)",
        (API,),
        _LIMITS,
        min=0,
    ),
    Setting(
        "NNJOBS_READY_TIMEOUT",
        float,
        0.5,
        "seconds `/readyz` waits for workers to answer",
        (API,),
        _LIMITS,
        min=0,
    ),
    Setting(
        "API_KEYS",
        str,
        "",
        "comma-separated API keys; when set, every endpoint but `/healthz`, "
        "`/openapi.json`, `/docs` and the playground page (`/`, `/playground/*`) needs "
        "`Authorization: Bearer <key>` (else 401)",
        (API,),
        _LIMITS,
        shown="empty (no key needed)",
    ),
    Setting(
        "NNJOBS_METRICS_PUBLIC",
        bool,
        False,
        "with `API_KEYS` set, serve `/metrics` without a key",
        (API,),
        _LIMITS,
    ),
    Setting(
        "NNJOBS_LOG_LEVEL",
        str,
        "INFO",
        "the level of the API's and the worker's logs",
        (GUNICORN, WORKER),
        _LOGS,
        choices=LOG_LEVELS,
        shown="`INFO`; the worker: its `--loglevel`",
    ),
    Setting(
        "NNJOBS_LOG_FORMAT",
        str,
        "json",
        "`json` (one object per line) or `text` (for reading in a terminal)",
        (GUNICORN, WORKER),
        _LOGS,
        choices=LOG_FORMATS,
    ),
    Setting(
        "NNJOBS_ACCESS_LOG",
        bool,
        True,
        "one log line per request, written by the API (gunicorn's own access log is off)",
        (API,),
        _LOGS,
    ),
    Setting(
        "NNJOBS_RUN_DIR",
        str,
        None,
        "where `make run` keeps the data of the Redis it starts, and the API's metrics",
        (RUN,),
        _RUN,
        shown="`.run` in the checkout",
    ),
    Setting(
        "NNJOBS_REDIS_START_TIMEOUT",
        float,
        20,
        "seconds the Redis that `make run` starts has to answer",
        (RUN,),
        _RUN,
        positive=True,
    ),
    Setting(
        "NNJOBS_START_TIMEOUT",
        float,
        60,
        "seconds the API has to answer `/healthz` once started",
        (RUN,),
        _RUN,
        positive=True,
    ),
    Setting(
        "NNJOBS_STOP_TIMEOUT",
        float,
        30,
        "seconds the worker gets to finish its job on stop",
        (RUN,),
        _RUN,
        positive=True,
    ),
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


# ---------------------------------------------------------------- the reference


def _shown_default(setting: Setting) -> str:
    if setting.shown:
        return setting.shown
    shown = _shown_value(setting.default_value())
    for reader, _ in setting.reader_defaults:
        shown += f"; {reader}: {_shown_value(setting.default_value(reader))}"
    return shown


def _shown_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"`{value}`" if value else "empty"
    if isinstance(value, int) and abs(value) >= 10_000:
        return f"{value:,}"
    return f"{value:g}".replace("e+", "e")


def _bounds(setting: Setting) -> str:
    if setting.choices:
        return ", ".join(f"`{c}`" for c in setting.choices)
    parts = []
    if setting.positive:
        parts.append("> 0")
    if setting.min is not None:
        parts.append(f">= {_n(setting.min)}")
    if setting.max is not None:
        parts.append(f"<= {_n(setting.max)}")
    return ", ".join(parts)


_KINDS = {str: "text", int: "whole number", float: "number", bool: "true/false"}


def markdown() -> str:
    """The configuration reference, ``docs/configuration.md``."""
    lines = [
        "# Configuration",
        "",
        "<!-- written by `make docs` from registry/settings.py; edit the table there -->",
        "",
        "Every setting comes from the environment. A program refuses to start, naming the "
        "variable, when a value it reads is malformed or out of bounds. A blank value "
        "counts as not set. True/false settings take `1`/`0`, `true`/`false`, `yes`/`no` "
        "or `on`/`off`.",
        "",
        "For example `PORT=8080 REDIS_URL=redis://:secret@127.0.0.1:6380/0 make run`.",
    ]
    for section, intro in SECTIONS.items():
        lines += ["", f"## {section}", "", intro, ""]
        lines += [
            "| variable | type | default | bounds | read by | what |",
            "|---|---|---|---|---|---|",
        ]
        for s in TABLE:
            if s.section == section:
                row = (
                    f"`{s.name}`",
                    "one of" if s.choices else _KINDS[s.type],
                    _shown_default(s),
                    _bounds(s),
                    ", ".join(s.readers),
                    s.doc,
                )
                lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if sys.argv[1:] != ["--markdown"]:
        sys.exit("usage: python -m registry.settings --markdown > docs/configuration.md")
    sys.stdout.write(markdown())
