"""The training loop: mini-batches, dropout, validation, early stopping, history."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from . import importance, warm
from .budget import check_size, check_work
from .data import Scaler, Targets, as_features, encode_targets, split
from .diagnostics import Recorder
from .errors import TrainingError
from .evaluate import evaluate
from .history import History, Scorer
from .limits import DEFAULT_LIMITS, Limits
from .losses import OUTPUTS
from .lr_finder import find_learning_rate
from .model import Model, build_network
from .optimizers import OPTIMIZERS
from .schedules import Schedule
from .spec import AUTO, DEFAULT_LEARNING_RATE, resolve_spec
from .stopping import Stopper
from .weights import job_weights

Array = np.ndarray
Callback = Callable[[dict], "bool | None"]


def fit(
    spec: Mapping | None,
    X,
    y,
    callback: Callback | None = None,
    *,
    limits: Limits = DEFAULT_LIMITS,
    sample_weight=None,
    init_model: Model | None = None,
    feature_names: Sequence[str] | None = None,
    groups: Mapping[str, Sequence[int]] | None = None,
) -> tuple[Model, History]:
    """Train a network as a job spec describes.

    Parameters
    ----------
    spec : mapping or None
        The job spec (``layers``, ``activation``, ``output``, ``training``; all optional).
    X : array-like, shape (n_samples, n_features)
    y : array-like, shape (n_samples,) or (n_samples, n_outputs)
        Class labels (ints, strings or bools), a 0/1 label matrix, or regression targets.
    callback : callable, optional
        Called with a dict after every batch (``{"event": "batch", "epoch", "epochs",
        "batch", "batches"}``) and every epoch (``{"event": "epoch", "epoch", "epochs",
        "loss", "val_loss", "metrics", "learning_rate", "best_epoch", "diagnostics"}``,
        where ``diagnostics`` is the epoch's row per hidden layer, see
        :func:`nn.diagnostics.extend`, or None when switched off). Returning ``False`` stops
        training (the best epoch so far is kept); raising aborts it.
    limits : Limits
    sample_weight : array-like, shape (n_samples,), optional
        Each row's weight (finite, >= 0), multiplied by its class's weight
        (``training.class_weight``), see :mod:`nn.weights`.
    init_model : Model, optional
        A warm start: training starts from this model's weights and keeps its input and
        target scaling; the job must match it (:mod:`nn.warm`).
    feature_names : sequence of str, optional
        The input columns' names (default ``x0``, ``x1``, ...), kept on the model.
    groups : mapping of str to sequence of int, optional
        The raw features of the permutation importance and their input columns (default:
        one per column, named by ``feature_names``), see :mod:`nn.importance`.

    Returns
    -------
    model : Model
        With the weights of the best epoch, ``model.spec`` fully resolved, and its
        ``evaluation`` and ``importance`` (:mod:`nn.evaluate`).
    history : History

    Raises
    ------
    SpecError
        The spec or the data breaks a rule.
    TrainingError
        The loss became NaN or infinite.
    """
    p = prepare(spec, X, y, limits, sample_weight, init_model, feature_names, groups)
    tr = p.spec["training"]
    net = build_network(p.spec, p.n_features, p.targets.n_outputs)
    if init_model is None:
        net.initialize(p.init_rng, tr["init"])
    else:
        net.params[...] = init_model.network.params
    opt_cls = OPTIMIZERS[tr["optimizer"]]
    settings = {k: tr[k] for k in opt_cls.params}
    y_scale = None if p.y_scaler is None else p.y_scaler.scale
    scorer = Scorer(p.targets.kind, tr["threshold"], y_scale)
    uses_dropout = any(layer.dropout for layer in net.layers)
    # a diverging run overflows before its loss turns non-finite; that is reported as a
    # TrainingError naming the epoch, so NumPy's own warnings would only repeat it
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        rate, search = tr["learning_rate"], None
        if rate == AUTO:
            search = find_learning_rate(
                net,
                lambda r: opt_cls(r, **settings),
                p.x_train,
                p.y_train,
                tr["batch_size"],
                np.random.default_rng(np.random.SeedSequence(tr["seed"]).spawn(5)[4]),
                tr["l2"],
                tr["clip_norm"],
                DEFAULT_LEARNING_RATE,
            )
            rate = search["learning_rate"]
        optimizer = opt_cls(rate, **settings)
        history = _train(
            net,
            optimizer,
            scorer,
            tr,
            (p.x_train, p.y_train, p.x_val, p.y_val),
            p.training_weights(),
            p.dropout_rng if uses_dropout else None,
            p.shuffle_rng,
            callback,
            Schedule(tr["schedule"], rate, tr["epochs"]),
        )
    history.lr_finder = search
    history.val_rows = p.val_rows
    history.context = {"spec": p.spec, "learning_rate": rate, "chance": _chance(p)}
    best = history.best_epoch - 1
    metrics = {k: v[best] for k, v in history.series.items() if k != "learning_rate"}
    model = Model(
        p.spec,
        net,
        p.n_features,
        p.targets.kind,
        p.x_scaler,
        p.targets.classes,
        p.y_scaler,
        p.targets.squeeze,
        metrics,
        feature_names=p.feature_names,
    )
    on_val = len(p.val_rows) > 0
    rows, x = (p.val_rows, p.x_val) if on_val else (p.train_rows, p.x_train)
    model.evaluation, model.importance = evaluate(
        model, x, rows, on_val, p.targets, p.weights, p.groups
    )
    return model, history


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
) -> Prepared:
    """Every check and transformation :func:`fit` makes before its first batch (its
    parameters are :func:`fit`'s).

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
    names = importance.feature_names(feature_names, x_all.shape[1])
    groups = importance.check_groups(groups, names)
    weights = check_size(resolved, x_all.shape[1], targets.n_outputs, limits)

    split_rng, init_rng, shuffle_rng, dropout_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(tr["seed"]).spawn(4)
    )
    stratify = targets.labels if targets.kind in ("binary", "multiclass") else None
    train_idx, val_idx = split(len(x_all), tr["validation_split"], split_rng, stratify)

    shuffled = (len(val_idx) or len(train_idx)) * len(groups) * tr["importance_repeats"]
    check_work(tr, weights, len(train_idx), len(val_idx), limits, shuffled)
    row_weights = job_weights(sample_weight, tr["class_weight"], targets, train_idx)

    if init_model is not None:
        warm.check(
            init_model.warm_description(),
            warm.describe(resolved, names, targets.kind, targets.classes),
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
    """Check a job as :func:`fit` would, without training; ``data`` takes :func:`fit`'s
    ``sample_weight``, ``init_model``, ``feature_names`` and ``groups``.

    Returns
    -------
    spec : dict
        The resolved spec, output included.
    data : dict
        ``n_samples``, ``n_features``, ``n_train``, ``n_val``, ``output``, ``kind``,
        ``classes``.
    """
    p = prepare(spec, X, y, limits, **data)
    return p.spec, p.summary()


def _chance(p: Prepared) -> float | None:
    """Accuracy of always answering the largest class of the training rows."""
    if p.targets.kind == "binary":
        share = float(p.y_train.mean()) if len(p.y_train) else 0.5
        return max(share, 1 - share)
    if p.targets.kind == "multiclass":
        return float(p.y_train.mean(axis=0).max()) if len(p.y_train) else None
    return None


def _encode(targets: Targets, rows: Array, y_scaler: Scaler | None) -> Array:
    if y_scaler is not None:
        return y_scaler.transform(targets.encoded[rows], field="y")
    return targets.rows(rows).astype(np.float32)


#: batches of at least this many rows are gathered from the training set one by one
GATHER_BATCH = 128


def _train(
    net,
    optimizer,
    scorer: Scorer,
    tr: Mapping,
    arrays,
    row_weights,
    dropout_rng,
    shuffle_rng,
    callback,
    schedule: Schedule,
) -> History:
    x_train, y_train, x_val, y_val = arrays
    w_train, w_val = (None if w is None else w.astype(net.dtype) for w in row_weights)
    history = History()
    n, epochs = len(x_train), tr["epochs"]
    batch_size = min(tr["batch_size"], n)
    n_batches = math.ceil(n / batch_size)
    l2, clip = tr["l2"], tr["clip_norm"]
    has_val = len(x_val) > 0
    loss_fn = OUTPUTS[net.output.name].loss

    recorder = Recorder(net, x_train) if tr["diagnostics"] else None
    if recorder is not None:
        history.diagnostics = recorder.series
    # Small batches read slices of a shuffled copy of the training set, made once an epoch:
    # gathering each batch's rows costs a few microseconds a call, a real share of a small
    # step. From GATHER_BATCH rows up that cost is lost in the step, and gathering per
    # batch saves holding that copy of the data through training.
    gather = batch_size >= GATHER_BATCH
    if not gather:
        x_buf, y_buf = np.empty_like(x_train), np.empty_like(y_train)
        w_buf = None if w_train is None else np.empty_like(w_train)
    wb = None
    # the weights' sums: what the epoch's loss and metrics are averaged over
    n_total = n if w_train is None else float(w_train.sum(dtype=np.float64))
    val_total = len(x_val) if w_val is None else float(w_val.sum(dtype=np.float64))
    best_params = net.params.copy()
    stopper = Stopper(tr["early_stopping"])

    for epoch in range(1, epochs + 1):
        optimizer.learning_rate = rate = schedule.rate(epoch)
        order = shuffle_rng.permutation(n)
        if not gather:
            np.take(x_train, order, axis=0, out=x_buf)
            np.take(y_train, order, axis=0, out=y_buf)
            if w_buf is not None:
                np.take(w_train, order, out=w_buf)
        loss_total, stats = 0.0, 0.0
        for b in range(n_batches):
            if gather:
                rows = order[b * batch_size : (b + 1) * batch_size]
                xb, yb = x_train.take(rows, axis=0), y_train.take(rows, axis=0)
                if w_train is not None:
                    wb = w_train.take(rows)
            else:
                xb = x_buf[b * batch_size : (b + 1) * batch_size]
                yb = y_buf[b * batch_size : (b + 1) * batch_size]
                if w_buf is not None:
                    wb = w_buf[b * batch_size : (b + 1) * batch_size]
            loss_sum, z = net.train_batch(xb, yb, l2, dropout_rng, wb)
            if not math.isfinite(loss_sum):
                raise TrainingError(
                    f"training diverged: the loss became {loss_sum} in epoch {epoch} "
                    f"(batch {b + 1} of {n_batches}); try a smaller learning_rate (it is "
                    f"{tr['learning_rate']}), training.standardize = true, or clip_norm",
                    epoch,
                )
            stats = stats + scorer.batch(z, yb, wb)
            if recorder is not None:
                recorder.gradients(net.gW)
            if clip is not None:
                norm = math.sqrt(float(np.vdot(net.grads, net.grads)))
                if norm > clip:
                    net.grads *= net.dtype.type(clip / norm)
            optimizer.step(net.params, net.grads)
            loss_total += loss_sum
            if (
                callback is not None
                and callback(
                    {
                        "event": "batch",
                        "epoch": epoch,
                        "epochs": epochs,
                        "batch": b + 1,
                        "batches": n_batches,
                    }
                )
                is False
            ):
                history.stop_reason = "callback"
                break
        if history.stop_reason == "callback" and b + 1 < n_batches:
            break  # a partial epoch is not recorded; the best full epoch is kept

        layer_rows = None if recorder is None else recorder.end_epoch()
        row = {"loss": loss_total / n_total, **scorer.result(stats, n_total, y_train, w=w_train)}
        if has_val:
            z_val = net.logits(x_val)
            row["val_loss"] = loss_fn(z_val, y_val, w_val)[0] / val_total
            val_stats = scorer.batch(z_val, y_val, w_val)
            row.update(scorer.result(val_stats, val_total, y_val, "val_", w_val))
            if not math.isfinite(row["val_loss"]):
                raise TrainingError(
                    f"training diverged: the validation loss became {row['val_loss']} in "
                    f"epoch {epoch}; try a smaller learning_rate (it is "
                    f"{tr['learning_rate']}) or clip_norm",
                    epoch,
                )
        history.append({**row, "learning_rate": rate})

        monitored = row["val_loss" if has_val else "loss"]
        schedule.observe(monitored)
        improved, stop = stopper.update(epoch, monitored)
        if improved:
            history.best_epoch = epoch
            np.copyto(best_params, net.params)

        if (
            callback is not None
            and callback(
                {
                    "event": "epoch",
                    "epoch": epoch,
                    "epochs": epochs,
                    "loss": row["loss"],
                    "val_loss": row.get("val_loss"),
                    "metrics": {k: v for k, v in row.items() if k not in ("loss", "val_loss")},
                    "learning_rate": rate,
                    "best_epoch": history.best_epoch,
                    "diagnostics": layer_rows,
                }
            )
            is False
        ):
            history.stop_reason = "callback"
        if history.stop_reason == "callback":
            break
        if stop:
            history.stop_reason = "early_stopping"
            break

    if history.best_epoch == 0:
        raise TrainingError("training was stopped before its first epoch ended", 0)
    np.copyto(net.params, best_params)
    return history
