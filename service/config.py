"""The service's settings: defaults, overridden by the environment, overridden by the
``config`` passed to :func:`service.create_app`."""

from __future__ import annotations

import os
from collections.abc import Mapping

import nn

#: name -> (default, type); every one can be set in the environment.
SETTINGS: dict[str, tuple[object, type]] = {
    "REDIS_URL": ("redis://127.0.0.1:6379/0", str),
    "NNJOBS_KEY_PREFIX": ("nnjobs", str),
    "NNJOBS_QUEUE": ("nnjobs", str),
    "NNJOBS_MAX_BODY_MB": (32, float),
    "NNJOBS_MAX_VALUES": (5_000_000, int),
    # an uploaded CSV file (the request body limit applies too) and its data rows
    "NNJOBS_MAX_DATASET_MB": (32, float),
    "NNJOBS_MAX_DATASET_ROWS": (1_000_000, int),
    "NNJOBS_MAX_UNITS": (nn.DEFAULT_LIMITS.max_units, int),
    "NNJOBS_MAX_LAYERS": (nn.DEFAULT_LIMITS.max_layers, int),
    "NNJOBS_MAX_EPOCHS": (nn.DEFAULT_LIMITS.max_epochs, int),
    "NNJOBS_MAX_BATCH_SIZE": (nn.DEFAULT_LIMITS.max_batch_size, int),
    "NNJOBS_MAX_CLASSES": (nn.DEFAULT_LIMITS.max_classes, int),
    "NNJOBS_MAX_COMPUTE": (nn.DEFAULT_LIMITS.max_compute, float),
    # jobs one sweep may queue (the combinations of its varied values)
    "NNJOBS_MAX_SWEEP_JOBS": (64, int),
    "NNJOBS_MODEL_CACHE": (32, int),
    # requests of one API process that may wait on a job at once (GET /jobs/<id>?wait=);
    # below NNJOBS_API_THREADS, so that waiting clients never hold every request thread
    "NNJOBS_MAX_WAITING": (112, int),
    # how long /readyz waits for workers to answer
    "NNJOBS_READY_TIMEOUT": (0.5, float),
    # comma-separated; empty: no key is needed (see service.auth)
    "API_KEYS": ("", str),
    # with API_KEYS set, GET /metrics needs a key too unless this is true (see service.auth)
    "NNJOBS_METRICS_PUBLIC": (False, bool),
    # one log line per request (service.metrics)
    "NNJOBS_ACCESS_LOG": (True, bool),
}

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")

#: Limits setting -> nn.Limits field
LIMIT_FIELDS = {
    "NNJOBS_MAX_UNITS": "max_units",
    "NNJOBS_MAX_LAYERS": "max_layers",
    "NNJOBS_MAX_EPOCHS": "max_epochs",
    "NNJOBS_MAX_BATCH_SIZE": "max_batch_size",
    "NNJOBS_MAX_CLASSES": "max_classes",
    "NNJOBS_MAX_COMPUTE": "max_compute",
}


def _convert(name: str, value, kind: type):
    if kind is str:
        return str(value)
    if kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text not in _TRUE + _FALSE:
            raise ValueError(f"{name} must be true or false (1/0, yes/no, on/off), got {value!r}")
        return text in _TRUE
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not (number >= 0 and (kind is float or number.is_integer())):
        raise ValueError(f"{name} must be a non-negative {kind.__name__}, got {value!r}")
    return kind(number)


def load(overrides: Mapping | None = None, environ: Mapping | None = None) -> dict:
    """Every setting, converted and checked; other keys of ``overrides`` pass through
    (Flask settings such as ``TESTING``)."""
    environ = os.environ if environ is None else environ
    overrides = dict(overrides or {})
    out = {}
    for name, (default, kind) in SETTINGS.items():
        value = overrides.pop(name, environ.get(name, default))
        out[name] = _convert(name, value, kind)
    out.update(overrides)
    return out


def limits(settings: Mapping) -> nn.Limits:
    """The ``nn.Limits`` the settings describe, so nn.validate enforces the same limits."""
    return nn.Limits(**{field: settings[name] for name, field in LIMIT_FIELDS.items()})
