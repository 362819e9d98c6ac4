"""A numeric parameter with its default and bounds, as every registry of ``nn`` declares
them (activations, optimizers, training settings, synthetic data).

It depends only on :mod:`nn.errors`, itself a leaf, so that any module of the library
(and the service, which describes parameters in its schemas) can import it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import SpecError


@dataclass(frozen=True)
class Param:
    """A numeric parameter of an activation, an optimizer or training, with its default
    and bounds.

    ``limit`` names the field of :class:`~nn.limits.Limits` that sets ``high``, if one
    does; every refusal of the parameter carries it (``SpecError.limit``).
    """

    default: float | int | bool
    low: float | None = None
    high: float | None = None
    kind: type = float
    low_open: bool = False
    high_open: bool = False
    limit: str | None = None

    def check(self, value, field: str):
        """Return ``value`` converted to this parameter's kind, or raise SpecError."""
        if self.kind is bool:
            if not isinstance(value, bool):
                raise SpecError(field, "must be true or false", limit=self.limit)
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            kind = "n integer" if self.kind is int else " number"
            raise SpecError(field, f"must be a{kind}", limit=self.limit)
        if self.kind is int and not float(value).is_integer():
            raise SpecError(field, "must be an integer", limit=self.limit)
        if not math.isfinite(value):
            raise SpecError(field, "must be a finite number", limit=self.limit)
        below = self.low is not None and (value <= self.low if self.low_open else value < self.low)
        above = self.high is not None and (
            value >= self.high if self.high_open else value > self.high
        )
        if below or above:
            raise SpecError(field, f"must be {self.describe_range()}", limit=self.limit)
        return self.kind(value)

    def describe_range(self) -> str:
        """``in [1, 4096]``, ``in (0, 10]``, ``>= 0`` or ``< 1``."""
        lo = "(" if self.low_open else "["
        hi = ")" if self.high_open else "]"
        low = "-inf" if self.low is None else _num(self.low)
        high = "inf" if self.high is None else _num(self.high)
        if self.low is not None and self.high is None:
            return f"{'>' if self.low_open else '>='} {low}"
        if self.high is not None and self.low is None:
            return f"{'<' if self.high_open else '<='} {high}"
        return f"in {lo}{low}, {high}{hi}"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)
