"""Class and sample weights: in the loss and its gradient, in the validation metrics, in
what training learns, and every refusal by name."""

from __future__ import annotations

import numpy as np
import pytest

import nn
from nn.activations import ACTIVATIONS
from nn.losses import OUTPUTS
from nn.network import Layer, Network
from tests.helpers import check_network_gradient, targets_for


@pytest.mark.parametrize("output", list(OUTPUTS))
def test_the_weighted_loss_passes_the_central_difference_check(output):
    rng = np.random.default_rng(5)
    act = ACTIVATIONS["tanh"]
    net = Network(
        3, [Layer(4, act, {}, dropout=0.2), Layer(3, act, {})], 2, OUTPUTS[output], np.float64
    )
    net.initialize(np.random.default_rng(1))
    net.params += rng.normal(0, 0.05, net.params.shape)
    weights = np.array([0.0, 0.5, 1.0, 2.5, 4.0, 0.25])
    X, Y = rng.normal(size=(6, 3)), targets_for(output, rng, 6, 2)
    check_network_gradient(net, X, Y, l2=0.05, dropout_seed=3, weights=weights)


@pytest.mark.parametrize("output", list(OUTPUTS))
def test_a_weight_of_two_counts_a_row_twice(output):
    rng = np.random.default_rng(6)
    z, y = rng.normal(size=(4, 3)), targets_for(output, rng, 4, 3)
    loss = OUTPUTS[output].loss
    weighted, grad = loss(z, y, np.array([2.0, 1.0, 1.0, 0.0]))
    twice, grad_twice = loss(z[[0, 0, 1, 2]], y[[0, 0, 1, 2]])
    assert weighted == pytest.approx(twice)
    np.testing.assert_allclose(grad[0], 2 * grad_twice[0])
    assert not grad[3].any()


def _imbalanced(n=400, seed=0):
    """95/5 classes, overlapping: unweighted training sacrifices the minority."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.05).astype(int)
    X = rng.normal(size=(n, 2)) + 1.6 * y[:, None]
    return X, y


def test_balanced_class_weights_raise_the_minority_classs_recall():
    X, y = _imbalanced()
    spec = {"layers": [{"units": 8}], "training": {"epochs": 40, "importance_repeats": 0}}
    plain, _ = nn.fit(spec, X, y)
    balanced, _history = nn.fit(
        {**spec, "training": {**spec["training"], "class_weight": "balanced"}}, X, y
    )
    recall_plain = plain.evaluation["recall"][1]
    recall_balanced = balanced.evaluation["recall"][1]
    assert recall_balanced >= recall_plain + 0.3, (recall_plain, recall_balanced)
    # the validation metrics weigh each class as the loss does: balanced accuracy
    ev = balanced.evaluation
    assert ev["support"][0] == pytest.approx(ev["support"][1], rel=0.35)
    assert ev["accuracy"] == pytest.approx(np.mean(ev["recall"]), abs=0.03)


def test_class_weights_by_name_and_sample_weights_multiply():
    X, y = _imbalanced(n=100)
    labels = np.where(y == 1, "rare", "common").astype(object)
    w = np.linspace(0.5, 1.5, 100)
    spec = {"training": {"epochs": 2, "class_weight": {"rare": 10}, "validation_split": 0.2}}
    p = nn.training.prepare(spec, X, labels, sample_weight=w)
    np.testing.assert_allclose(p.weights, w * np.where(y == 1, 10.0, 1.0))
    w_train, _ = p.training_weights()
    assert w_train.mean() == pytest.approx(1.0)


def test_sample_weights_enter_the_validation_loss_and_metrics():
    X, y = _imbalanced(n=200)
    spec = {"layers": [], "training": {"epochs": 3, "importance_repeats": 0}}
    w = np.ones(200)
    w[y == 1] = 5.0
    model, history = nn.fit(spec, X, y, sample_weight=w)
    p = nn.training.prepare(spec, X, y)
    val = p.val_rows
    proba = model.predict_proba(X[val])[:, 0].astype(np.float64)
    yv = y[val]
    losses = -(yv * np.log(proba) + (1 - yv) * np.log1p(-proba))
    expected = np.dot(w[val], losses) / w[val].sum()
    assert history["val_loss"][history.best_epoch - 1] == pytest.approx(expected, rel=1e-4)
    right = (proba >= 0.5) == (yv == 1)
    assert model.metrics["val_accuracy"] == pytest.approx(np.dot(w[val], right) / w[val].sum())


@pytest.mark.parametrize(
    ("weight", "reason"),
    [
        ([1.0, -1.0, 1.0, 1.0, 1.0, 1.0], "negative"),
        ([1.0, float("nan"), 1.0, 1.0, 1.0, 1.0], "missing"),
        ([1.0, float("inf"), 1.0, 1.0, 1.0, 1.0], "not finite"),
        ([0.0] * 6, "every weight is 0"),
        ([1.0] * 5, "has 5 values"),
        (["a"] * 6, "numbers"),
    ],
)
def test_bad_sample_weights_are_refused_by_name(weight, reason):
    X, y = np.arange(12.0).reshape(6, 2), [0, 1, 0, 1, 0, 1]
    with pytest.raises(nn.SpecError) as e:
        nn.validate({}, X, y, sample_weight=weight)
    assert e.value.field == "weight" and reason in e.value.reason


@pytest.mark.parametrize(
    ("class_weight", "y", "field", "reason"),
    [
        ({"2": 1.0}, [0, 1, 0, 1, 0, 1], "training.class_weight.2", "no class '2'"),
        ({"1": 0}, [0, 1, 0, 1, 0, 1], "training.class_weight.1", "> 0"),
        ({"1": "x"}, [0, 1, 0, 1, 0, 1], "training.class_weight.1", "number"),
        ("even", [0, 1, 0, 1, 0, 1], "training.class_weight", "balanced"),
        ("balanced", [0.5, 1.5, 2.5, 1.0, 2.0, 3.0], "training.class_weight", "regression"),
    ],
)
def test_bad_class_weights_are_refused_by_name(class_weight, y, field, reason):
    X = np.arange(12.0).reshape(6, 2)
    with pytest.raises(nn.SpecError) as e:
        nn.validate({"training": {"class_weight": class_weight}}, X, y)
    assert e.value.field == field and reason in e.value.reason


def test_more_class_weights_than_a_target_may_have_classes_are_refused_by_the_limit():
    X, y = np.arange(12.0).reshape(6, 2), [0, 1, 0, 1, 0, 1]
    weights = {str(i): 1.0 for i in range(6)}
    with pytest.raises(nn.SpecError) as e:
        nn.validate({"training": {"class_weight": weights}}, X, y, nn.Limits(max_classes=5))
    assert e.value.field == "training.class_weight" and e.value.limit == "max_classes"


def test_boolean_classes_are_named_as_json_keys_name_them():
    X, y = np.arange(12.0).reshape(6, 2), [True, False] * 3
    p = nn.training.prepare({"training": {"class_weight": {"true": 3}}}, X, y)
    np.testing.assert_allclose(p.weights, np.where(np.array(y), 3.0, 1.0))


def test_a_tables_weights_follow_its_rows_that_drop_rows_drops():
    table = {"a": [1.0, None, 3.0, 4.0, 5.0, 6.0], "c": ["x", "y", "x", "y", "x", "y"]}
    y = [0, 1, 0, 1, 0, 1]
    w = [1.0, 99.0, 1.0, 2.0, 1.0, 2.0]
    prep, X, y_kept, w_kept = nn.tabular.encode_weighted_table(
        table, y, w, {"missing": "drop_rows"}
    )
    assert len(X) == 5 and list(y_kept) == [0, 0, 1, 0, 1]
    assert list(w_kept) == [1.0, 1.0, 2.0, 1.0, 2.0]
    # the weights are no column of the preparation
    assert prep.names == ["a", "c"]
    spec = {"training": {"epochs": 2, "validation_split": 0}, "data": {"missing": "drop_rows"}}
    model, _ = nn.fit(spec, table, y, sample_weight=w)
    assert model.evaluation["n_rows"] == 5 and model.preparation.names == ["a", "c"]
    with pytest.raises(nn.SpecError) as e:
        nn.fit(spec, table, y, sample_weight=w[:5])
    assert e.value.field == "weight" and "5 values but X has 6 rows" in e.value.reason
