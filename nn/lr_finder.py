"""A learning-rate range test, as fastai's finder runs it (Smith, 2015).

For a few hundred mini-batch steps the learning rate grows exponentially from
:data:`LOW` to :data:`HIGH` while the training loss is recorded (smoothed by an
exponential moving average); the test ends early once the loss has blown up. The rate
chosen is the one at the lowest smoothed loss divided by :data:`BACK_OFF`: the loss still
fell fastest a little before its minimum, and at the minimum itself the rate is already
on the edge of diverging. When the curve has no clear minimum (see below) the job's
fallback rate is used and the result says so. The network's weights are restored
afterwards, so training starts from the same initial weights as with a fixed rate.

Not reliable when the loss curve has no clear minimum: with very few training rows (a
batch or two, so the curve is noise), with heavy dropout, or when the network sits on a
plateau whatever the rate (a loss that barely moves within the test's steps); the rate
found is then a guess. Those two shapes are detected (the loss did not fall, or was still
falling at the highest rate) and the fallback rate used instead; a noisy curve is not.
The test's own steps train the network, so on an easy set the loss keeps falling with
rates that would be too high from the start.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

Array = np.ndarray

LOW, HIGH = 1e-6, 10.0
STEPS = 200
#: smoothing of the recorded loss (fastai's 0.98 over its 100 steps)
BETA = 0.95
#: the test stops once the smoothed loss exceeds this multiple of its best
BLOW_UP = 4.0
BACK_OFF = 10.0
#: a minimum in the first quarter of the test means the loss never fell; one in the last
#: tenth of a test that never blew up means it was still falling at HIGH
EARLIEST_MIN, LATEST_MIN = 0.25, 0.1


def find_learning_rate(
    net,
    make_optimizer: Callable[[float], object],
    x: Array,
    y: Array,
    batch_size: int,
    rng: np.random.Generator,
    l2: float = 0.0,
    clip_norm: float | None = None,
    fallback: float = 0.01,
) -> dict:
    """Run the range test on ``net`` and choose a learning rate.

    Parameters
    ----------
    net : Network
        Initialized; its parameters are the same after the call.
    make_optimizer : callable
        ``make_optimizer(rate)`` returns a fresh optimizer of the job's kind.
    x : ndarray, shape (n, n_features)
    y : ndarray, shape (n, n_outputs)
    batch_size : int
    rng : numpy Generator
        Draws the batches (the same seed gives the same curve and rate).
    l2, clip_norm : as in ``training``
    fallback : float
        The rate used when the curve has no clear minimum.

    Returns
    -------
    dict
        ``learning_rate`` (the choice), ``rates`` and ``losses`` (the smoothed loss at
        each rate tested; the curve), ``reliable`` (false when the curve has no clear
        minimum, and then ``reason`` says why and ``learning_rate`` is ``fallback``).
    """
    saved = net.params.copy()
    optimizer = make_optimizer(LOW)
    n = len(x)
    batch_size = min(batch_size, n)
    rates = LOW * (HIGH / LOW) ** (np.arange(STEPS) / (STEPS - 1))
    order, at = rng.permutation(n), 0
    tested, losses = [], []
    average, best = 0.0, math.inf
    for i, rate in enumerate(rates):
        if at + batch_size > n:
            order, at = rng.permutation(n), 0
        rows = order[at : at + batch_size]
        at += batch_size
        loss_sum, _ = net.train_batch(x[rows], y[rows], l2)
        loss = loss_sum / len(rows)
        if not math.isfinite(loss):
            break
        average = BETA * average + (1 - BETA) * loss
        smoothed = average / (1 - BETA ** (i + 1))
        tested.append(float(rate))
        losses.append(float(smoothed))
        if smoothed > BLOW_UP * best:
            break
        best = min(best, smoothed)
        if clip_norm is not None:
            norm = math.sqrt(float(np.vdot(net.grads, net.grads)))
            if norm > clip_norm:
                net.grads *= net.dtype.type(clip_norm / norm)
        optimizer.learning_rate = float(rate)
        optimizer.step(net.params, net.grads)
    np.copyto(net.params, saved)
    at_min = int(np.argmin(losses)) if losses else 0
    blew_up = len(losses) < STEPS
    out = {"rates": tested, "losses": losses, "reliable": True}
    if at_min < STEPS * EARLIEST_MIN:
        out["reliable"] = False
        out["reason"] = "the loss did not fall during the test (a plateau)"
    elif not blew_up and at_min >= len(losses) - STEPS * LATEST_MIN:
        out["reliable"] = False
        out["reason"] = f"the loss still fell at the highest rate tested ({HIGH:g})"
    chosen = tested[at_min] / BACK_OFF if out["reliable"] else fallback
    out["learning_rate"] = float(f"{chosen:.3g}")
    return out
