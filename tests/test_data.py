"""Data preparation: inputs, labels, targets, splits; and every refusal of bad data."""

import numpy as np
import pytest

import nn
from nn.data import Scaler, as_features, encode_targets, split

FAST = {"layers": [{"units": 8}], "training": {"epochs": 2}}


@pytest.mark.parametrize(
    ("X", "y", "field", "reason"),
    [
        ([[1, 2], [3]], [0, 1], "X", "same length"),
        ([[1, "a"], [3, 4]], [0, 1], "X", "only numbers"),
        ([[1, None], [3, 4]], [0, 1], "X", "only numbers"),
        ([1, 2, 3], [0, 1, 0], "X", "must be 2-D"),
        (5, [0], "X", "must be 2-D"),
        ([[[1, 2]], [[3, 4]]], [0, 1], "X", "must be 2-D"),
        (np.zeros((0, 2)), [], "X", "no rows"),
        (np.zeros((3, 0)), [0, 1, 0], "X", "no features"),
        ([[1, float("nan")], [3, 4]], [0, 1], "X", "non-finite value nan at row 0, column 1"),
        ([[1, 2], [float("inf"), 4]], [0, 1], "X", "non-finite value inf at row 1, column 0"),
        ([[1, 2], [3, 4], [5, 6]], [0, 1], "y", "has 2 rows but X has 3"),
        ([[1, 2], [3, 4]], [[0, 1], [1]], "y", "same length"),
        ([[1, 2], [3, 4]], [1, 1], "y", "only one class (1)"),
        ([[1, 2], [3, 4]], ["a", "a"], "y", "only one class ('a')"),
        ([[1, 2], [3, 4]], [0, float("nan")], "y", "non-finite"),
        ([[1, 2], [3, 4]], [None, 1], "y", "numbers, strings or booleans"),
        ([[1, 2], [3, 4]], [[[0]], [[1]]], "y", "dimensions"),
    ],
)
def test_bad_data_is_refused_with_field_and_reason(X, y, field, reason):
    with pytest.raises(nn.SpecError) as e:
        nn.fit(FAST, X, y)
    assert e.value.field == field
    assert reason in e.value.reason


@pytest.mark.parametrize(
    ("output", "y", "field", "reason"),
    [
        ("sigmoid", [0.5, 1.5, 0.5, 1.5], "y", "float labels"),
        ("softmax", [0.1, 0.2, 0.3, 0.4], "y", "float labels"),
        ("sigmoid", [0, 1, 2, 2], "output", "sigmoid takes two classes"),
        ("linear", ["a", "b", "a", "b"], "y", "numeric targets"),
        ("softmax", [[0, 1], [1, 0], [1, 1], [0, 0]], "y", "softmax takes one label per row"),
        ("sigmoid", [[0, 2], [1, 0], [1, 1], [0, 0]], "y", "only 0 and 1"),
    ],
)
def test_output_and_targets_must_agree(output, y, field, reason):
    with pytest.raises(nn.SpecError) as e:
        encode_targets(y, 4, output)
    assert (e.value.field, reason in e.value.reason) == (field, True)


@pytest.mark.parametrize(
    ("y", "output", "kind", "classes"),
    [
        ([0, 1, 1, 0], "sigmoid", "binary", [0, 1]),
        (["no", "yes", "yes", "no"], "sigmoid", "binary", ["no", "yes"]),
        ([True, False, True, False], "sigmoid", "binary", [False, True]),
        (["cat", "dog", "mouse", "dog"], "softmax", "multiclass", ["cat", "dog", "mouse"]),
        ([3, 1, 2, 1], "softmax", "multiclass", [1, 2, 3]),
        ([[0, 1, 1], [1, 0, 0], [1, 1, 0], [0, 0, 1]], "sigmoid", "multilabel", [0, 1, 2]),
        ([0.5, 1.5, 2.0, 3.0], "linear", "regression", None),
        ([[0.5, 1.0], [1.5, 2.0], [2.0, 0.1], [3.0, 0.0]], "linear", "regression", None),
    ],
)
def test_output_is_inferred_from_y(y, output, kind, classes):
    t = encode_targets(y, 4)
    assert (t.output, t.kind, t.classes) == (output, kind, classes)


def test_explicit_outputs_accept_compatible_targets():
    assert encode_targets([0, 1, 0, 1], 4, "softmax").kind == "multiclass"
    assert encode_targets([0.0, 1.0, 0.0, 1.0], 4, "sigmoid").classes == [0, 1]
    assert encode_targets([1, 5, 3, 2], 4, "linear").kind == "regression"
    column = encode_targets([[0], [1], [1], [0]], 4)
    assert (column.kind, column.classes) == ("binary", [0, 1])


def test_classes_are_json_ready_python_values():
    for y in ([0, 1], ["a", "b"], [True, False]):
        classes = encode_targets(np.asarray(y), 2).classes
        assert all(type(c) in (int, str, bool) for c in classes)


def test_scaler_handles_constant_columns_and_far_offsets():
    x = np.array([[5.0, 1e9 + 1, 3.0], [5.0, 1e9 + 3, 3.0], [5.0, 1e9 + 5, 3.0]])
    s = Scaler.fit(x)
    out = s.transform(x, np.float64)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out[:, 0], 0)
    np.testing.assert_allclose(out[:, 1], [-1.2247449, 0, 1.2247449], rtol=1e-6)
    np.testing.assert_allclose(s.inverse(out), x)


def test_stratified_split_keeps_class_shares_and_every_class_in_training():
    labels = np.array([0] * 80 + [1] * 20 + [2] * 1)
    train, val = split(len(labels), 0.2, np.random.default_rng(0), labels)
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(101))
    assert np.bincount(labels[val]).tolist() == [16, 4]
    assert set(labels[train]) == {0, 1, 2}


def test_too_few_rows_for_validation_is_refused():
    with pytest.raises(nn.SpecError) as e:
        nn.fit({"training": {"validation_split": 0.2}}, [[0.0], [1.0]], [0, 1])
    assert e.value.field == "training.validation_split"
    assert "no validation rows" in e.value.reason
    model, _ = nn.fit(
        {"layers": [], "training": {"validation_split": 0, "epochs": 2}}, [[0.0], [1.0]], [0, 1]
    )
    assert model.n_features == 1


def test_huge_unstandardized_inputs_are_refused_rather_than_overflowing():
    with pytest.raises(nn.SpecError, match="standardize"):
        nn.fit(
            {"training": {"standardize": False}}, [[1e300], [2e300], [3e300], [4e300]], [0, 1, 0, 1]
        )


def test_small_stratified_split_still_gets_its_validation_rows():
    labels = np.array([0, 1, 0, 1, 1])
    train, val = split(5, 0.2, np.random.default_rng(0), labels)
    assert len(val) == 1 and set(labels[train]) == {0, 1}
    skewed = np.array([0] * 9 + [1])
    train, val = split(10, 0.5, np.random.default_rng(0), skewed)
    assert len(val) == 5 and set(skewed[val]) == {0}
    assert 9 in train  # the only row of class 1 stays in training


def test_as_features_checks_the_feature_count_for_prediction():
    with pytest.raises(nn.SpecError, match="rows have 3 features; the model takes 2"):
        as_features([[1, 2, 3]], "inputs", n_features=2)


def test_too_many_classes_names_the_limit():
    with pytest.raises(nn.SpecError) as e:
        encode_targets(np.arange(5), 5, limits=nn.Limits(max_classes=4))
    assert e.value.limit == "max_classes" and "at most 4" in e.value.reason
