"""The metrics a model is judged by, in NumPy: what :func:`nn.fit` stores on the model as
its ``evaluation``, on the validation rows (or the training rows without a validation
split), each row weighted by its class and sample weight when the job has them.

Classification: ``accuracy``; per class ``precision``, ``recall``, ``f1`` and ``support``
(the rows, or their summed weights, of each class); ``macro_f1`` (the classes' mean) and
``weighted_f1`` (weighted by support); ``confusion_matrix`` (rows: true class, columns:
predicted, in the order of ``classes``; None over :data:`CONFUSION_MAX_CLASSES`
classes); ``log_loss``; and ``roc_auc`` for a binary
output. Multi-label outputs take each label as its own binary problem: ``accuracy`` is the
share of rows whose every label is right, ``confusion_matrix`` is one ``[[tn, fp], [fn,
tp]]`` per label, ``log_loss`` the mean over labels and ``roc_auc`` a list, one per label.
Regression: ``mae``, ``rmse`` and ``r2``, each the mean over the target's columns.

The definitions are scikit-learn's (``sklearn.metrics``): a precision or recall whose
denominator is zero is 0, a ROC AUC of a label with a single class present is None, an R²
of a constant column is 1 when predicted exactly and 0 otherwise. Log loss clips the
probabilities to ``[eps, 1 - eps]``, ``eps`` float64's machine epsilon.
"""

from __future__ import annotations

import numpy as np

Array = np.ndarray
_EPS = float(np.finfo(np.float64).eps)
#: the confusion matrix is kept up to this many classes (k x k values: 10,000 here, a
#: million at the 1,000 classes a job may have, which would bloat every model's record)
CONFUSION_MAX_CLASSES = 100


def _weights(n: int, sample_weight: Array | None) -> Array:
    return np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)


def _safe_div(num: Array, den: Array) -> Array:
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den != 0)


def confusion_matrix(
    y_true: Array, y_pred: Array, n_classes: int, sample_weight: Array | None = None
) -> Array:
    """Summed weights of rows by true class (rows) and predicted class (columns).

    Parameters
    ----------
    y_true, y_pred : ndarray of int, shape (n,)
        Class indices in ``[0, n_classes)``.
    n_classes : int
    sample_weight : ndarray, shape (n,), optional

    Returns
    -------
    ndarray, shape (n_classes, n_classes)
        float64 (whole numbers without weights).
    """
    w = _weights(len(y_true), sample_weight)
    flat = np.bincount(
        np.asarray(y_true) * n_classes + np.asarray(y_pred), weights=w, minlength=n_classes**2
    )
    return flat.reshape(n_classes, n_classes)


def _scores(cm: Array) -> dict:
    """Per-class precision, recall, F1 and support, and their averages, from ``cm``."""
    tp = np.diag(cm)
    support, predicted = cm.sum(axis=1), cm.sum(axis=0)
    precision, recall = _safe_div(tp, predicted), _safe_div(tp, support)
    f1 = _safe_div(2 * tp, support + predicted)
    total = support.sum()
    return {
        "precision": precision.tolist(),
        "recall": recall.tolist(),
        "f1": f1.tolist(),
        "support": support.tolist(),
        "macro_f1": float(f1.mean()),
        "weighted_f1": float(np.dot(f1, support) / total) if total else 0.0,
    }


def roc_auc(y_true: Array, score: Array, sample_weight: Array | None = None) -> float | None:
    """Area under the ROC curve of ``score`` (n,) for 0/1 ``y_true`` (n,): the chance that
    a positive row scores above a negative one, ties counting a half (the trapezoids of
    the curve through every distinct score). None when a class is absent."""
    y = np.asarray(y_true) > 0.5
    w = _weights(len(y), sample_weight)
    w_pos, w_neg = float(w[y].sum()), float(w[~y].sum())
    if w_pos == 0 or w_neg == 0:
        return None
    order = np.argsort(score, kind="stable")
    s, pos, neg = np.asarray(score)[order], np.where(y, w, 0.0)[order], np.where(y, 0.0, w)[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    pos_g, neg_g = np.add.reduceat(pos, starts), np.add.reduceat(neg, starts)
    neg_below = np.cumsum(neg_g) - neg_g
    return float(np.dot(pos_g, neg_below + 0.5 * neg_g) / (w_pos * w_neg))


def log_loss(y_true: Array, proba: Array, sample_weight: Array | None = None) -> float:
    """Weighted mean cross-entropy of probabilities against the truth.

    Parameters
    ----------
    y_true : ndarray of int, shape (n,)
        Class indices into the columns of ``proba``.
    proba : ndarray, shape (n, n_classes)
        Rows summing to 1.
    """
    w = _weights(len(y_true), sample_weight)
    p = np.clip(np.asarray(proba, dtype=np.float64), _EPS, 1 - _EPS)
    p = p / p.sum(axis=1, keepdims=True)
    picked = p[np.arange(len(y_true)), np.asarray(y_true)]
    return float(-np.dot(w, np.log(picked)) / w.sum())


def classification(
    kind: str,
    y_true: Array,
    proba: Array,
    classes: list,
    threshold: float = 0.5,
    sample_weight: Array | None = None,
) -> dict:
    """The classification metrics of the module's docstring.

    Parameters
    ----------
    kind : str
        ``binary``, ``multiclass`` or ``multilabel``.
    y_true : ndarray
        Binary: 0/1, shape (n,); multiclass: class indices, shape (n,); multilabel: 0/1,
        shape (n, n_labels).
    proba : ndarray
        Binary: the second class's probability, shape (n,); multiclass: shape (n,
        n_classes); multilabel: shape (n, n_labels).
    classes : list
        The class values (or label indices), JSON-ready, in column order.
    threshold : float
        Binary and multilabel: ``p >= threshold`` predicts the positive class.
    sample_weight : ndarray, shape (n,), optional

    Returns
    -------
    dict
        JSON-ready.
    """
    w = _weights(len(y_true), sample_weight)
    proba = np.asarray(proba, dtype=np.float64)
    if kind == "multilabel":
        return _multilabel(np.asarray(y_true) > 0.5, proba, classes, threshold, w)
    if kind == "binary":
        truth = (np.asarray(y_true) > 0.5).astype(np.int64)
        pred = (proba >= threshold).astype(np.int64)
        two = np.column_stack([1 - proba, proba])
    else:
        truth, pred, two = np.asarray(y_true, dtype=np.int64), proba.argmax(axis=1), proba
    cm = confusion_matrix(truth, pred, len(classes), w)
    out = {
        "classes": list(classes),
        "accuracy": float(np.trace(cm) / w.sum()),
        **_scores(cm),
        "confusion_matrix": cm.tolist() if len(classes) <= CONFUSION_MAX_CLASSES else None,
        "log_loss": log_loss(truth, two, w),
    }
    if kind == "binary":
        out["roc_auc"] = roc_auc(truth, proba, w)
    return out


def _multilabel(truth: Array, proba: Array, labels: list, threshold: float, w: Array) -> dict:
    pred = proba >= threshold
    tp = (w[:, None] * (truth & pred)).sum(axis=0)
    fp = (w[:, None] * (~truth & pred)).sum(axis=0)
    fn = (w[:, None] * (truth & ~pred)).sum(axis=0)
    tn = (w[:, None] * (~truth & ~pred)).sum(axis=0)
    support, predicted = tp + fn, tp + fp
    f1 = _safe_div(2 * tp, support + predicted)
    total = support.sum()
    p = np.clip(proba, _EPS, 1 - _EPS)
    bce = -(truth * np.log(p) + ~truth * np.log1p(-p))
    return {
        "classes": list(labels),
        "accuracy": float(np.dot(w, np.all(truth == pred, axis=1)) / w.sum()),
        "precision": _safe_div(tp, predicted).tolist(),
        "recall": _safe_div(tp, support).tolist(),
        "f1": f1.tolist(),
        "support": support.tolist(),
        "macro_f1": float(f1.mean()),
        "weighted_f1": float(np.dot(f1, support) / total) if total else 0.0,
        "confusion_matrix": [
            [[float(tn[j]), float(fp[j])], [float(fn[j]), float(tp[j])]] for j in range(len(tp))
        ],
        "log_loss": float((w @ bce / w.sum()).mean()),
        "roc_auc": [roc_auc(truth[:, j], proba[:, j], w) for j in range(truth.shape[1])],
    }


def regression(y_true: Array, y_pred: Array, sample_weight: Array | None = None) -> dict:
    """``mae``, ``rmse`` and ``r2`` of ``y_pred`` against ``y_true``, both (n,) or (n,
    n_outputs) in the targets' units; each the mean over the outputs."""
    y = np.asarray(y_true, dtype=np.float64).reshape(len(y_true), -1)
    z = np.asarray(y_pred, dtype=np.float64).reshape(len(y_pred), -1)
    w = _weights(len(y), sample_weight)
    total = w.sum()
    d = z - y
    mae = w @ np.abs(d) / total
    mse = w @ (d * d) / total
    mean = w @ y / total
    sst = w @ ((y - mean) ** 2)
    sse = w @ (d * d)
    r2 = np.where(sst != 0, 1 - _safe_div(sse, sst), np.where(sse == 0, 1.0, 0.0))
    return {
        "mae": float(mae.mean()),
        "rmse": float(np.sqrt(mse).mean()),
        "r2": float(r2.mean()),
    }
