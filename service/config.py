"""The service's settings: the API's entries of :mod:`registry.settings`, from their
defaults, overridden by the environment, overridden by the ``config`` passed to
:func:`service.create_app`."""

from __future__ import annotations

import os
from collections.abc import Mapping

import nn
from registry import settings as table


def load(overrides: Mapping | None = None, environ: Mapping | None = None) -> dict:
    """Every setting the API reads, converted and checked (SettingsError, a ValueError
    naming the variable, otherwise); other keys of ``overrides`` pass through (Flask
    settings such as ``TESTING``)."""
    environ = os.environ if environ is None else environ
    overrides = dict(overrides or {})
    names = [s.name for s in table.TABLE if table.API in s.readers]
    given = {**environ, **{name: overrides.pop(name) for name in names if name in overrides}}
    return {**table.read(names, given), **overrides}


def limits(settings: Mapping) -> nn.Limits:
    """The ``nn.Limits`` the settings describe, so nn.validate enforces the same limits."""
    return nn.Limits(**{field: settings[name] for name, field in table.LIMIT_FIELDS.items()})
