"""Row weights: class weights (``training.class_weight``) times sample weights (a job's
``weight``, one per row).

A row's weight multiplies its loss and its gradient, and weights it in the validation
metrics and the model's evaluation. For training, the weights are divided by their mean
over the training rows, so that the loss keeps its scale and the learning rate its
meaning; the evaluation uses them undivided (a confusion matrix in the weights given).

``class_weight`` is ``"balanced"`` (each class weighted ``n / (k * n_c)`` over the
training rows, scikit-learn's rule, so every class carries the same total weight) or an
object from class to weight (classes left out weigh 1). Its keys are the classes as JSON
object keys are: strings, so the class ``1`` is ``"1"`` and ``true`` is ``"true"``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from .errors import SpecError

Array = np.ndarray
BALANCED = "balanced"
FIELD = "training.class_weight"


def resolve_class_weight(value, max_classes: int):
    """``training.class_weight`` as the spec keeps it: None, ``"balanced"`` or a dict of
    class key to positive weight (at most ``max_classes`` keys, as each must name a
    class); the keys are checked against the classes later (:func:`class_weights`)."""
    if value is None or value == BALANCED:
        return value
    if not isinstance(value, Mapping):
        raise SpecError(FIELD, f'must be "{BALANCED}" or an object from class to weight')
    if len(value) > max_classes:
        raise SpecError(
            FIELD,
            f"{len(value)} classes weighted; a target has at most {max_classes} classes",
            limit="max_classes",
        )
    out = {}
    for key, weight in value.items():
        if (
            isinstance(weight, bool)
            or not isinstance(weight, (int, float))
            or not math.isfinite(weight)
            or weight <= 0
        ):
            raise SpecError(f"{FIELD}.{key}", "must be a finite number > 0")
        out[str(key)] = float(weight)
    return out


def class_key(value) -> str:
    """A class as a JSON object key names it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def class_weights(rule, kind: str, classes: list | None, train_labels: Array | None) -> Array:
    """The weight of each class (k,), from a resolved ``class_weight``.

    Raises
    ------
    SpecError
        Class weights on a multi-label or regression target, or a key that is no class.
    """
    if kind not in ("binary", "multiclass"):
        raise SpecError(FIELD, f"applies to one label per row (binary or multiclass), not {kind}")
    k = len(classes)
    if rule == BALANCED:
        counts = np.bincount(train_labels, minlength=k).astype(np.float64)
        # a class absent from the training rows has no loss to weight
        return np.where(counts > 0, len(train_labels) / (k * np.maximum(counts, 1)), 1.0)
    keys = {class_key(c): i for i, c in enumerate(classes)}
    out = np.ones(k)
    for key, weight in rule.items():
        if key not in keys:
            listed = ", ".join(map(class_key, classes[:20]))
            raise SpecError(f"{FIELD}.{key}", f"no class {key!r}; the classes: {listed}")
        out[keys[key]] = weight
    return out


def check_sample_weight(weight, n_rows: int, field: str = "weight") -> Array:
    """``weight`` as float64 (n_rows,), or SpecError naming what is wrong.

    Weights must be finite numbers >= 0, one per row, and not all zero.
    """
    try:
        arr = np.asarray(weight)
    except ValueError:
        raise SpecError(field, "must be a list of numbers, one per row") from None
    if arr.dtype.kind not in "biuf" or arr.dtype.kind == "b" or arr.ndim != 1:
        raise SpecError(field, "must be a list of numbers, one per row")
    if len(arr) != n_rows:
        raise SpecError(field, f"has {len(arr)} values but X has {n_rows} rows")
    arr = arr.astype(np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        what = "missing" if np.isnan(arr[row]) else "not finite"
        raise SpecError(field, f"the weight of row {row} is {what}; weights are numbers >= 0")
    if (arr < 0).any():
        row = int(np.flatnonzero(arr < 0)[0])
        raise SpecError(
            field, f"the weight of row {row} is negative ({arr[row]:g}); weights are >= 0"
        )
    if not arr.any():
        raise SpecError(field, "every weight is 0: nothing to learn from")
    return arr


def job_weights(sample_weight, rule, targets, train_rows: Array) -> Array | None:
    """Each row's weight, undivided: ``sample_weight`` (checked) times the weight of its
    class under the resolved ``class_weight`` ``rule``; None when the job has neither.

    Raises
    ------
    SpecError
        Bad sample weights (:func:`check_sample_weight`), class weights that do not fit
        the target (:func:`class_weights`), or training rows whose weights are all 0.
    """
    n = len(targets.labels) if targets.labels is not None else targets.encoded.shape[0]
    if sample_weight is None and rule is None:
        return None
    w = np.ones(n) if sample_weight is None else check_sample_weight(sample_weight, n)
    if rule is not None:
        labels = targets.labels
        by_class = class_weights(
            rule, targets.kind, targets.classes, None if labels is None else labels[train_rows]
        )
        w *= by_class[labels]
    if not w[train_rows].any():
        raise SpecError("weight", "the training rows' weights are all 0: nothing to learn from")
    return w
