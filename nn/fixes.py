"""Warnings read from the training curves, and the fix every warning offers.

:func:`find_training_warnings` adds to the diagnostics' warnings
(:func:`nn.diagnostics.find_warnings`) four read from the per-epoch series:

``still_improving``
    Every epoch ran and the monitored loss still fell by at least :data:`STILL_FALLING`
    over the last fifth of them, with accuracy short of perfect: more epochs would help.
``near_chance``
    Training accuracy at the best epoch is within :data:`NEAR_CHANCE` of the way from
    chance (the largest class's share) to 1: the network learned next to nothing.
``overfitting``
    In the last epoch training accuracy (r2 for regression) is :data:`OVERFIT_GAP` or more
    above validation's.
``loss_rose``
    The training loss of epoch 3 is :data:`ROSE_BY` or more above epoch 1's: the
    learning rate is too high.

:func:`fix` turns a warning into a concrete change to the job's spec (``change``, merged
into the spec) and a sweep (``vary``, in the keys a sweep takes: ``activation``,
``learning_rate``, ``layers``) whose first values are the job's own, so the sweep's
leaderboard compares the fix with the job as it was.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

from .limits import DEFAULT_LIMITS
from .spec import DEFAULT_LEARNING_RATE

#: still_improving: the monitored loss fell by at least this share over the last fifth
STILL_FALLING = 0.1
#: near_chance: training accuracy below chance + NEAR_CHANCE x (1 - chance)
NEAR_CHANCE = 0.25
#: overfitting: training metric minus validation metric at least this
OVERFIT_GAP = 0.15
#: loss_rose: epoch 3's training loss above epoch 1's by this share
ROSE_BY = 0.1
#: fewest epochs a curve needs before still_improving or overfitting is read from it
MIN_EPOCHS = 10

TRAINING_WARNING_CODES = ("still_improving", "near_chance", "overfitting", "loss_rose")
MAX_LEARNING_RATE = 10.0


def find_training_warnings(
    series: Mapping[str, list[float]], best_epoch: int, stop_reason: str, chance: float | None
) -> list[dict]:
    """Warnings read from a run's per-epoch series.

    Parameters
    ----------
    series : mapping
        ``history.series``: ``loss``, ``val_loss`` and the metrics, one value per epoch.
    best_epoch : int
        1-based epoch whose weights were kept.
    stop_reason : str
        ``completed``, ``early_stopping`` or ``callback``.
    chance : float or None
        Share of the largest class in the training rows; None for regression and
        multi-label targets.

    Returns
    -------
    list of dict
        ``{"code", "layer" (None), "epoch", "message"}``.
    """
    out = []
    loss = series.get("loss", [])
    n = len(loss)
    monitored = series.get("val_loss") or loss
    accuracy = series.get("val_accuracy") or series.get("accuracy")
    short_of_perfect = accuracy is None or max(accuracy) < 1.0
    if stop_reason == "completed" and n >= MIN_EPOCHS and short_of_perfect:
        before = monitored[n - 1 - n // 5]
        if monitored[-1] <= before * (1 - STILL_FALLING):
            out.append(
                _warning(
                    "still_improving",
                    n,
                    f"the loss fell by {1 - monitored[-1] / before:.0%} over the last "
                    f"{n // 5} epochs and training ended there: train for more epochs",
                )
            )
    train_accuracy = series.get("accuracy")
    if chance is not None and train_accuracy and best_epoch:
        value = train_accuracy[best_epoch - 1]
        if value < chance + NEAR_CHANCE * (1 - chance):
            out.append(
                _warning(
                    "near_chance",
                    best_epoch,
                    f"training accuracy is {value:.2f} where always answering the largest "
                    f"class scores {chance:.2f}: the network has learned next to nothing; "
                    "try an activation that bends (relu, tanh) or another learning_rate",
                )
            )
    for name in ("accuracy", "r2"):
        train, val = series.get(name), series.get(f"val_{name}")
        if train and val and n >= MIN_EPOCHS and train[-1] - val[-1] >= OVERFIT_GAP:
            out.append(
                _warning(
                    "overfitting",
                    n,
                    f"validation {name} ({val[-1]:.2f}) is far below training's "
                    f"({train[-1]:.2f}): the network memorizes its training rows; try "
                    "dropout or l2",
                )
            )
    if n >= 3 and loss[2] > loss[0] * (1 + ROSE_BY):
        out.append(
            _warning(
                "loss_rose",
                3,
                f"the training loss rose from {loss[0]:.3g} in epoch 1 to {loss[2]:.3g} in "
                "epoch 3: the learning_rate is too high",
            )
        )
    return out


def fix(warning: Mapping, spec: Mapping, learning_rate: float) -> dict:
    """The fix a warning offers for the job it was raised on.

    Parameters
    ----------
    warning : mapping
        A warning's ``code`` and ``layer``.
    spec : mapping
        The job's resolved spec (:func:`nn.spec.resolve_spec`).
    learning_rate : float
        The rate the job trained with (the one chosen, when its spec says ``"auto"``).

    Returns
    -------
    dict
        ``change`` (a partial spec merged into the job's) and ``vary`` (a sweep's values,
        the job's own first).
    """
    layers = spec["layers"]
    code = warning["code"]
    if warning.get("layer") and code != "vanishing_gradients":
        current = layers[warning["layer"] - 1]["activation"]
    else:
        # the network's as a whole: the layers above layer 1 shrink its gradient
        names = [entry["activation"] for entry in layers] or [spec["activation"]]
        current = max(names, key=names.count)
    lr = learning_rate
    if code == "dead_units":
        return {
            "change": {"activation": "leaky_relu"},
            "vary": {
                "activation": _unique(current, "leaky_relu"),
                "learning_rate": [lr, _r(lr / 10)],
            },
        }
    if code in ("saturated_units", "vanishing_gradients", "near_chance") and current != "relu":
        alternative = "tanh" if code == "near_chance" else "leaky_relu"
        return {
            "change": {"activation": "relu"},
            "vary": {"activation": _unique(current, "relu", alternative)},
        }
    if code == "near_chance":
        # a rate above the default is more likely too high than too low
        down, up = _r(lr / 10), _r(min(lr * 10, MAX_LEARNING_RATE))
        return {
            "change": {"training": {"learning_rate": down if lr > DEFAULT_LEARNING_RATE else up}},
            "vary": {
                "activation": _unique(current, "tanh"),
                "learning_rate": _unique(lr, down, up),
            },
        }
    if code == "still_improving":
        epochs = min(spec["training"]["epochs"] * 2, DEFAULT_LIMITS.max_epochs)
        return {
            "change": {"training": {"epochs": epochs}},
            "vary": {"learning_rate": _unique(lr, _r(min(lr * 3, MAX_LEARNING_RATE)))},
        }
    if code == "overfitting":
        variants = [
            [{**entry, "dropout": min(entry["dropout"] + extra, 0.8)} for entry in layers]
            for extra in (0.0, 0.2, 0.4)
        ]
        return {"change": {"layers": copy.deepcopy(variants[1])}, "vary": {"layers": variants}}
    # exploding_gradients, loss_rose, and saturation in a relu network: a smaller rate
    return {
        "change": {"training": {"learning_rate": _r(lr / 10)}},
        "vary": {"learning_rate": [lr, _r(lr / 3), _r(lr / 10)]},
    }


def apply(spec: Mapping, change: Mapping) -> dict:
    """``spec`` with ``change`` merged in (``training`` key by key); ``spec`` is unchanged."""
    out = copy.deepcopy(dict(spec))
    for key, value in change.items():
        if key == "training":
            out["training"] = {**out.get("training", {}), **value}
        elif key == "activation":
            # the job's activation replaces every hidden layer's, as a sweep's does
            out["activation"] = value
            if "layers" in out:
                out["layers"] = [
                    {"units": entry["units"], "dropout": entry.get("dropout", 0.0)}
                    for entry in out["layers"]
                ]
        else:
            out[key] = copy.deepcopy(value)
    return out


def _unique(*values) -> list:
    return list(dict.fromkeys(values))


def _r(rate: float) -> float:
    return float(f"{rate:.3g}")


def _warning(code: str, epoch: int, message: str) -> dict:
    return {"code": code, "layer": None, "epoch": epoch, "message": message}
