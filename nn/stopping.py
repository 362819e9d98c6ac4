"""Early stopping that waits out a plateau.

A network on a hard set (the spiral) often sits on a plateau for tens of epochs before its
loss falls; a fixed patience of 10 stops it there. So the patience grows with the epoch
budget, no stop is made before ``start_from_epoch``, and an improvement is measured
relative to the best loss so far (a loss near 0 improves by small absolute steps).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

#: why training ended: the library's History says completed, early_stopping or callback
#: (its callback asked it to stop); a job also ends diverged or cancelled
STOP_REASONS = ("completed", "early_stopping", "callback", "diverged", "cancelled")

#: default patience: this share of the epoch budget, but no fewer than PATIENCE_MIN epochs
PATIENCE_SHARE = 0.1
PATIENCE_MIN = 10
#: default warm-up: this share of the epoch budget
WARMUP_SHARE = 0.2


def default_patience(epochs: int) -> int:
    """Patience for a budget of ``epochs`` when the spec names none."""
    return max(PATIENCE_MIN, math.ceil(PATIENCE_SHARE * epochs))


def default_start(epochs: int) -> int:
    """The first epoch after which early stopping may fire, when the spec names none."""
    return math.ceil(WARMUP_SHARE * epochs)


class Stopper:
    """Tracks the monitored loss epoch by epoch and says when to stop.

    Parameters
    ----------
    rule : mapping or False
        ``{"patience", "min_delta", "start_from_epoch"}`` as resolved, or False to never
        stop (the best epoch is still tracked).

    Attributes
    ----------
    best_epoch : int
        1-based epoch with the lowest loss so far (0 before the first).
    """

    def __init__(self, rule: Mapping | bool):
        self.rule = rule or None
        self.best_epoch = 0
        self.best = math.inf
        self._reference = math.inf
        self._waited = 0

    def update(self, epoch: int, loss: float) -> tuple[bool, bool]:
        """Record epoch ``epoch``'s monitored ``loss``.

        Returns
        -------
        improved : bool
            The epoch is the best so far (its weights are the ones to keep).
        stop : bool
            Training should stop after this epoch.
        """
        improved = loss < self.best
        if improved:
            self.best, self.best_epoch = loss, epoch
        if self.rule is None:
            return improved, False
        # min_delta is relative: a fall of less than min_delta x the best loss so far
        # is no progress
        margin = self.rule["min_delta"] * abs(self._reference) if self.best_epoch > 1 else 0.0
        if loss < self._reference - margin:
            self._reference, self._waited = loss, 0
        else:
            self._waited += 1
        stop = self._waited >= self.rule["patience"] and epoch >= self.rule["start_from_epoch"]
        return improved, stop
