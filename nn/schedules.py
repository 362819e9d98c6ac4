"""Learning-rate schedules: the rate of each epoch, from the job's ``training.schedule``.

- ``constant`` (the default): the base rate every epoch.
- ``step``: ``base * factor ** floor((epoch - 1) / every)``.
- ``cosine``: ``warmup`` epochs rising linearly to the base rate (``base * epoch /
  warmup``), then a half cosine from the base rate down to ``min_lr`` at the last epoch:
  ``min_lr + (base - min_lr) * (1 + cos(pi * t)) / 2`` with ``t = (epoch - warmup - 1) /
  (epochs - warmup - 1)`` (``t = 0`` when a single epoch is left after the warm-up).
- ``plateau``: the base rate, multiplied by ``factor`` (never below ``min_lr``) each time
  ``patience`` epochs pass without the monitored loss (``val_loss``, or ``loss`` without
  a validation split) falling below its best so far by more than ``min_delta`` times that
  best, as Keras's ``ReduceLROnPlateau`` does; the count starts over after a reduction.

Epochs are numbered from 1. The base rate is ``training.learning_rate`` (or the rate its
range test chose). The rate of every epoch is in the history (``learning_rate``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType

from .errors import SpecError
from .params import Param

DEFAULT_SCHEDULE = "constant"

#: each schedule's parameters, with their defaults and bounds
SCHEDULES: Mapping[str, Mapping[str, Param]] = MappingProxyType(
    {
        "constant": MappingProxyType({}),
        "step": MappingProxyType(
            {
                "every": Param(10, 1, 100_000, kind=int),
                "factor": Param(0.5, 0.0, 1.0, low_open=True),
            }
        ),
        "cosine": MappingProxyType(
            {
                "min_lr": Param(0.0, 0.0, 10.0),
                "warmup": Param(0, 0, 100_000, kind=int),
            }
        ),
        "plateau": MappingProxyType(
            {
                "factor": Param(0.1, 0.0, 1.0, low_open=True, high_open=True),
                "patience": Param(10, 1, 100_000, kind=int),
                "min_delta": Param(0.0, 0.0, 1.0, high_open=True),
                "min_lr": Param(0.0, 0.0, 10.0),
            }
        ),
    }
)


def resolve_schedule(value, epochs: int) -> dict:
    """The schedule of ``training.schedule`` with every default filled in.

    ``value`` is a name (``"cosine"``) or an object with ``type`` and the schedule's
    parameters (``{"type": "step", "every": 5, "factor": 0.5}``).

    Raises
    ------
    SpecError
        An unknown schedule or parameter, a value out of bounds, or a cosine warm-up that
        leaves no epoch to decay over.
    """
    field = "training.schedule"
    if isinstance(value, str):
        value = {"type": value}
    if not isinstance(value, Mapping):
        raise SpecError(field, 'must be a schedule name or an object {"type": ..., ...}')
    kind = value.get("type", DEFAULT_SCHEDULE)
    if not isinstance(kind, str) or kind not in SCHEDULES:
        raise SpecError(
            f"{field}.type", f"unknown schedule {kind!r}; choose one of: {', '.join(SCHEDULES)}"
        )
    params = SCHEDULES[kind]
    for key in value:
        if key != "type" and key not in params:
            takes = ", ".join(params) or "no parameters"
            reason = f"not a parameter of schedule {kind}; it takes: {takes}"
            raise SpecError(f"{field}.{key}", reason)
    out = {"type": kind}
    for key, param in params.items():
        out[key] = param.check(value.get(key, param.default), f"{field}.{key}")
    if kind == "cosine" and out["warmup"] >= epochs:
        raise SpecError(
            f"{field}.warmup",
            f"{out['warmup']} warm-up epochs leave none of the {epochs} epochs to decay over; "
            "use fewer warm-up epochs",
        )
    return out


class Schedule:
    """The rate of each epoch of one run.

    Parameters
    ----------
    rule : mapping
        A resolved schedule (:func:`resolve_schedule`).
    base : float
        The base learning rate.
    epochs : int
        The epoch budget.
    """

    def __init__(self, rule: Mapping, base: float, epochs: int):
        self.rule, self.base, self.epochs = dict(rule), float(base), int(epochs)
        self._rate = self.base
        self._best = math.inf
        self._waited = 0

    def rate(self, epoch: int) -> float:
        """The learning rate of epoch ``epoch`` (1-based)."""
        rule, base = self.rule, self.base
        kind = rule["type"]
        if kind == "step":
            return base * rule["factor"] ** ((epoch - 1) // rule["every"])
        if kind == "cosine":
            warmup = rule["warmup"]
            if epoch <= warmup:
                return base * epoch / warmup
            span = self.epochs - warmup - 1
            t = (epoch - warmup - 1) / span if span > 0 else 0.0
            return rule["min_lr"] + (base - rule["min_lr"]) * (1 + math.cos(math.pi * t)) / 2
        if kind == "plateau":
            return self._rate
        return base

    def observe(self, loss: float) -> None:
        """Record the monitored loss of the epoch just run (``plateau`` reacts to it)."""
        if self.rule["type"] != "plateau":
            return
        rule = self.rule
        if loss < self._best * (1 - rule["min_delta"]) or self._best == math.inf:
            self._best, self._waited = loss, 0
            return
        self._waited += 1
        if self._waited >= rule["patience"]:
            if self._rate > rule["min_lr"]:
                self._rate = max(self._rate * rule["factor"], rule["min_lr"])
            self._waited = 0
