"""The metrics a model is judged by and its permutation importance, against scikit-learn's
on fixed predictions, and as nn.fit stores them on the model."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.inspection import permutation_importance as sk_permutation_importance

import nn
from nn import metrics

TOL = 1e-9


def _close(a, b):
    np.testing.assert_allclose(
        np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=0, atol=TOL
    )


def _check_scores(got, y, pred, weight, labels=None):
    """Accuracy, per-class precision, recall and F1, macro and weighted F1."""
    w = {"sample_weight": weight}
    precision, recall, f1, _ = skm.precision_recall_fscore_support(
        y, pred, labels=labels, zero_division=0, **w
    )
    _close(got["accuracy"], skm.accuracy_score(y, pred, **w))
    _close(got["precision"], precision)
    _close(got["recall"], recall)
    _close(got["f1"], f1)
    _close(got["macro_f1"], skm.f1_score(y, pred, average="macro", **w))
    _close(got["weighted_f1"], skm.f1_score(y, pred, average="weighted", **w))


@pytest.fixture(params=[False, True], ids=["unweighted", "weighted"])
def weight(request):
    return np.random.default_rng(7).uniform(0.1, 3.0, 60) if request.param else None


def test_binary_metrics_equal_scikit_learns(weight):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 60)
    p = np.clip(0.3 * y + rng.uniform(0, 0.7, 60), 0.01, 0.99)
    p[:6] = 0.5  # ties, and rows exactly on the threshold
    got = metrics.classification("binary", y, p, ["no", "yes"], 0.5, weight)
    pred = (p >= 0.5).astype(int)
    _check_scores(got, y, pred, weight, labels=[0, 1])
    _close(got["support"], skm.confusion_matrix(y, pred, sample_weight=weight).sum(axis=1))
    _close(got["confusion_matrix"], skm.confusion_matrix(y, pred, sample_weight=weight))
    _close(got["log_loss"], skm.log_loss(y, p, sample_weight=weight))
    _close(got["roc_auc"], skm.roc_auc_score(y, p, sample_weight=weight))
    assert got["classes"] == ["no", "yes"]


def test_multiclass_metrics_equal_scikit_learns(weight):
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 60)
    y[:2] = 3  # every class present
    logits = rng.normal(size=(60, 4)) + 1.5 * np.eye(4)[y]
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    got = metrics.classification("multiclass", y, p, ["a", "b", "c", "d"], 0.5, weight)
    pred = p.argmax(axis=1)
    _check_scores(got, y, pred, weight, labels=[0, 1, 2, 3])
    _close(got["confusion_matrix"], skm.confusion_matrix(y, pred, sample_weight=weight))
    _close(got["log_loss"], skm.log_loss(y, p, sample_weight=weight))
    assert "roc_auc" not in got


def test_multilabel_metrics_equal_scikit_learns_per_label(weight):
    rng = np.random.default_rng(2)
    Y = rng.integers(0, 2, (60, 3))
    P = np.clip(0.4 * Y + rng.uniform(0, 0.6, (60, 3)), 0.01, 0.99)
    got = metrics.classification("multilabel", Y, P, [0, 1, 2], 0.5, weight)
    pred = (P >= 0.5).astype(int)
    _check_scores(got, Y, pred, weight)
    _close(got["confusion_matrix"], skm.multilabel_confusion_matrix(Y, pred, sample_weight=weight))
    per_label = [skm.log_loss(Y[:, j], P[:, j], sample_weight=weight) for j in range(3)]
    _close(got["log_loss"], np.mean(per_label))
    _close(got["roc_auc"], skm.roc_auc_score(Y, P, average=None, sample_weight=weight))


def test_regression_metrics_equal_scikit_learns(weight):
    rng = np.random.default_rng(3)
    y = rng.normal(size=(60, 2)) * [1.0, 50.0]
    z = y + rng.normal(size=(60, 2)) * [0.3, 20.0]
    got = metrics.regression(y, z, weight)
    _close(got["mae"], skm.mean_absolute_error(y, z, sample_weight=weight))
    _close(got["rmse"], skm.root_mean_squared_error(y, z, sample_weight=weight))
    _close(got["r2"], skm.r2_score(y, z, sample_weight=weight))
    one = metrics.regression(y[:, 0], z[:, 0], weight)
    _close(one["r2"], skm.r2_score(y[:, 0], z[:, 0], sample_weight=weight))


def test_edge_cases_follow_scikit_learn():
    # a class never predicted: precision 0 (not NaN); one class present: no ROC AUC
    y, p = np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.3, 0.4])
    got = metrics.classification("binary", y, p, [0, 1])
    assert got["precision"] == [0.5, 0.0] and got["recall"] == [1.0, 0.0]
    assert metrics.roc_auc(np.zeros(4), p) is None
    # R² of a constant column: 1 when exact, else 0 (scikit-learn's force_finite)
    assert metrics.regression(np.ones(3), np.ones(3))["r2"] == skm.r2_score(np.ones(3), np.ones(3))
    assert metrics.regression(np.ones(3), np.arange(3.0))["r2"] == skm.r2_score(
        np.ones(3), np.arange(3.0)
    )


class _Wrapped:
    """A fitted nn model as scikit-learn's permutation_importance calls it."""

    def __init__(self, model):
        self.model = model

    def fit(self, X, y):  # pragma: no cover - never called: the model is trained
        return self


def _informative(n=300, noise=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 1 + noise))
    y = (X[:, 0] > 0).astype(int)
    return X, y


def test_permutation_importance_equals_scikit_learns_and_ranks_the_informative_feature():
    X, y = _informative()
    spec = {"layers": [{"units": 8}], "training": {"epochs": 30, "importance_repeats": 0}}
    model, _ = nn.fit(spec, X, y)

    def accuracy(est, X_, y_):
        return float(np.mean(np.asarray(est.model.predict(X_)["predictions"]) == y_))

    ours = nn.importance.permutation_importance(
        lambda X_: accuracy(_Wrapped(model), X_, y),
        X,
        nn.importance.check_groups(None, model.feature_names),
        n_repeats=4,
        seed=11,
    )
    theirs = sk_permutation_importance(
        _Wrapped(model), X, y, scoring=accuracy, n_repeats=4, random_state=11
    )
    order = [model.feature_names.index(name) for name in ours["features"]]
    _close(ours["mean"], theirs.importances_mean[order])
    _close(ours["std"], theirs.importances_std[order])
    assert ours["features"][0] == "x0"
    assert ours["mean"][0] > 0.2 and max(ours["mean"][1:]) < 0.05


def test_fit_stores_the_evaluation_and_the_importance_of_each_raw_feature():
    X, y = _informative(noise=2)
    # a raw feature spread over two columns: its columns are shuffled together
    X = np.column_stack([X, -X[:, 0]])
    groups = {"signal": [0, 3], "noise_a": [1], "noise_b": [2]}
    spec = {"layers": [{"units": 8}], "training": {"epochs": 30, "importance_repeats": 3}}
    model, _ = nn.fit(spec, X, y, groups=groups)
    ev = model.evaluation
    assert ev["rows"] == "validation" and ev["n_rows"] == 60
    assert np.sum(ev["confusion_matrix"]) == 60 and ev["classes"] == [0, 1]
    # the evaluation is the metrics of the model's own predictions on those rows
    p = nn.training.prepare(spec, X, y)
    proba = model.predict_proba(X[p.val_rows])[:, 0]
    _close(ev["roc_auc"], skm.roc_auc_score(y[p.val_rows], proba))
    _close(ev["accuracy"], skm.accuracy_score(y[p.val_rows], (proba >= 0.5).astype(int)))
    imp = model.importance
    assert imp["features"][0] == "signal" and set(imp["features"]) == set(groups)
    assert len(imp["std"]) == 3 and imp["n_repeats"] == 3 and imp["scoring"] == "accuracy"
    back = nn.load(model.to_bytes())
    assert back.evaluation == ev and back.importance == imp


def test_regression_models_are_evaluated_in_the_targets_units():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(200, 2))
    y = 100 + 30 * X[:, 0] + rng.normal(size=200)
    spec = {"layers": [{"units": 8}], "training": {"epochs": 40, "importance_repeats": 2}}
    model, _ = nn.fit(spec, X, y)
    p = nn.training.prepare(spec, X, y)
    pred = np.asarray(model.predict(X[p.val_rows])["predictions"])
    _close(model.evaluation["mae"], skm.mean_absolute_error(y[p.val_rows], pred))
    _close(model.evaluation["rmse"], skm.root_mean_squared_error(y[p.val_rows], pred))
    _close(model.evaluation["r2"], skm.r2_score(y[p.val_rows], pred))
    assert model.importance["features"][0] == "x0" and model.importance["scoring"] == "r2"


def test_groups_that_name_no_column_are_refused():
    X, y = _informative(n=40)
    with pytest.raises(nn.SpecError) as e:
        nn.fit({"training": {"epochs": 1}}, X, y, groups={"a": [0, 9]})
    assert e.value.field == "groups.a"


def _colours(n=120, seed=0):
    rng = np.random.default_rng(seed)
    colour = rng.choice(["red", "green", "blue"], size=n)
    size = rng.normal(size=n).round(3)
    y = (colour == "red").astype(int)
    return {"size": size.tolist(), "colour": colour.tolist()}, y


def test_a_categorical_columns_importance_is_under_its_raw_name():
    table, y = _colours()
    spec = {"layers": [{"units": 8}], "training": {"epochs": 40, "importance_repeats": 3}}
    model, _ = nn.fit(spec, table, y)
    # one entry per raw column: the one-hot columns of colour are shuffled together
    assert sorted(model.importance["features"]) == ["colour", "size"]
    assert model.importance["features"][0] == "colour"
    assert model.feature_names == model.preparation.encoded
    assert "colour=red" in model.feature_names and "colour" not in model.feature_names


def test_a_table_models_evaluation_and_preparation_reload_exactly():
    table, y = _colours(60)
    spec = {"layers": [{"units": 4}], "training": {"epochs": 5, "importance_repeats": 2}}
    model, _ = nn.fit(spec, table, y, sample_weight=np.linspace(0.5, 2, 60))
    again = nn.load(model.to_bytes())
    assert again.preparation.as_dict() == model.preparation.as_dict()
    assert again.feature_names == model.feature_names == model.preparation.encoded
    assert again.evaluation == model.evaluation and again.importance == model.importance
    assert again.describe() == model.describe()
