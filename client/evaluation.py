"""A model's evaluation and feature importances, with their lists as NumPy arrays."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: the evaluation's single numbers, in the order they are shown
SCALARS = ("accuracy", "macro_f1", "weighted_f1", "log_loss", "roc_auc", "mae", "rmse", "r2")


def _array(value, dtype=float) -> np.ndarray | None:
    return None if value is None else np.asarray(value, dtype=dtype)


@dataclass
class Evaluation:
    """What a model is judged by (``GET /models/<ref>``'s ``evaluation`` and
    ``importance``).

    ``metrics`` holds the single numbers (``accuracy``, ``macro_f1``, ``weighted_f1``,
    ``log_loss`` and a binary model's ``roc_auc``; ``mae``, ``rmse`` and ``r2`` for
    regression). ``classes`` (k,), and ``precision``, ``recall``, ``f1`` and ``support``
    (k,) per class; ``confusion_matrix`` is (k, k), rows the true class and columns the
    predicted one, or (labels, 2, 2) for a multi-label model; ``roc_auc`` per label for a
    multi-label model. ``features`` (most important first), ``importance`` (mean fall of
    the score when the feature is shuffled) and ``importance_std`` (its spread over the
    repeats) are None when the model has no importances.
    """

    metrics: dict
    rows: str | None = None
    n_rows: int | None = None
    classes: np.ndarray | None = None
    precision: np.ndarray | None = None
    recall: np.ndarray | None = None
    f1: np.ndarray | None = None
    support: np.ndarray | None = None
    confusion_matrix: np.ndarray | None = None
    roc_auc: np.ndarray | None = None
    features: np.ndarray | None = None
    importance: np.ndarray | None = None
    importance_std: np.ndarray | None = None
    raw: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_model(cls, model: dict) -> Evaluation:
        ev = model.get("evaluation") or {}
        imp = model.get("importance") or {}
        auc = ev.get("roc_auc")
        per_label = isinstance(auc, list)
        return cls(
            metrics={
                k: ev[k]
                for k in SCALARS
                if isinstance(ev.get(k), int | float) and not (k == "roc_auc" and per_label)
            },
            rows=ev.get("rows"),
            n_rows=ev.get("n_rows"),
            classes=_array(ev.get("classes"), object),
            precision=_array(ev.get("precision")),
            recall=_array(ev.get("recall")),
            f1=_array(ev.get("f1")),
            support=_array(ev.get("support")),
            confusion_matrix=_array(ev.get("confusion_matrix")),
            # a label with one class present has no AUC: NaN in the array
            roc_auc=_array([np.nan if a is None else a for a in auc]) if per_label else None,
            features=_array(imp.get("features"), object),
            importance=_array(imp.get("mean")),
            importance_std=_array(imp.get("std")),
            raw={"evaluation": ev, "importance": imp or None},
        )
