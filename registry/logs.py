"""Logging shared by the API and the worker: one JSON object per line.

Each line holds ``time`` (ISO 8601, UTC, milliseconds), ``level``, ``logger`` and
``message``, then whatever the call passed in ``extra`` (``job_id``, ``model_id``,
``route``, ``duration_ms``...) and, for an exception, ``exception`` (its traceback as one
string, so a line stays a line). ``NNJOBS_LOG_LEVEL`` (``INFO``) sets the level and
``NNJOBS_LOG_FORMAT`` (``json``, or ``text`` for people reading a terminal) the form.

Standard library only, so that gunicorn's configuration file can use it too; lines are
written by orjson when it is installed (it is, with the service), a few times faster than
``json`` on the access line every request writes.
"""

from __future__ import annotations

import itertools
import json
import logging
import logging.config
import time

from . import settings

try:
    import orjson
except ImportError:  # pragma: no cover - the service installs it
    orjson = None

LEVELS = settings.LOG_LEVELS
FORMATS = settings.LOG_FORMATS

# what every LogRecord carries; anything else on a record came in through ``extra``
_RECORD_ATTRS = logging.LogRecord("", 0, "", 0, "", None, None).__dict__
_OWN = len(_RECORD_ATTRS)
_STANDARD = frozenset(_RECORD_ATTRS) | {
    "message",
    "asctime",
    "taskName",
}


_last_second: tuple[int, str] = (-1, "")


def _time(record: logging.LogRecord) -> str:
    # this runs for every line, a request's among them: the date and time to the second
    # are formatted once a second
    global _last_second
    second = int(record.created)
    if _last_second[0] != second:
        _last_second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    return f"{_last_second[1]}.{int(record.msecs):03d}Z"


def _dumps(entry: dict) -> str:
    if orjson is not None:
        try:
            return orjson.dumps(entry, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
        except TypeError:
            pass  # an integer beyond 64 bits, say: json writes it
    # default=str: a library's extra field (Celery passes dicts of its own) must never
    # cost the line
    return json.dumps(entry, default=str, ensure_ascii=False)


def extra_fields(record: logging.LogRecord) -> dict:
    """The fields a call added to ``record`` through ``extra``, in the order given."""
    attrs = record.__dict__
    # a record's own attributes come first, set by its constructor; the call's follow
    # (Logger.makeRecord), so only the tail need be looked at
    tail = itertools.islice(attrs.items(), _OWN, None)
    return {k: v for k, v in tail if k not in _STANDARD and k[0] != "_"}


def skip_unused_record_fields() -> None:
    """Spare every log record of this process the thread and process names, which
    neither form of line shows (``logging``'s documented switches for this)."""
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


class JSONFormatter(logging.Formatter):
    """A record as one JSON object on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": _time(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in extra_fields(record).items():
            entry.setdefault(key, value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return _dumps(entry)


class TextFormatter(logging.Formatter):
    """``time level logger: message key=value ...``, for a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{k}={v}" for k, v in extra_fields(record).items())
        line = f"{_time(record)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if fields:
            line += f" [{fields}]"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def _choice(environ, name: str) -> str:
    try:
        return settings.get(name, environ)
    except settings.SettingsError as exc:
        raise SystemExit(str(exc)) from None


def level(environ=None) -> str:
    """``NNJOBS_LOG_LEVEL``, checked (SystemExit naming it when it is not a level)."""
    return _choice(environ, "NNJOBS_LOG_LEVEL")


def log_format(environ=None) -> str:
    """``NNJOBS_LOG_FORMAT``, checked: ``json`` or ``text``."""
    return _choice(environ, "NNJOBS_LOG_FORMAT")


def config(log_level: str | None = None, fmt: str | None = None) -> dict:
    """A :func:`logging.config.dictConfig` dictionary: every logger through the root's one
    handler on stderr; gunicorn's access logger silenced, as the app logs each request
    itself (with its route, which gunicorn does not know)."""
    formatter = JSONFormatter if (fmt or log_format()) == "json" else TextFormatter
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"nnjobs": {"()": f"{__name__}.{formatter.__name__}"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "nnjobs",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": log_level or level(), "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": log_level or level(), "handlers": [], "propagate": True},
            "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
        },
    }


def capture_warnings() -> None:
    """Send Python's warnings through logging (logger ``py.warnings``), so that they are
    written like every other line instead of as bare text on stderr."""
    logging.captureWarnings(True)


def configure(log_level: str | None = None, fmt: str | None = None) -> None:
    """Set up this process's logging as :func:`config` describes, warnings included."""
    logging.config.dictConfig(config(log_level, fmt))
    capture_warnings()
