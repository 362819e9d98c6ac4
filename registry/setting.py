"""What a setting is: its variable, type, default, bounds and readers, and how a raw
value is converted and checked. The table of every setting is :mod:`registry.settings`.

Standard library only, as the table.
"""

from __future__ import annotations

import math
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
            raise SettingsError(
                f"{name} must be at least {number_text(self.min)}, got {number_text(value)}"
            )
        if self.max is not None and value > self.max:
            raise SettingsError(
                f"{name} must be at most {number_text(self.max)}, got {number_text(value)}"
            )
        return value


def number_text(number: float) -> str:
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


class Section:
    """The sections of the reference, in its order (their intros are in
    :mod:`registry.settings_reference`)."""

    ADDRESSES = "Addresses"
    REPLICATION = "Replication and Sentinel"
    SERVER = "The API server (gunicorn)"
    WORKER = "The worker"
    DELIVERY = "Delivery and recovery"
    LIMITS = "API limits"
    TENANTS = "Keys, tenants, quotas and rate limits"
    LOGS = "Logs"
    RUN = "make run"
