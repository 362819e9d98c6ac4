"""The training loop: mini-batches, dropout, validation, early stopping, history."""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from . import fixes
from .budget import check_size, check_work
from .data import Scaler, Targets, as_features, encode_targets, split
from .diagnostics import Recorder, find_warnings
from .errors import TrainingError
from .fixes import find_training_warnings
from .limits import DEFAULT_LIMITS, Limits
from .losses import OUTPUTS
from .lr_finder import find_learning_rate
from .model import Model, build_network
from .optimizers import OPTIMIZERS
from .spec import AUTO, DEFAULT_LEARNING_RATE, resolve_spec
from .stopping import Stopper

Array = np.ndarray
Callback = Callable[[dict], "bool | None"]


@dataclass
class History:
    """Per-epoch record of a training run.

    Attributes
    ----------
    series : dict of str to list of float
        ``loss`` and ``val_loss`` and the metrics (``accuracy``, or ``mae`` and ``r2``) with
        their ``val_`` twins; one value per epoch run. Training values are averaged over the
        epoch's batches (with dropout on), validation values are computed after the epoch.
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


class _Scorer:
    """Metrics for one kind of target, accumulated batch by batch."""

    def __init__(self, kind: str, threshold: float, y_scale: Array | None):
        self.kind = kind
        self.logit_threshold = math.log(threshold / (1 - threshold))
        self.y_scale = y_scale

    def batch(self, z: Array, y: Array) -> Array:
        """Sufficient statistics of one batch (summed over rows)."""
        if self.kind == "regression":
            d = z - y
            return np.stack([np.abs(d).sum(axis=0), (d * d).sum(axis=0)]).astype(np.float64)
        if self.kind == "multiclass":
            # y is one-hot, so its argmax is the label (take_along_axis costs 4x as much)
            correct = np.count_nonzero(z.argmax(axis=1) == y.argmax(axis=1))
        elif self.kind == "binary":
            correct = np.count_nonzero((z[:, 0] >= self.logit_threshold) == (y[:, 0] > 0.5))
        else:
            correct = np.count_nonzero(np.all((z >= self.logit_threshold) == (y > 0.5), axis=1))
        return np.array([float(correct)])

    def result(self, stats: Array, n: int, y: Array, prefix: str = "") -> dict[str, float]:
        """Metrics from summed statistics over ``n`` rows whose targets are ``y``."""
        if self.kind != "regression":
            return {f"{prefix}accuracy": float(stats[0]) / n}
        abs_sum, sse = stats
        sst = ((y - y.mean(axis=0)) ** 2).sum(axis=0).astype(np.float64)
        r2 = np.where(sst > 0, 1 - sse / np.where(sst > 0, sst, 1), np.where(sse > 0, 0.0, 1.0))
        return {
            f"{prefix}mae": float((abs_sum * self.y_scale).sum() / (n * len(abs_sum))),
            f"{prefix}r2": float(r2.mean()),
        }


def fit(
    spec: Mapping | None, X, y, callback: Callback | None = None, *, limits: Limits = DEFAULT_LIMITS
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
        "loss", "val_loss", "metrics", "best_epoch", "diagnostics"}``, where
        ``diagnostics`` is the epoch's row per hidden layer, see
        :func:`nn.diagnostics.extend`, or None when switched off). Returning ``False`` stops
        training (the best epoch so far is kept); raising aborts it.
    limits : Limits

    Returns
    -------
    model : Model
        With the weights of the best epoch and ``model.spec`` fully resolved.
    history : History

    Raises
    ------
    SpecError
        The spec or the data breaks a rule.
    TrainingError
        The loss became NaN or infinite.
    """
    p = prepare(spec, X, y, limits)
    tr = p.spec["training"]
    net = build_network(p.spec, p.n_features, p.targets.n_outputs)
    net.initialize(p.init_rng, tr["init"])
    opt_cls = OPTIMIZERS[tr["optimizer"]]
    settings = {k: tr[k] for k in opt_cls.params}
    y_scale = None if p.y_scaler is None else p.y_scaler.scale
    scorer = _Scorer(p.targets.kind, tr["threshold"], y_scale)
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
            p.dropout_rng if uses_dropout else None,
            p.shuffle_rng,
            callback,
        )
    history.lr_finder = search
    history.val_rows = p.val_rows
    history.context = {"spec": p.spec, "learning_rate": rate, "chance": _chance(p)}
    best = history.best_epoch - 1
    metrics = {k: v[best] for k, v in history.series.items()}
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

    @functools.cached_property
    def y_train(self) -> Array:
        return _encode(self.targets, self.train_rows, self.y_scaler)

    @functools.cached_property
    def y_val(self) -> Array:
        return _encode(self.targets, self.val_rows, self.y_scaler)

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


def prepare(spec: Mapping | None, X, y, limits: Limits = DEFAULT_LIMITS) -> Prepared:
    """Every check and transformation :func:`fit` makes before its first batch.

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
    weights = check_size(resolved, x_all.shape[1], targets.n_outputs, limits)

    split_rng, init_rng, shuffle_rng, dropout_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(tr["seed"]).spawn(4)
    )
    stratify = targets.labels if targets.kind in ("binary", "multiclass") else None
    train_idx, val_idx = split(len(x_all), tr["validation_split"], split_rng, stratify)

    check_work(tr, weights, len(train_idx), len(val_idx), limits)

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
    )


def validate(spec: Mapping | None, X, y, limits: Limits = DEFAULT_LIMITS) -> tuple[dict, dict]:
    """Check a job as :func:`fit` would, without training.

    Returns
    -------
    spec : dict
        The resolved spec, output included.
    data : dict
        ``n_samples``, ``n_features``, ``n_train``, ``n_val``, ``output``, ``kind``,
        ``classes``.
    """
    p = prepare(spec, X, y, limits)
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
    net, optimizer, scorer: _Scorer, tr: Mapping, arrays, dropout_rng, shuffle_rng, callback
) -> History:
    x_train, y_train, x_val, y_val = arrays
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
    best_params = net.params.copy()
    stopper = Stopper(tr["early_stopping"])

    for epoch in range(1, epochs + 1):
        order = shuffle_rng.permutation(n)
        if not gather:
            np.take(x_train, order, axis=0, out=x_buf)
            np.take(y_train, order, axis=0, out=y_buf)
        loss_total, stats = 0.0, 0.0
        for b in range(n_batches):
            if gather:
                rows = order[b * batch_size : (b + 1) * batch_size]
                xb, yb = x_train.take(rows, axis=0), y_train.take(rows, axis=0)
            else:
                xb = x_buf[b * batch_size : (b + 1) * batch_size]
                yb = y_buf[b * batch_size : (b + 1) * batch_size]
            loss_sum, z = net.train_batch(xb, yb, l2, dropout_rng)
            if not math.isfinite(loss_sum):
                raise TrainingError(
                    f"training diverged: the loss became {loss_sum} in epoch {epoch} "
                    f"(batch {b + 1} of {n_batches}); try a smaller learning_rate (it is "
                    f"{tr['learning_rate']}), training.standardize = true, or clip_norm",
                    epoch,
                )
            stats = stats + scorer.batch(z, yb)
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
        row = {"loss": loss_total / n, **scorer.result(stats, n, y_train)}
        if has_val:
            z_val = net.logits(x_val)
            row["val_loss"] = loss_fn(z_val, y_val)[0] / len(x_val)
            row.update(scorer.result(scorer.batch(z_val, y_val), len(x_val), y_val, "val_"))
            if not math.isfinite(row["val_loss"]):
                raise TrainingError(
                    f"training diverged: the validation loss became {row['val_loss']} in "
                    f"epoch {epoch}; try a smaller learning_rate (it is "
                    f"{tr['learning_rate']}) or clip_norm",
                    epoch,
                )
        history.append(row)

        improved, stop = stopper.update(epoch, row["val_loss" if has_val else "loss"])
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
