"""Logging shared by the API and the worker: one JSON object per line.

Each line holds ``time`` (ISO 8601, UTC, milliseconds), ``level``, ``logger`` and
``message``, then whatever the call passed in ``extra`` (``job_id``, ``model_id``,
``route``, ``duration_ms``...) and, for an exception, ``exception`` (its traceback as one
string, so a line stays a line). ``NNJOBS_LOG_LEVEL`` (``INFO``) sets the level and
``NNJOBS_LOG_FORMAT`` (``json``, or ``text`` for people reading a terminal) the form.

Standard library only, so that gunicorn's configuration file can use it too.
"""

from __future__ import annotations

import json
import logging
import logging.config
import os
import time

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
FORMATS = ("json", "text")

# what every LogRecord carries; anything else on a record came in through ``extra``
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


def _time(record: logging.LogRecord) -> str:
    # strftime over datetime: this runs for every line, a request's among them
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    return f"{seconds}.{int(record.msecs):03d}Z"


def extra_fields(record: logging.LogRecord) -> dict:
    """The fields a call added to ``record`` through ``extra``."""
    return {
        k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")
    }


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
        # default=str: a library's extra field (Celery passes dicts of its own) must never
        # cost the line
        return json.dumps(entry, default=str, ensure_ascii=False)


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


def _choice(environ, name: str, default: str, choices: tuple[str, ...]) -> str:
    environ = os.environ if environ is None else environ
    value = (environ.get(name) or default).strip()
    value = value.upper() if choices[0].isupper() else value.lower()
    if value not in choices:
        raise SystemExit(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def level(environ=None) -> str:
    """``NNJOBS_LOG_LEVEL``, checked (SystemExit naming it when it is not a level)."""
    return _choice(environ, "NNJOBS_LOG_LEVEL", "INFO", LEVELS)


def log_format(environ=None) -> str:
    """``NNJOBS_LOG_FORMAT``, checked: ``json`` or ``text``."""
    return _choice(environ, "NNJOBS_LOG_FORMAT", "json", FORMATS)


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


def configure(log_level: str | None = None, fmt: str | None = None) -> None:
    """Set up this process's logging as :func:`config` describes."""
    logging.config.dictConfig(config(log_level, fmt))
