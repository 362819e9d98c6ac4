"""Data preparation that travels with the model.

Inputs are checked and standardized (constant columns are left centred, not divided by
zero); targets are encoded for the output they go with (class labels -> indices and
one-hot rows, 0/1 label matrices, regression targets standardized) and decoded back at
prediction. Everything here is fitted on the training rows only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import SpecError
from .limits import DEFAULT_LIMITS, Limits

Array = np.ndarray
_F32_MAX = float(np.finfo(np.float32).max)


def as_features(X, field: str = "X", n_features: int | None = None) -> Array:
    """Check ``X`` and return it as a float64 array of shape (n_samples, n_features).

    Raises
    ------
    SpecError
        Ragged rows, non-numbers, the wrong number of dimensions or features, no rows,
        or a NaN or infinite value (its row and column are named).
    """
    try:
        arr = np.asarray(X)
    except ValueError:
        raise SpecError(field, "rows must all have the same length") from None
    if arr.dtype.kind not in "biuf":
        raise SpecError(field, "must hold only numbers (found text, nulls or nested lists)")
    if arr.ndim != 2:
        raise SpecError(field, f"must be 2-D, a list of rows (got {arr.ndim} dimension(s))")
    if arr.shape[0] == 0:
        raise SpecError(field, "has no rows")
    if arr.shape[1] == 0:
        raise SpecError(field, "rows have no features")
    if n_features is not None and arr.shape[1] != n_features:
        raise SpecError(field, f"rows have {arr.shape[1]} features; the model takes {n_features}")
    arr = arr.astype(np.float64, copy=False)
    finite = np.isfinite(arr)
    if not finite.all():
        row, col = np.argwhere(~finite)[0]
        raise SpecError(field, f"non-finite value {arr[row, col]} at row {row}, column {col}")
    return arr


#: rows scaled at a time: float64 temporaries stay a few MiB whatever the data's size
CHUNK = 16384


@dataclass
class Scaler:
    """Per-column affine map ``(x - mean) / scale``; shapes (n_columns,)."""

    mean: Array
    scale: Array

    @classmethod
    def fit(cls, x: Array, enabled: bool = True, rows: Array | None = None) -> Scaler:
        """Fit on ``x`` (n, d), or on its ``rows`` only, without copying them whole."""
        n = len(x) if rows is None else len(rows)
        if not enabled:
            return cls(np.zeros(x.shape[1]), np.ones(x.shape[1]))
        mean = sum(_chunk(x, rows, s).sum(axis=0) for s in range(0, n, CHUNK)) / n
        # two passes: the variance around the mean, not E[x^2] - E[x]^2, which cancels
        # catastrophically for columns far from zero
        var = sum(((_chunk(x, rows, s) - mean) ** 2).sum(axis=0) for s in range(0, n, CHUNK)) / n
        std = np.sqrt(var)
        # a constant column's std is 0, or rounding noise relative to its mean
        constant = std <= 1e-12 * np.maximum(np.abs(mean), 1e-300)
        return cls(mean, np.where(constant, 1.0, std))

    def transform(
        self, x: Array, dtype=np.float32, field: str = "X", rows: Array | None = None
    ) -> Array:
        """Scaled ``x`` (or its ``rows``) as ``dtype``, built chunk by chunk."""
        n = len(x) if rows is None else len(rows)
        if n <= CHUNK:
            # one chunk (a prediction's few rows, say): no output array to copy into
            return self._scaled(x if rows is None else x[rows], field).astype(dtype)
        out = np.empty((n, x.shape[1]), dtype)
        for s in range(0, n, CHUNK):
            out[s : s + CHUNK] = self._scaled(_chunk(x, rows, s), field)
        return out

    def _scaled(self, part: Array, field: str) -> Array:
        # values that overflow become infinite and are refused just below, by name
        with np.errstate(over="ignore"):
            part = part - self.mean
            part /= self.scale
        if part.size and max(part.max(), -part.min()) > _F32_MAX / 16:
            raise SpecError(
                field, "values too large for float32 arithmetic; use training.standardize = true"
            )
        return part

    def inverse(self, x: Array) -> Array:
        return x.astype(np.float64) * self.scale + self.mean


def _chunk(x: Array, rows: Array | None, start: int) -> Array:
    return x[start : start + CHUNK] if rows is None else x[rows[start : start + CHUNK]]


@dataclass
class Targets:
    """Targets encoded for training.

    Attributes
    ----------
    output : str
        ``sigmoid``, ``softmax`` or ``linear``.
    kind : str
        ``binary``, ``multilabel``, ``multiclass`` or ``regression``.
    encoded : ndarray, shape (n_samples, n_outputs), float64, or None
        0/1 columns or raw regression targets; None for multiclass, whose one-hot rows
        (:meth:`rows`) would cost rows x classes when only a job's check needs none.
    classes : list or None
        JSON-ready class values (binary, multiclass) or label indices (multilabel).
    labels : ndarray of int, shape (n_samples,), or None
        Class index per row, for stratified splitting.
    squeeze : bool
        Regression targets given as one column (1-D): predictions are 1-D too.
    """

    output: str
    kind: str
    encoded: Array | None
    classes: list | None = None
    labels: Array | None = None
    squeeze: bool = False

    @property
    def n_outputs(self) -> int:
        return len(self.classes) if self.encoded is None else self.encoded.shape[1]

    def rows(self, rows: Array) -> Array:
        """The encoded targets of ``rows``, shape (len(rows), n_outputs), float64."""
        if self.encoded is not None:
            return self.encoded[rows]
        onehot = np.zeros((len(rows), self.n_outputs))
        onehot[np.arange(len(rows)), self.labels[rows]] = 1.0
        return onehot


_FLOAT_LABELS = (
    "float labels with a classification output; class labels must be ints, strings or "
    "booleans (or set output to 'linear' for regression)"
)


def encode_targets(
    y, n_rows: int, output: str | None = None, limits: Limits = DEFAULT_LIMITS
) -> Targets:
    """Check ``y`` against ``n_rows`` rows and encode it for ``output`` (inferred if None).

    Inference follows the contract: two classes -> sigmoid, more -> softmax, a 0/1
    matrix -> sigmoid (multi-label), real numbers -> linear.
    """
    try:
        arr = np.asarray(y)
    except ValueError:
        raise SpecError("y", "rows must all have the same length") from None
    if arr.ndim == 0 or arr.ndim > 2:
        raise SpecError(
            "y",
            "must be a list of labels or targets, or a matrix with one row "
            f"per sample (got {arr.ndim} dimensions)",
        )
    if arr.shape[0] != n_rows:
        raise SpecError("y", f"has {arr.shape[0]} rows but X has {n_rows}")
    text = _is_text(arr)
    if arr.dtype.kind not in "biuf" and not text:
        raise SpecError("y", "must hold only numbers, strings or booleans, all of one type")
    if arr.ndim == 2 and arr.shape[1] == 0:
        raise SpecError("y", "rows have no columns")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        row = int(np.argwhere(~np.isfinite(arr))[0][0])
        raise SpecError("y", f"non-finite value at row {row}")
    single_column = arr.ndim == 2 and arr.shape[1] == 1
    if single_column and not (output == "linear" or (output is None and arr.dtype.kind == "f")):
        # a column of labels is a list of labels; a column of values stays a 1-column target
        arr = arr[:, 0]

    if arr.ndim == 2:
        return _encode_matrix(arr, output, text, limits)
    if output == "linear" or (output is None and arr.dtype.kind == "f"):
        if text:
            raise SpecError("y", "a linear (regression) output needs numeric targets")
        return Targets("linear", "regression", arr.astype(np.float64)[:, None], squeeze=True)
    if arr.dtype.kind == "f":
        if not np.all(arr == np.round(arr)):
            raise SpecError("y", _FLOAT_LABELS)
        arr = arr.astype(np.int64)
    return _encode_classes(arr, output, limits)


def _encode_classes(arr: Array, output: str | None, limits: Limits) -> Targets:
    classes, labels = np.unique(arr, return_inverse=True)
    labels = labels.reshape(-1)
    k = len(classes)
    if k < 2:
        raise SpecError(
            "y", f"only one class ({classes[0].item()!r}); classification needs at least two"
        )
    if k > limits.max_classes:
        raise SpecError(
            "y", f"{k} distinct classes; at most {limits.max_classes}", limit="max_classes"
        )
    if output is None:
        output = "sigmoid" if k == 2 else "softmax"
    if output == "sigmoid" and k > 2:
        raise SpecError(
            "output",
            f"sigmoid takes two classes (or a 0/1 label matrix); y has {k} classes: use softmax",
        )
    class_list = classes.tolist()
    if output == "sigmoid":
        return Targets("sigmoid", "binary", labels[:, None].astype(np.float64), class_list, labels)
    return Targets("softmax", "multiclass", None, class_list, labels)


def _is_text(arr: Array) -> bool:
    """Strings: a NumPy string array, or an object array of ``str`` (whose cost, unlike a
    fixed-width array's, does not grow with the longest label)."""
    if arr.dtype.kind in "US":
        return True
    return arr.dtype.kind == "O" and set(map(type, arr.ravel().tolist())) == {str}


def _encode_matrix(arr: Array, output: str | None, text: bool, limits: Limits) -> Targets:
    # a column is an output unit, labels or values alike: it costs what a class costs
    if arr.shape[1] > limits.max_classes:
        raise SpecError(
            "y",
            f"{arr.shape[1]} columns (labels or regression targets); at most {limits.max_classes}",
            limit="max_classes",
        )
    if output == "softmax":
        raise SpecError(
            "y",
            "softmax takes one label per row (a list); a matrix is "
            "multi-label (sigmoid) or several regression targets (linear)",
        )
    if text:
        raise SpecError(
            "y",
            "a target matrix must hold numbers: 0/1 per label (multi-label) or values (regression)",
        )
    values = arr.astype(np.float64)
    binary = bool(np.isin(values, (0.0, 1.0)).all())
    if output == "linear" or (output is None and not binary):
        return Targets("linear", "regression", values)
    if not binary:
        raise SpecError("y", "a multi-label (sigmoid) target matrix must hold only 0 and 1")
    return Targets("sigmoid", "multilabel", values, list(range(values.shape[1])))


def split(
    n: int, fraction: float, rng: np.random.Generator, labels: Array | None = None
) -> tuple[Array, Array]:
    """Split row indices into training and validation sets.

    Stratified by ``labels`` when given: each class keeps its share in both sets, and at
    least one row of every class stays in training.

    Returns
    -------
    train, val : ndarray of int
    """
    if fraction == 0:
        return rng.permutation(n), np.empty(0, dtype=np.int64)
    n_val = min(round(n * fraction), n - 1)
    if labels is None:
        perm = rng.permutation(n)
        val, train = perm[:n_val], perm[n_val:]
    else:
        counts = np.bincount(labels)
        quota = _allocate(n_val, counts * fraction, counts - 1)
        train_parts, val_parts = [], []
        for c, k in enumerate(quota):
            rows = rng.permutation(np.flatnonzero(labels == c))
            val_parts.append(rows[:k])
            train_parts.append(rows[k:])
        train = rng.permutation(np.concatenate(train_parts))
        val = np.sort(np.concatenate(val_parts))
    if len(val) == 0:
        raise SpecError(
            "training.validation_split",
            f"{fraction} of {n} rows leaves no validation rows; send more rows or set "
            "validation_split to 0",
        )
    return train, val


def _allocate(total: int, shares: Array, caps: Array) -> list[int]:
    """Split ``total`` into integers near ``shares`` (largest remainder), each <= its cap."""
    quota = np.minimum(np.floor(shares).astype(np.int64), caps)
    order = np.argsort(-(shares - np.floor(shares)), kind="stable")
    while quota.sum() < total and (quota < caps).any():
        for c in order:
            if quota.sum() < total and quota[c] < caps[c]:
                quota[c] += 1
    return quota.tolist()
