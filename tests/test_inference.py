"""The prepared prediction pass (nn.inference) answers bit for bit what the general path
answers, and refuses what it refuses.

Rows sent as a float64 array take the prepared pass; the same rows as nested lists take
the general one (``as_features`` and the scaler's checks), so comparing the two answers
compares the paths.
"""

import numpy as np
import pytest

import nn
from nn.activations import ACTIVATIONS
from nn.errors import SpecError
from nn.inference import _SMALL, _relu_in_place

FEATURES = 6
LAYERS = {
    "relu": [{"units": 16, "activation": "relu"}, {"units": 8, "activation": "relu"}],
    "mixed": [
        {"units": 12, "activation": "leaky_relu"},
        {"units": 6, "activation": "tanh"},
        {"units": 4, "activation": "maxout"},
    ],
}


def _rows(n, seed=0):
    return np.random.default_rng(seed).standard_normal((n, FEATURES)) * 3 + 1


def _model(kind: str, layers: str) -> nn.Model:
    x = _rows(300, 1)
    y = {
        "binary": (x[:, 0] > 1).astype(int),
        "multiclass": np.digitize(x[:, 0] + x[:, 1], [0.0, 2.0, 4.0]),
        "multilabel": np.stack([x[:, 0] > 1, x[:, 1] > 0, x[:, 2] > 2], axis=1).astype(int),
        "regression": x[:, :2] @ [1.5, -2.0],
    }[kind]
    spec = {
        "layers": LAYERS[layers],
        "training": {"epochs": 3, "validation_split": 0, "early_stopping": False},
    }
    if kind == "regression":
        spec["output"] = "linear"
    return nn.fit(spec, x, y)[0]


@pytest.mark.parametrize("layers", list(LAYERS))
@pytest.mark.parametrize("kind", ["binary", "multiclass", "multilabel", "regression"])
def test_prepared_pass_answers_what_the_general_path_answers(kind, layers):
    model = _model(kind, layers)
    assert model.kind == kind
    for n in (1, 2, 64, 3000):  # 3000: more than one chunk of the network
        x = _rows(n, n)
        fast, general = model.predict(x), model.predict(x.tolist())
        assert model._plan.accepts(x)
        assert fast == general
        # the answers' floats are equal as bits too (== holds for 0.0 and -0.0)
        assert repr(fast) == repr(general)
    # and a model loaded from its bytes plans the same
    again = nn.load(model.to_bytes())
    assert again.predict(_rows(5)) == model.predict(_rows(5).tolist())


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (np.nan, "non-finite value nan at row 1, column 2"),
        (np.inf, "non-finite value inf at row 1, column 2"),
        (-np.inf, "non-finite value -inf at row 1, column 2"),
        (1e300, "values too large for float32 arithmetic"),
        (-1e40, "values too large for float32 arithmetic"),
    ],
)
def test_prepared_pass_refuses_by_name_what_the_general_path_refuses(value, message):
    model = _model("binary", "relu")
    x = _rows(3)
    x[1, 2] = value
    for rows in (x, x.tolist()):
        with pytest.raises(SpecError, match=message):
            model.predict(rows)


def test_largest_accepted_values_are_predicted_not_refused():
    model = _model("multiclass", "relu")
    # large but within float32 once scaled: both paths predict, and agree
    x = _rows(2) * 1e30
    assert model.predict(x) == model.predict(x.tolist())


def test_inputs_the_plan_does_not_take_go_the_general_way():
    model = _model("binary", "relu")
    x = _rows(4)
    expected = model.predict(x)
    # float32 rows go the general way; the same values as float64 take the plan
    x32 = x.astype(np.float32)
    assert model.predict(x32) == model.predict(x32.astype(np.float64))
    assert model.predict(np.asfortranarray(x)) == expected
    assert model.predict(x.round().astype(np.int64)) == model.predict(x.round().tolist())
    with pytest.raises(SpecError, match="rows have 5 features; the model takes 6"):
        model.predict(x[:, :5])
    with pytest.raises(SpecError, match="has no rows"):
        model.predict(x[:0])


@pytest.mark.parametrize("n", [1, _SMALL // 8, 200])
def test_relu_in_place_is_relu_bit_for_bit(n):
    specials = [1.0, -1.0, 0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 3e38, -3e38]
    z = np.resize(np.array(specials, np.float32), (n, 8 * len(specials)))
    with np.errstate(invalid="ignore"):
        expected = ACTIVATIONS["relu"].forward(z.copy())
        got = _relu_in_place(z.copy())
    assert got.dtype == np.float32
    assert got.tobytes() == expected.tobytes()


@pytest.mark.parametrize("k", [2, 3, 10, 1000])
def test_one_rows_softmax_takes_fewer_calls_for_the_same_values(k):
    from nn.losses import _softmax_columns, softmax

    rows = np.random.default_rng(k).normal(0, 5, size=(4, k)).astype(np.float32)
    for row in rows:
        z = row[None, :].copy()
        one = softmax(z)
        assert one.dtype == np.float32 and one.shape == (1, k)
        assert one.tobytes() == _softmax_columns(z).tobytes()
        assert z.tobytes() == row.tobytes()  # its input untouched
