"""Learning-rate schedules: each epoch's rate against its formula, as nn.fit records it,
plateau's reaction to a plateau, and refusals of bad parameters by name."""

from __future__ import annotations

import math

import numpy as np
import pytest

import nn
from nn.schedules import Schedule, resolve_schedule


def _blobs(n=60, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    return rng.normal(size=(n, 2)) + 2.0 * y[:, None], y


def _rates(schedule, epochs=12, rate=0.05, **training):
    X, y = _blobs()
    spec = {
        "layers": [{"units": 4}],
        "training": {
            "epochs": epochs,
            "learning_rate": rate,
            "schedule": schedule,
            "early_stopping": False,
            "importance_repeats": 0,
            **training,
        },
    }
    _, history = nn.fit(spec, X, y)
    return history["learning_rate"]


def test_constant_is_the_default():
    assert _rates("constant") == _rates({"type": "constant"}) == [0.05] * 12
    assert _rates({}) == [0.05] * 12


def test_step_multiplies_by_factor_every_few_epochs():
    got = _rates({"type": "step", "every": 5, "factor": 0.5})
    assert got == pytest.approx([0.05 * 0.5 ** ((e - 1) // 5) for e in range(1, 13)], rel=1e-15)
    assert got[4] == 0.05 and got[5] == 0.025 and got[10] == 0.0125


def test_cosine_warms_up_then_decays_to_min_lr():
    got = _rates({"type": "cosine", "min_lr": 0.001, "warmup": 2}, epochs=12)
    want = [0.05 * e / 2 for e in (1, 2)] + [
        0.001 + (0.05 - 0.001) * (1 + math.cos(math.pi * (e - 3) / 9)) / 2 for e in range(3, 13)
    ]
    assert got == pytest.approx(want, rel=1e-12)
    assert got[1] == 0.05 and got[2] == 0.05 and got[-1] == pytest.approx(0.001)
    # without a warm-up, the first epoch runs at the base rate
    assert _rates({"type": "cosine"}, epochs=5)[0] == 0.05


def test_plateau_reduces_after_patience_epochs_without_improvement():
    s = Schedule(resolve_schedule({"type": "plateau", "patience": 2, "factor": 0.5}, 20), 0.1, 20)
    losses = [1.0, 0.9, 0.95, 0.92, 0.91, 0.8, 0.85, 0.85, 0.85, 0.85, 0.85]
    rates = []
    for epoch, loss in enumerate(losses, 1):
        rates.append(s.rate(epoch))
        s.observe(loss)
    # best 0.9 at epoch 2; epochs 3 and 4 do not beat it -> halved from epoch 5; the count
    # starts over; 0.8 at epoch 6 is new best; 7, 8 -> halved from 9; 9, 10 -> again from 11
    assert rates == [0.1] * 4 + [0.05] * 4 + [0.025] * 2 + [0.0125]


def test_plateau_never_goes_below_min_lr_and_min_delta_is_relative():
    rule = resolve_schedule(
        {"type": "plateau", "patience": 1, "factor": 0.1, "min_lr": 0.02, "min_delta": 0.1}, 20
    )
    s = Schedule(rule, 0.1, 20)
    rates = []
    for epoch, loss in enumerate([1.0, 0.95, 0.8, 0.79, 0.5], 1):
        rates.append(s.rate(epoch))
        s.observe(loss)
    # 0.95 is not 10% under 1.0: reduced (floored at 0.02); 0.8 is; 0.79 is not; 0.5 is
    assert rates == [0.1, 0.1, 0.02, 0.02, 0.02]


def test_plateau_reacts_to_a_plateau_in_a_real_run():
    # a plateau by construction: sgd steps of 1e-9 are below float32's resolution of the
    # weights, so every epoch's validation loss is the first one's
    got = _rates(
        {"type": "plateau", "patience": 3, "factor": 0.5},
        epochs=12,
        rate=1e-9,
        optimizer="sgd",
        validation_split=0.25,
        batch_size=60,
    )
    assert got[:4] == [1e-9] * 4 and got[4] == 5e-10
    assert got[-1] < got[4]


@pytest.mark.parametrize(
    ("schedule", "field", "reason"),
    [
        ("linear", "training.schedule.type", "unknown schedule"),
        (3, "training.schedule", "schedule name"),
        ({"type": "step", "every": 0}, "training.schedule.every", "[1, 100000]"),
        ({"type": "step", "factor": 0}, "training.schedule.factor", "(0, 1]"),
        ({"type": "step", "patience": 3}, "training.schedule.patience", "every, factor"),
        ({"type": "plateau", "factor": 1}, "training.schedule.factor", "(0, 1)"),
        ({"type": "cosine", "min_lr": -1}, "training.schedule.min_lr", "[0, 10]"),
        ({"type": "cosine", "warmup": 12}, "training.schedule.warmup", "warm-up"),
        ({"type": "constant", "every": 2}, "training.schedule.every", "no parameters"),
    ],
)
def test_bad_schedules_are_refused_by_name(schedule, field, reason):
    with pytest.raises(nn.SpecError) as e:
        nn.resolve_spec({"training": {"epochs": 12, "schedule": schedule}})
    assert e.value.field == field and reason in e.value.reason, e.value
