"""Every setting of nnjobs, in one table: its environment variable, type, default, bounds
and meaning, for the API, the worker, ``gunicorn.conf.py`` and ``scripts/run.py``.

Each program reads the settings it uses through :func:`read` (or one through :func:`get`)
at start, so a bad value stops it there, with the variable named, rather than on the
first request or job. The configuration reference, ``docs/configuration.md``, is written
from this table by :mod:`registry.settings_reference` (``make docs``, or ``python -m
registry.settings --markdown``), and a test fails when the two differ.

The rows live in this package's modules by subject (:mod:`.service`: addresses, servers,
delivery, logs and ``make run``; :mod:`.limits`: the API's limits;
:mod:`.replication`: Sentinel and replicas; :mod:`.exchange`: model imports and the parity
certificate; :mod:`.tenants`: the keys, the keys file, quotas and rate limits); a new subject
is a module of its own and one entry in :data:`TABLE`.

Standard library only: gunicorn's configuration file and ``make run`` read it too. The
defaults of nn's limits are nn's own, looked up only when one of them is read.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from ..setting import (
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


from . import exchange, limits, replication, service, tenants

#: every setting, grouped by section
TABLE: tuple[Setting, ...] = (
    *service.PLACES,
    *replication.REPLICATION,
    *limits.LIMITS,
    *exchange.EXCHANGE,
    *tenants.TENANTS,
    *service.OPERATIONS,
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
