"""A trained model's evaluation: the metrics of :mod:`nn.metrics` and the permutation
importance of :mod:`nn.importance`, on the validation rows (the training rows when the
job has no validation split), each row weighted as in training.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from . import metrics
from .data import Targets
from .importance import permutation_importance
from .losses import OUTPUTS

if TYPE_CHECKING:
    from .model import Model

Array = np.ndarray


def _truth(kind: str, targets, rows: Array) -> Array:
    if kind == "multiclass":
        return targets.labels[rows]
    if kind == "binary":
        return targets.encoded[rows, 0]
    return targets.encoded[rows]


def report(model: Model, z: Array, truth: Array, w: Array | None) -> dict:
    """The metrics of logits ``z`` (n, n_outputs) of ``model`` against ``truth``."""
    if model.kind == "regression":
        values = model.y_scaler.inverse(z)
        return metrics.regression(truth, values, w)
    p = OUTPUTS[model.output].activation(z.astype(np.float64))
    proba = p[:, 0] if model.kind == "binary" else p
    return metrics.classification(model.kind, truth, proba, model.classes, model.threshold, w)


def score(model: Model, z: Array, truth: Array, w: Array | None) -> float:
    """What the importance measures: accuracy (classification) or R² (regression)."""
    if model.kind == "regression":
        return metrics.regression(truth, model.y_scaler.inverse(z), w)["r2"]
    wt = np.ones(len(z)) if w is None else w
    if model.kind == "multiclass":
        right = z.argmax(axis=1) == truth
    else:
        p = OUTPUTS[model.output].activation(z.astype(np.float64))
        pred = p >= model.threshold
        truth2 = np.asarray(truth).reshape(len(z), -1) > 0.5
        right = np.all(pred == truth2, axis=1)
    return float(np.dot(wt, right) / wt.sum())


def evaluate(
    model: Model,
    x: Array,
    rows: Array,
    on_validation: bool,
    targets: Targets,
    weights: Array | None,
    groups: Mapping[str, Sequence[int]],
) -> tuple[dict, dict | None]:
    """``(evaluation, importance)`` of a freshly trained model.

    Parameters
    ----------
    model : Model
    x : ndarray, shape (n, n_features)
        The evaluated rows, scaled as the network takes them.
    rows : ndarray of int, shape (n,)
        Their indices into ``targets``.
    on_validation : bool
        They are the validation rows (else the training rows).
    targets : Targets
        The job's encoded targets.
    weights : ndarray, shape (n_samples,), or None
        Every row's weight, undivided.
    groups : mapping
        The raw features of the importance and their columns of ``x``.
    """
    w = None if weights is None else weights[rows]
    truth = _truth(model.kind, targets, rows)
    net = model.network
    evaluation = {
        "rows": "validation" if on_validation else "training",
        "n_rows": len(rows),
        **report(model, net.logits(x), truth, w),
    }
    training = model.spec["training"]
    if not training["importance_repeats"]:
        return evaluation, None
    found = permutation_importance(
        lambda shuffled: score(model, net.logits(shuffled), truth, w),
        x,
        groups,
        training["importance_repeats"],
        training["seed"],
    )
    found["scoring"] = "r2" if model.kind == "regression" else "accuracy"
    return evaluation, found
