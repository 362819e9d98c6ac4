"""Warm starts in nn: training continues from a model's weights and scaling, and a job
that differs from the model is refused naming what differs."""

from __future__ import annotations

import numpy as np
import pytest

import nn


def _data(n=200, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)) * [1.0, 10.0, 0.1] + [0.0, 50.0, 0.0]
    y = (X[:, 0] + 0.1 * (X[:, 1] - 50) > 0).astype(int)
    return X, y


SPEC = {
    "layers": [{"units": 8, "activation": "tanh"}],
    "training": {"epochs": 10, "early_stopping": False, "importance_repeats": 0, "seed": 3},
}


def test_ten_more_epochs_from_a_ten_epoch_model_lower_the_training_loss():
    X, y = _data()
    first, h1 = nn.fit(SPEC, X, y)
    lower = {**SPEC, "training": {**SPEC["training"], "learning_rate": 0.005}}
    second, h2 = nn.fit(lower, X, y, init_model=first)
    assert h2["loss"][-1] < h1["loss"][-1]
    # its first epoch starts where the parent ended, not from a fresh draw
    _fresh, h3 = nn.fit(lower, X, y)
    assert h2["loss"][0] < h3["loss"][0]
    # the parent's scaling is kept, so its weights mean the same
    np.testing.assert_array_equal(second.x_scaler.mean, first.x_scaler.mean)


def test_new_rows_of_the_same_columns_are_fine():
    X, y = _data()
    first, _ = nn.fit(SPEC, X, y)
    X2, y2 = _data(seed=1)
    second, _ = nn.fit(SPEC, X2, y2, init_model=first)
    np.testing.assert_array_equal(second.x_scaler.scale, first.x_scaler.scale)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"layers": [{"units": 9, "activation": "tanh"}]}, "layers"),
        ({"layers": [{"units": 8, "activation": "relu"}]}, "layers"),
        ({"layers": [{"units": 8, "activation": "tanh"}, {"units": 2}]}, "layers"),
        ({"output": "softmax"}, "output"),
    ],
)
def test_an_architecture_mismatch_is_refused_naming_it(change, named):
    X, y = _data()
    first, _ = nn.fit(SPEC, X, y)
    with pytest.raises(nn.SpecError) as e:
        nn.validate({**SPEC, **change}, X, y, init_model=first)
    assert e.value.field == "init.model" and f"in {named}:" in e.value.reason, e.value


def test_a_column_mismatch_is_refused_naming_the_columns():
    X, y = _data()
    first, _ = nn.fit(SPEC, X, y, feature_names=["a", "b", "c"])
    with pytest.raises(nn.SpecError) as e:
        nn.validate(SPEC, X, y, init_model=first, feature_names=["a", "b", "d"])
    assert e.value.field == "init.model" and "features: ['a', 'b', 'c']" in e.value.reason
    with pytest.raises(nn.SpecError) as e:
        nn.validate(SPEC, X[:, :2], y, init_model=first, feature_names=["a", "b"])
    assert "features:" in e.value.reason and "layers" not in e.value.reason


def test_other_classes_are_refused_naming_them():
    X, y = _data()
    first, _ = nn.fit(SPEC, X, y)
    with pytest.raises(nn.SpecError) as e:
        nn.validate(SPEC, X, np.where(y == 1, "yes", "no"), init_model=first)
    assert "classes: [0, 1] in the model, ['no', 'yes'] in the job" in e.value.reason


def test_dropout_and_training_settings_may_change():
    X, y = _data()
    first, _ = nn.fit(SPEC, X, y)
    changed = {
        "layers": [{"units": 8, "activation": "tanh", "dropout": 0.2}],
        "training": {"epochs": 3, "optimizer": "sgd", "l2": 0.01, "importance_repeats": 0},
    }
    nn.validate(changed, X, y, init_model=first)


def _table(colours, n=60, seed=0):
    rng = np.random.default_rng(seed)
    colour = rng.choice(colours, size=n)
    return {"size": rng.normal(size=n).tolist(), "colour": colour.tolist()}, (
        colour == colours[0]
    ).astype(int)


def test_a_table_warm_start_compares_the_preparation_by_column():
    table, y = _table(["red", "green", "blue"])
    first, _ = nn.fit(SPEC, table, y)
    # other rows, the same columns and categories: fine, whatever their medians
    again, _ = nn.fit(SPEC, *_table(["red", "green", "blue"], seed=1), init_model=first)
    assert again.preparation.encoded == first.preparation.encoded
    with pytest.raises(nn.SpecError) as e:
        nn.validate(SPEC, *_table(["red", "green", "pink"]), init_model=first)
    reason = e.value.reason
    assert e.value.field == "init.model" and "preparation: {'colour': [" in reason, reason
    assert (
        "'blue'" in reason
        and "'pink'" in reason
        and "'size'" not in reason.split("preparation:")[1]
    )
    # a table warm-started from a model of rows of numbers differs in its preparation
    numbers, _ = nn.fit(SPEC, np.zeros((60, 4)) + np.arange(60)[:, None], y)
    with pytest.raises(nn.SpecError) as e:
        nn.validate(SPEC, table, y, init_model=numbers)
    assert "preparation: None in the model" in e.value.reason
