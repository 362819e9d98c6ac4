"""Early stopping waits out a plateau, stops on a rise, and keeps the best epoch."""

import numpy as np
import pytest

import nn
from nn.spec import resolve_spec
from nn.stopping import Stopper


def _run(curve, **rule):
    """Feed ``curve`` to a Stopper with the default rule for its length; (epochs run, best)."""
    early = resolve_spec({"training": {"epochs": len(curve), "early_stopping": rule}})
    stopper = Stopper(early["training"]["early_stopping"])
    for epoch, loss in enumerate(curve, 1):
        _, stop = stopper.update(epoch, loss)
        if stop:
            return epoch, stopper.best_epoch
    return len(curve), stopper.best_epoch


def test_a_plateau_then_a_fall_is_trained_through():
    # the spiral's shape: a first validation loss that the plateau does not beat for 90
    # epochs (a fixed patience of 10 stopped here), then the fall
    curve = [0.60] + [0.64] * 90 + list(np.linspace(0.59, 0.01, 300)) + [0.01] * 109
    epochs, best = _run(curve)
    assert epochs > 390 and best == 391


def test_a_rise_stops_and_the_best_epoch_is_the_lowest():
    fall = list(np.linspace(1.0, 0.2, 150))
    curve = fall + list(np.linspace(0.21, 0.8, 350))
    epochs, best = _run(curve)
    assert best == 150
    # patience 50 (a tenth of 500 epochs) after the best epoch
    assert epochs == 200


def test_min_delta_is_relative_to_the_loss():
    # a loss near 0 falling by 0.05% an epoch: progress under min_delta 0.01 (1%)
    curve = [1.0 * 0.9995**e for e in range(500)]
    stopped, _ = _run(curve, min_delta=0.01, patience=20, start_from_epoch=0)
    assert stopped < 100
    kept, _ = _run(curve, patience=20, start_from_epoch=0)
    assert kept == 500


def test_no_stop_before_start_from_epoch():
    curve = [0.5] + [0.6] * 299
    epochs, best = _run(curve, patience=5, start_from_epoch=120)
    assert (epochs, best) == (120, 1)


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ({"start_from_epoch": -1}, "training.early_stopping.start_from_epoch"),
        ({"min_delta": 1.0}, "training.early_stopping.min_delta"),
        ({"patience": 1.5}, "training.early_stopping.patience"),
    ],
)
def test_bad_settings_are_refused_by_name(rule, field):
    with pytest.raises(nn.SpecError) as e:
        resolve_spec({"training": {"early_stopping": rule}})
    assert e.value.field == field


def test_fit_stops_on_a_rise_and_restores_the_best_epoch():
    # memorizable noise: validation loss turns up while training loss keeps falling
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(120, 10)), rng.integers(0, 2, 120)
    spec = {"layers": [{"units": 64}], "training": {"epochs": 300}}
    model, history = nn.fit(spec, X, y)
    assert history.stop_reason == "early_stopping"
    assert history.epochs_run == max(history.best_epoch + 30, 60)
    best = history.best_epoch - 1
    assert history["val_loss"][best] == min(history["val_loss"])
    assert model.metrics["val_loss"] == history["val_loss"][best]


@pytest.mark.parametrize(
    ("training", "reason"),
    [({"epochs": 5}, "completed"), ({"epochs": 300}, "early_stopping")],
)
def test_the_stop_reason_stays_on_the_job_and_its_model(reg, training, reason):
    from worker.tasks import run_job

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(120, 10)), rng.integers(0, 2, 120)
    spec, data = nn.validate({"layers": [{"units": 64}], "training": training}, X, y)
    job = reg.create_job(name="noise", spec=spec, data=data, X=X, y=y)
    assert run_job(reg, job["id"]) == "succeeded"
    job = reg.get_job(job["id"])
    assert job["stop_reason"] == job["history"]["stop_reason"] == reason
    assert reg.get_model(job["model_id"])["stop_reason"] == reason


def test_a_diverged_or_cancelled_job_says_so(reg):
    from worker.tasks import run_job

    X, y = nn.synthetic.make("plane", n_samples=100, seed=0)
    spec = {
        "layers": [{"units": 4, "activation": "linear"}],
        "training": {"optimizer": "sgd", "learning_rate": 1.5, "batch_size": 100},
    }
    spec, data = nn.validate(spec, X, y)
    diverging = reg.create_job(name="diverges", spec=spec, data=data, X=X, y=y)
    assert run_job(reg, diverging["id"]) == "failed"
    assert reg.get_job(diverging["id"])["stop_reason"] == "diverged"
    queued = reg.create_job(name="cancelled", spec=spec, data=data, X=X, y=y)
    assert queued["stop_reason"] is None
    assert reg.cancel_job(queued["id"])["stop_reason"] == "cancelled"
