"""Per-epoch health of the hidden layers, and the warnings it raises.

While a network trains, a :class:`Recorder` records per hidden layer and epoch:

``grad_norm``
    The L2 norm of the gradient of the layer's weight matrix (biases excluded), as the
    optimizer receives it (mean loss of the batch plus the L2 term, before any
    ``clip_norm``), taken as the root mean square over the epoch's batches:
    ``sqrt(mean_b ||dL_b/dW||^2)``.
``dead_fraction``
    For activations that die (ReLU, whose derivative is exactly 0 for ``x <= 0``): the
    fraction of the layer's units whose output is exactly 0 on every training row, with
    the weights the epoch ends with (on the probe rows, see
    :class:`Recorder`). ``None`` for the others, which have no dead region (leaky ReLU,
    ELU, SELU, GELU, SiLU, softplus and maxout always pass some gradient; sigmoid and tanh
    saturate instead, see below).
``saturated_fraction``
    For activations that saturate (sigmoid and tanh in both tails; softplus, ELU and SELU
    in the negative tail): the fraction of the layer's units that are saturated, i.e. whose
    derivative ``|f'(z)|`` is below :data:`SATURATION_BOUND` on more than
    :data:`SATURATED_SHARE` of the training rows, measured as ``dead_fraction`` is.
    ``None`` for the others.

Dropout does not count: units are measured without it.

:func:`find_warnings` turns a run's diagnostics into warnings, a pure function of them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

Array = np.ndarray

#: Dead and saturated units are measured on one training row in PROBE_STRIDE, but on no
#: fewer than PROBE_MIN rows (all of them when there are fewer) and no more than PROBE_MAX
#: (see :class:`Recorder`).
PROBE_STRIDE = 8
PROBE_MIN = 256
PROBE_MAX = 2048

#: The squared weight gradients of up to this many batches are added element by element in
#: the network's precision before they are summed per layer in float64 (in float32, 32
#: such terms add up with a relative error below 2e-6; see :class:`Recorder`).
GRADIENT_RUN = 32

#: A unit is saturated on a sample when |f'(z)| is below this (sigmoid: |z| > 4.6; tanh:
#: |z| > 3.0; softplus: z < -4.6; ELU with alpha = 1: z < -4.6).
SATURATION_BOUND = 0.01
#: ... and saturated in an epoch when it is so on more than this share of the samples.
SATURATED_SHARE = 0.9

#: Warn when at least this fraction of a layer's units is dead.
DEAD_WARNING = 0.5
#: Warn when at least this fraction of a layer's units is saturated.
SATURATED_WARNING = 0.5
#: Warn of vanishing gradients when layer 1's grad_norm is below this times the last
#: hidden layer's (networks of two hidden layers or more).
VANISHING_RATIO = 1e-3
#: Warn of exploding gradients when a layer's grad_norm exceeds this, or is not finite.
#: Inputs and regression targets are standardized and the loss is a mean, so a healthy
#: network's weight gradients have norms of order 1 or less.
EXPLODING_NORM = 1e3

SERIES = ("grad_norm", "dead_fraction", "saturated_fraction")
#: Every code :func:`find_warnings` may give.
WARNING_CODES = ("dead_units", "saturated_units", "vanishing_gradients", "exploding_gradients")


class Recorder:
    """Records the diagnostics of a training run, epoch by epoch.

    Gradient norms are accumulated batch by batch: the squares of the hidden layers'
    weight gradients are added element by element in the network's precision, and every
    :data:`GRADIENT_RUN` batches (and at the end of an epoch) summed per layer in float64.
    Dead and saturated units are measured at the end of each epoch, with that
    epoch's final weights, on the probe rows: one training row in :data:`PROBE_STRIDE`,
    at least :data:`PROBE_MIN` (every row when there are fewer) and at most
    :data:`PROBE_MAX`, evenly spaced through the training rows, the same rows every epoch.
    A forward pass over an eighth of the rows costs a few percent of an epoch, where
    watching every batch would add a quarter to the training time on small batches.

    Parameters
    ----------
    network : nn.network.Network
    x_train : ndarray, shape (n_samples, n_inputs)
        The (scaled) training rows.

    Attributes
    ----------
    series : list of dict
        One entry per hidden layer: ``layer`` (1-based), ``activation``, ``units``, and
        the lists ``grad_norm``, ``dead_fraction`` (or None), ``saturated_fraction`` (or
        None), one value per epoch ended.
    """

    def __init__(self, network, x_train: Array):
        self.network = network
        self.layers = layers = list(network.layers)
        self.series: list[dict] = []
        n = len(x_train)
        size = min(n, max(PROBE_MIN, min(PROBE_MAX, n // PROBE_STRIDE)))
        rows = np.unique(np.linspace(0, n - 1, size).astype(np.intp))
        self.probe = x_train if size == n else x_train[rows]
        self._watch = any(layer.activation.dies or layer.activation.saturates for layer in layers)
        # units are counted by products with a row of ones, one BLAS call each, where a
        # reduction over the columns of a boolean array cast it to float64 in pieces;
        # saturated units over a 0/1 array of the probe's shape (exact up to 2**24 rows)
        m = len(self.probe) if self._watch else 0
        self._ones = np.ones((1, m), network.dtype)
        widest = max((layer.units for layer in layers if layer.activation.saturates), default=0)
        self._marks = np.empty(m * widest, network.dtype)
        self._grad_sq = np.zeros(len(self.layers))
        self._batches = 0
        # the hidden layers' weight gradients lie one after another at the start of the
        # network's flat gradient (a view of it, which training updates in place); their
        # squares are summed element by element in the network's precision, a run of up
        # to GRADIENT_RUN batches at a time, and only then per layer in float64: per batch
        # two NumPy calls, neither of them a reduction or a conversion
        sizes = [rows * cols for rows, cols in network.shapes[: len(layers)]]
        self._starts = np.cumsum([0, *sizes[:-1]])
        self._grads = network.grads[: sum(sizes)]
        self._squares = np.empty_like(self._grads)
        self._run = np.zeros_like(self._grads)
        self._in_run = 0

    def gradients(self) -> None:
        """Take in the weight gradients of the batch the network has just backpropagated."""
        if self.layers:
            np.multiply(self._grads, self._grads, out=self._squares)
            self._run += self._squares
            self._in_run += 1
            if self._in_run == GRADIENT_RUN:
                self._end_run()
        self._batches += 1

    def _end_run(self) -> None:
        """Add the run's squares to the layers' float64 sums; start a new run."""
        self._grad_sq += np.add.reduceat(self._run, self._starts, dtype=np.float64)
        self._run[...] = 0
        self._in_run = 0

    def end_epoch(self) -> list[dict]:
        """Record the epoch, start the next; return the epoch's row (:func:`extend`'s input)."""
        if self._in_run:
            self._end_run()
        outputs = list(self.network.hidden_outputs(self.probe)) if self._watch else []
        rows = []
        for i, layer in enumerate(self.layers):
            act = layer.activation
            row = {"layer": i + 1, "activation": act.name, "units": layer.units}
            row["grad_norm"] = math.sqrt(float(self._grad_sq[i]) / max(self._batches, 1))
            row["dead_fraction"] = row["saturated_fraction"] = None
            if act.dies:
                # ReLU outputs are >= 0 or NaN: a unit is dead when their sum is 0
                sums = np.matmul(self._ones, outputs[i][1])[0]
                row["dead_fraction"] = np.count_nonzero(sums == 0) / sums.size
            if act.saturates:
                z, h = outputs[i]
                # every saturating activation has a positive derivative: no abs needed
                d = act.derivative(z, h, **layer.params)
                share = self._below(d, SATURATION_BOUND) / len(self.probe)
                row["saturated_fraction"] = np.count_nonzero(share > SATURATED_SHARE) / share.size
            rows.append(row)
        extend(self.series, rows)
        self._grad_sq[:] = 0.0
        self._batches = 0
        return rows

    def _below(self, values: Array, bound: float) -> Array:
        """Per column of ``values`` (n_probe, units), the rows where ``value < bound``,
        as a float64 array (units,)."""
        marks = self._marks[: values.size].reshape(values.shape)
        np.less(values, bound, out=marks)
        return np.matmul(self._ones, marks)[0].astype(np.float64)


def extend(series: list[dict], rows: Iterable[Mapping]) -> list[dict]:
    """Append one epoch's ``rows`` (one per hidden layer, as :meth:`Recorder.end_epoch`
    returns them) to ``series`` (created on the first call when empty); returns ``series``."""
    for i, row in enumerate(rows):
        if i == len(series):
            series.append(
                {
                    **{k: row[k] for k in ("layer", "activation", "units")},
                    **{k: None if row[k] is None else [] for k in SERIES},
                }
            )
        for key in SERIES:
            if series[i][key] is not None:
                series[i][key].append(row[key])
    return series


def drop_epochs(series: Sequence[Mapping], epochs: int) -> list[dict]:
    """``series`` (as :func:`extend` keeps them) without their first ``epochs`` epochs.

    Parameters
    ----------
    series : list of dict
        One entry per hidden layer: ``layer``, ``activation``, ``units`` and the lists
        of :data:`SERIES` (each of length n_epochs, or None).
    epochs : int
        Epochs to drop, >= 0; more than there are leaves every list empty.

    Returns
    -------
    list of dict
        New entries, each list of length max(0, n_epochs - epochs); a series that is None
        stays None.
    """
    return [
        {**layer, **{k: layer[k][epochs:] for k in SERIES if layer[k] is not None}}
        for layer in series
    ]


def _first(values, test) -> int | None:
    for epoch, value in enumerate(values or (), start=1):
        if value is not None and test(value):
            return epoch
    return None


def find_warnings(diagnostics: Sequence[Mapping] | None) -> list[dict]:
    """Warnings raised by a run's diagnostics, each at the first epoch that crosses its
    threshold.

    Parameters
    ----------
    diagnostics : list of dict or None
        One entry per hidden layer, as :attr:`Recorder.series` (or ``history.diagnostics``).

    Returns
    -------
    list of dict
        ``{"code", "layer", "epoch", "message"}``, ordered by epoch then layer. Codes:

        - ``dead_units``: at least :data:`DEAD_WARNING` of a layer's units are dead.
        - ``saturated_units``: at least :data:`SATURATED_WARNING` of a layer's units are
          saturated.
        - ``vanishing_gradients`` (layer 1): with two hidden layers or more, layer 1's
          grad_norm is below :data:`VANISHING_RATIO` times the last hidden layer's (epochs
          where either is 0 are skipped: a layer of dead units is reported as such).
        - ``exploding_gradients``: a layer's grad_norm is above :data:`EXPLODING_NORM` or
          not finite.
    """
    layers = list(diagnostics or ())
    out = []

    def check(code, layer, values, crosses, template, **names) -> None:
        """Warn at the first epoch whose value ``crosses``; ``template`` is formatted with
        the value ``v``, the epoch ``e`` and ``names``."""
        epoch = _first(values, crosses)
        if epoch:
            text = template.format(v=values[epoch - 1], e=epoch, **names)
            out.append(_warning(code, layer, epoch, text))

    for entry in layers:
        k, name = entry["layer"], entry["activation"]
        check(
            "dead_units",
            k,
            entry.get("dead_fraction"),
            lambda v: v >= DEAD_WARNING,
            "{v:.0%} of layer {k}'s {name} units are dead (their output is 0 on every "
            "training row at the end of epoch {e}): try leaky_relu or elu, or a smaller "
            "learning_rate",
            k=k,
            name=name,
        )
        check(
            "saturated_units",
            k,
            entry.get("saturated_fraction"),
            lambda v: v >= SATURATED_WARNING,
            "{v:.0%} of layer {k}'s {name} units are saturated at the end of epoch {e} "
            f"(derivative below {SATURATION_BOUND:g} on over {SATURATED_SHARE:.0%} of the "
            "training rows), so they barely learn: keep training.standardize on, use a "
            "smaller learning_rate, or try relu",
            k=k,
            name=name,
        )
        check(
            "exploding_gradients",
            k,
            entry["grad_norm"],
            lambda v: not v <= EXPLODING_NORM,  # NaN too
            "layer {k}'s weight gradient norm reached {v:.3g} in epoch {e} (over "
            f"{EXPLODING_NORM:g}): use a smaller learning_rate or set training.clip_norm",
            k=k,
        )
    if len(layers) >= 2:
        first, last = layers[0]["grad_norm"], layers[-1]["grad_norm"]
        ratios = [
            a / b if a > 0 and b > 0 and math.isfinite(a) and math.isfinite(b) else None
            for a, b in zip(first, last, strict=False)
        ]
        check(
            "vanishing_gradients",
            1,
            ratios,
            lambda r: r < VANISHING_RATIO,
            "layer 1's weight gradient is {v:.2g} times layer {n}'s in epoch {e}, so the "
            "first layers barely learn: try a relu-family activation (sigmoid and tanh shrink "
            "gradients layer after layer) or fewer layers",
            n=layers[-1]["layer"],
        )
    out.sort(key=lambda w: (w["epoch"], w["layer"] or 0))
    return out


def _warning(code: str, layer: int | None, epoch: int, message: str) -> dict:
    return {"code": code, "layer": layer, "epoch": epoch, "message": message}
