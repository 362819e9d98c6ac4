"""A job made ready to train: its spec resolved, its data checked, split, weighted and
scaled (:func:`prepare`), which is also all that checking a job costs (:func:`validate`)."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from . import importance, warm
from .budget import check_size, check_work
from .data import Scaler, Targets, as_features, encode_targets, split
from .errors import SpecError
from .limits import DEFAULT_LIMITS, Limits
from .model import Model
from .preparation import Preparation, is_table
from .spec import resolve_spec
from .tabular import encode_weighted_table
from .weights import job_weights

Array = np.ndarray


def from_table(
    spec: Mapping | None, X, y, limits: Limits, sample_weight, preparation: Preparation | None
) -> tuple:
    """``(X, y, sample_weight, preparation)``: a table's preparation fitted and the table
    encoded (rows that ``missing: "drop_rows"`` drops leave ``y`` and the weights too);
    a matrix as it is."""
    if not is_table(X):
        return X, y, sample_weight, preparation
    preparation, X, y, sample_weight = encode_weighted_table(
        X, y, sample_weight, (spec or {}).get("data"), limits
    )
    return X, y, sample_weight, preparation


@dataclass
class Prepared:
    """A job's spec and data, checked, split, scaled and ready to train on.

    The encoded targets are built when first read: one-hot rows cost rows x classes,
    which checking a job (:func:`validate`) never needs.
    """

    spec: dict
    targets: Targets
    n_features: int
    x_scaler: Scaler
    y_scaler: Scaler | None
    x_train: Array
    train_rows: Array
    x_val: Array
    val_rows: Array
    init_rng: np.random.Generator
    shuffle_rng: np.random.Generator
    dropout_rng: np.random.Generator
    #: the input columns' names, and the raw features the importance shuffles
    feature_names: list[str] = field(default_factory=list)
    groups: dict[str, list[int]] = field(default_factory=dict)
    #: each row's weight, undivided (class x sample weight), or None without weights
    weights: Array | None = None

    @functools.cached_property
    def y_train(self) -> Array:
        return _encode(self.targets, self.train_rows, self.y_scaler)

    @functools.cached_property
    def y_val(self) -> Array:
        return _encode(self.targets, self.val_rows, self.y_scaler)

    def training_weights(self) -> tuple[Array | None, Array | None]:
        """The training and validation rows' weights divided by the training rows' mean
        (see :mod:`nn.weights`), or ``(None, None)``."""
        if self.weights is None:
            return None, None
        mean = self.weights[self.train_rows].mean()
        return self.weights[self.train_rows] / mean, self.weights[self.val_rows] / mean

    def summary(self) -> dict:
        """JSON-ready description of the data: sizes, output and classes."""
        return {
            "n_samples": len(self.x_train) + len(self.x_val),
            "n_features": self.n_features,
            "n_train": len(self.x_train),
            "n_val": len(self.x_val),
            "output": self.spec["output"],
            "kind": self.targets.kind,
            "classes": self.targets.classes,
        }


def prepare(
    spec: Mapping | None,
    X,
    y,
    limits: Limits = DEFAULT_LIMITS,
    sample_weight=None,
    init_model: Model | None = None,
    feature_names: Sequence[str] | None = None,
    groups: Mapping[str, Sequence[int]] | None = None,
    preparation: Preparation | None = None,
) -> Prepared:
    """Every check and transformation :func:`~nn.training.fit` makes before its first
    batch, on a matrix ``X`` (its parameters are :func:`~nn.training.fit`'s). A
    ``preparation`` names the input columns (``feature_names``) and makes each raw
    feature's columns one feature of the importance (``groups``) unless they are given.

    Raises
    ------
    SpecError
        The spec or the data breaks a rule; :class:`~nn.errors.LimitError` when the job
        is over a limit of its cost (see :mod:`nn.budget`).
    """
    resolved = resolve_spec(spec, limits)
    tr = resolved["training"]
    x_all = as_features(X)
    targets = encode_targets(y, len(x_all), resolved["output"], limits)
    resolved["output"] = targets.output
    if preparation is not None:
        if preparation.n_encoded != x_all.shape[1]:
            raise SpecError(
                "X", f"has {x_all.shape[1]} columns; the preparation makes {preparation.n_encoded}"
            )
        feature_names = preparation.encoded if feature_names is None else feature_names
        groups = preparation.groups() if groups is None else groups
    names = importance.feature_names(feature_names, x_all.shape[1])
    groups = importance.check_groups(groups, names)
    size = check_size(resolved, x_all.shape[1], targets.n_outputs, limits)

    split_rng, init_rng, shuffle_rng, dropout_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(tr["seed"]).spawn(4)
    )
    stratify = targets.labels if targets.kind in ("binary", "multiclass") else None
    train_idx, val_idx = split(len(x_all), tr["validation_split"], split_rng, stratify)

    shuffled = (len(val_idx) or len(train_idx)) * len(groups) * tr["importance_repeats"]
    check_work(tr, size, len(train_idx), len(val_idx), limits, shuffled)
    row_weights = job_weights(sample_weight, tr["class_weight"], targets, train_idx)

    if init_model is not None:
        warm.check(
            init_model.warm_description(),
            warm.describe(resolved, names, targets.kind, targets.classes, preparation),
        )
        x_scaler, y_scaler = init_model.x_scaler, init_model.y_scaler
    else:
        x_scaler = Scaler.fit(x_all, tr["standardize"], rows=train_idx)
        y_scaler = Scaler.fit(targets.encoded[train_idx]) if targets.kind == "regression" else None
    return Prepared(
        resolved,
        targets,
        x_all.shape[1],
        x_scaler,
        y_scaler,
        x_scaler.transform(x_all, rows=train_idx),
        train_idx,
        x_scaler.transform(x_all, rows=val_idx),
        val_idx,
        init_rng,
        shuffle_rng,
        dropout_rng,
        names,
        groups,
        row_weights,
    )


def validate(
    spec: Mapping | None, X, y, limits: Limits = DEFAULT_LIMITS, **data
) -> tuple[dict, dict]:
    """Check a job as :func:`~nn.training.fit` would, without training; ``X`` may be a
    table, and ``data`` takes :func:`~nn.training.fit`'s ``sample_weight``,
    ``init_model``, ``feature_names``, ``groups`` and ``preparation``.

    Returns
    -------
    spec : dict
        The resolved spec, output included.
    data : dict
        ``n_samples``, ``n_features``, ``n_train``, ``n_val``, ``output``, ``kind``,
        ``classes``.
    """
    X, y, weight, preparation = from_table(
        spec, X, y, limits, data.pop("sample_weight", None), data.pop("preparation", None)
    )
    p = prepare(spec, X, y, limits, weight, preparation=preparation, **data)
    return p.spec, p.summary()


def _encode(targets: Targets, rows: Array, y_scaler: Scaler | None) -> Array:
    if y_scaler is not None:
        return y_scaler.transform(targets.encoded[rows], field="y")
    return targets.rows(rows).astype(np.float32)
