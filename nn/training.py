"""The training loop: mini-batches, dropout, validation, early stopping, history."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext

import numpy as np

from .diagnostics import Recorder
from .errors import TrainingError
from .evaluate import evaluate
from .history import History, Scorer
from .limits import DEFAULT_LIMITS, Limits
from .losses import OUTPUTS
from .lr_finder import find_learning_rate
from .model import Model, build_network
from .optimizers import OPTIMIZERS
from .preparation import Preparation
from .prepared import Prepared, from_table, prepare, validate
from .schedules import Schedule
from .spec import AUTO, DEFAULT_LEARNING_RATE
from .stopping import Stopper
from .threads import PAIRED_PRODUCT, SINGLE_THREAD_PRODUCT, blas_threads, blas_threads_at_most

__all__ = ["GATHER_BATCH", "History", "Prepared", "fit", "prepare", "validate"]

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
    preparation: Preparation | None = None,
) -> tuple[Model, History]:
    """Train a network as a job spec describes.

    Parameters
    ----------
    spec : mapping or None
        The job spec (``layers``, ``activation``, ``output``, ``training``; all optional).
    X : array-like, shape (n_samples, n_features), or a table
        A matrix of numbers, or a table (a mapping of column name to values, or a list
        of row mappings) of numeric, categorical and missing values, prepared as
        :mod:`nn.preparation` says under the options in ``spec["data"]``; the model
        keeps its preparation and predicts from raw rows.
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
        (``training.class_weight``), see :mod:`nn.weights`. Never a feature: a table's
        weights follow its rows, not its columns.
    init_model : Model, optional
        A warm start: training starts from this model's weights and keeps its input and
        target scaling; the job must match it, its preparation included (:mod:`nn.warm`).
    feature_names : sequence of str, optional
        The input columns' names (default: the preparation's encoded columns, else ``x0``,
        ``x1``, ...), kept on the model.
    groups : mapping of str to sequence of int, optional
        The raw features of the permutation importance and their input columns (default:
        the preparation's :meth:`~nn.preparation.Preparation.groups`, so a categorical
        column's one-hot columns are shuffled together; else one per column, named by
        ``feature_names``), see :mod:`nn.importance`.
    preparation : Preparation, optional
        The preparation that made the matrix ``X`` from a table (as
        :func:`nn.tabular.encode_table` returns it); the model keeps it.

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
    X, y, sample_weight, preparation = from_table(spec, X, y, limits, sample_weight, preparation)
    p = prepare(spec, X, y, limits, sample_weight, init_model, feature_names, groups, preparation)
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
    single = _training_threads(net, tr["batch_size"])
    pairing = _pairing(net, tr["batch_size"], single)
    threads = blas_threads_at_most(single)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"), threads, pairing:
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
        try:
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
        finally:
            net.release_scratch()
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
        preparation,
        feature_names=p.feature_names,
    )
    on_val = len(p.val_rows) > 0
    rows, x = (p.val_rows, p.x_val) if on_val else (p.train_rows, p.x_train)
    model.evaluation, model.importance = evaluate(
        model, x, rows, on_val, p.targets, p.weights, p.groups
    )
    return model, history


def _largest_product(shapes, batch_size: int) -> int:
    """Multiply-adds of the largest of a batch's products with weights of ``shapes``."""
    return max((rows * cols for rows, cols in shapes), default=0) * batch_size


def _training_threads(net, batch_size: int) -> int | None:
    """BLAS threads for training: one when even the largest product of a step is small
    (:data:`nn.threads.SINGLE_THREAD_PRODUCT`), else None: as many as are set."""
    return 1 if _largest_product(net.shapes, batch_size) < SINGLE_THREAD_PRODUCT else None


def _pairing(net, batch_size: int, single: int | None):
    """Backpropagation's paired products (:meth:`Network.pair_products`) when training
    runs on one BLAS thread of several it could use, and some layer is large enough
    (:data:`nn.threads.PAIRED_PRODUCT`); else nothing."""
    spare = single == 1 and (blas_threads() or 1) >= 2
    # the first layer's weights have no layer below them to pair with
    if spare and _largest_product(net.shapes[1:], batch_size) >= PAIRED_PRODUCT:
        return net.pair_products(PAIRED_PRODUCT)
    return nullcontext()


def _chance(p: Prepared) -> float | None:
    """Accuracy of always answering the largest class of the training rows."""
    if p.targets.kind == "binary":
        share = float(p.y_train.mean()) if len(p.y_train) else 0.5
        return max(share, 1 - share)
    if p.targets.kind == "multiclass":
        return float(p.y_train.mean(axis=0).max()) if len(p.y_train) else None
    return None


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
    rows_buf = batch_size if gather else n
    x_buf = np.empty((rows_buf, *x_train.shape[1:]), x_train.dtype)
    y_buf = np.empty((rows_buf, *y_train.shape[1:]), y_train.dtype)
    w_buf = None if w_train is None else np.empty(rows_buf, w_train.dtype)
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
                # into the same arrays every batch: no allocation per step
                xb = np.take(x_train, rows, axis=0, out=x_buf[: len(rows)])
                yb = np.take(y_train, rows, axis=0, out=y_buf[: len(rows)])
                if w_buf is not None:
                    wb = np.take(w_train, rows, out=w_buf[: len(rows)])
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
                recorder.gradients()
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
