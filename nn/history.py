"""The record of a training run, epoch by epoch, and the metrics of each epoch."""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from . import fixes
from .diagnostics import find_warnings
from .fixes import find_training_warnings

Array = np.ndarray


@dataclass
class History:
    """Per-epoch record of a training run.

    Attributes
    ----------
    series : dict of str to list of float
        ``loss`` and ``val_loss`` and the metrics (``accuracy``, or ``mae`` and ``r2``) with
        their ``val_`` twins; one value per epoch run. Training values are averaged over the
        epoch's batches (with dropout on), validation values are computed after the epoch;
        both are weighted by the rows' weights when the job has them. ``learning_rate``:
        the rate of each epoch (:mod:`nn.schedules`).
    best_epoch : int
        1-based epoch whose weights the model keeps (lowest ``val_loss``, or ``loss``
        without a validation split).
    stop_reason : str
        ``completed``, ``early_stopping`` or ``callback``.
    diagnostics : list of dict or None
        One entry per hidden layer with its per-epoch ``grad_norm``, ``dead_fraction`` and
        ``saturated_fraction`` (see :mod:`nn.diagnostics`); None when
        ``training.diagnostics`` is false.
    lr_finder : dict or None
        With ``training.learning_rate`` ``"auto"``: the rate chosen (``learning_rate``) and
        the range test's curve (``rates``, ``losses``), see :mod:`nn.lr_finder`.
    val_rows : ndarray of int, shape (n_val,), or None
        The rows of ``X`` held out for validation (empty without a validation split), for
        what is measured on them after training; not part of :meth:`as_dict`.
    """

    series: dict[str, list[float]] = field(default_factory=dict)
    best_epoch: int = 0
    stop_reason: str = "completed"
    diagnostics: list[dict] | None = None
    lr_finder: dict | None = None
    #: what the fixes of its warnings are written against: the resolved ``spec``, the
    #: ``learning_rate`` used, and ``chance`` (the largest class's share, or None)
    context: dict | None = field(default=None, repr=False)
    val_rows: Array | None = field(default=None, repr=False)

    @property
    def warnings(self) -> list[dict]:
        """What the diagnostics (:func:`nn.diagnostics.find_warnings`) and the curves
        (:func:`nn.fixes.find_training_warnings`) warn of, each with its ``fix``
        (:func:`nn.fixes.fix`) when the run's context is known."""
        if self.diagnostics is None:
            return []  # training.diagnostics false: no warnings at all
        context = self.context or {}
        found = find_warnings(self.diagnostics) + find_training_warnings(
            self.series, self.best_epoch, self.stop_reason, context.get("chance")
        )
        if "spec" in context:
            for warning in found:
                warning["fix"] = fixes.fix(warning, context["spec"], context["learning_rate"])
        return found

    @property
    def epochs_run(self) -> int:
        return len(self.series.get("loss", ()))

    def append(self, row: Mapping[str, float]) -> None:
        for key, value in row.items():
            self.series.setdefault(key, []).append(value)

    def __getitem__(self, key: str) -> list[float]:
        return self.series[key]

    def as_dict(self) -> dict:
        """JSON-ready copy of the series plus ``best_epoch``, ``stop_reason`` and, unless
        switched off, ``diagnostics``."""
        out = {
            **{k: list(v) for k, v in self.series.items()},
            "best_epoch": self.best_epoch,
            "stop_reason": self.stop_reason,
        }
        if self.diagnostics is not None:
            out["diagnostics"] = copy.deepcopy(self.diagnostics)
        if self.lr_finder is not None:
            out["lr_finder"] = copy.deepcopy(self.lr_finder)
        return out


class Scorer:
    """Metrics for one kind of target, accumulated batch by batch (rows weighted by ``w``
    when the job has weights)."""

    def __init__(self, kind: str, threshold: float, y_scale: Array | None):
        self.kind = kind
        self.logit_threshold = math.log(threshold / (1 - threshold))
        self.y_scale = y_scale

    def batch(self, z: Array, y: Array, w: Array | None = None) -> Array:
        """Sufficient statistics of one batch (summed over rows)."""
        if self.kind == "regression":
            d = z - y
            a, sq = np.abs(d), d * d
            if w is not None:
                return np.stack([w @ a, w @ sq]).astype(np.float64)
            return np.stack([a.sum(axis=0), sq.sum(axis=0)]).astype(np.float64)
        if self.kind == "multiclass":
            # y is one-hot, so its argmax is the label (take_along_axis costs 4x as much)
            right = z.argmax(axis=1) == y.argmax(axis=1)
        elif self.kind == "binary":
            right = (z[:, 0] >= self.logit_threshold) == (y[:, 0] > 0.5)
        else:
            right = np.all((z >= self.logit_threshold) == (y > 0.5), axis=1)
        correct = np.count_nonzero(right) if w is None else float(w @ right)
        return np.array([float(correct)])

    def result(
        self, stats: Array, total: float, y: Array, prefix: str = "", w: Array | None = None
    ) -> dict[str, float]:
        """Metrics from summed statistics over rows of summed weight ``total`` (their
        number, unweighted) whose targets are ``y``."""
        if self.kind != "regression":
            return {f"{prefix}accuracy": float(stats[0]) / total}
        abs_sum, sse = stats
        if w is None:
            sst = ((y - y.mean(axis=0)) ** 2).sum(axis=0).astype(np.float64)
        else:
            centred = y - (w @ y) / total
            sst = (w @ (centred * centred)).astype(np.float64)
        r2 = np.where(sst > 0, 1 - sse / np.where(sst > 0, sst, 1), np.where(sse > 0, 0.0, 1.0))
        return {
            f"{prefix}mae": float((abs_sum * self.y_scale).sum() / (total * len(abs_sum))),
            f"{prefix}r2": float(r2.mean()),
        }
