"""Numerical stability: huge logits and inputs give finite values and no RuntimeWarning.

pytest turns every RuntimeWarning into an error (pyproject.toml), so an overflow or an
invalid operation anywhere below fails the test.
"""

import numpy as np
import pytest

import nn
from nn.activations import ACTIVATIONS
from nn.losses import OUTPUTS
from nn.network import Layer, Network

EXTREME = np.array([[-1e6, -1000.0, -100.0, -1e-30, 0.0, 1e-30, 100.0, 1000.0, 1e6]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_and_derivative_finite_at_extremes(name, dtype):
    act = ACTIVATIONS[name]
    params = {k: p.default for k, p in act.params.items()}
    z = np.repeat(EXTREME.astype(dtype), 2, axis=1)  # even width for maxout's pieces
    a = act.forward(z, **params)
    grad = act.backward(np.ones_like(a), z, a, **params)
    assert np.isfinite(a).all() and np.isfinite(grad).all()
    assert a.dtype == dtype and grad.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(OUTPUTS))
def test_losses_finite_at_logits_of_1000(name, dtype):
    z = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 1000.0]], dtype=dtype)
    y = np.array([[0, 1, 0], [1, 0, 0]], dtype=dtype)  # confidently wrong on purpose
    loss, delta = OUTPUTS[name].loss(z, y)
    assert np.isfinite(loss) and np.isfinite(delta).all()
    assert loss > 1000  # wrong by a logit of 1000 costs about 1000, not inf and not 0
    p = OUTPUTS[name].activation(z)
    assert np.isfinite(p).all()


def test_probabilities_exact_at_extremes():
    z = np.array([[1000.0, -1000.0]], dtype=np.float32)
    assert OUTPUTS["sigmoid"].activation(z).tolist() == [[1.0, 0.0]]
    assert OUTPUTS["softmax"].activation(z).tolist() == [[1.0, 0.0]]


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@pytest.mark.parametrize("output", list(OUTPUTS))
def test_network_step_finite_on_inputs_of_1e6(name, output):
    act = ACTIVATIONS[name]
    params = {k: p.default for k, p in act.params.items()}
    net = Network(3, [Layer(8, act, params), Layer(8, act, params)], 2, OUTPUTS[output])
    net.initialize(np.random.default_rng(0))
    X = np.full((4, 3), 1e6, dtype=np.float32) * [[1], [-1], [1], [-1]]
    Y = np.array([[1, 0], [0, 1], [0, 1], [1, 0]], dtype=np.float32)
    loss, z = net.train_batch(X, Y)
    assert np.isfinite(loss) and np.isfinite(z).all() and np.isfinite(net.grads).all()


@pytest.mark.parametrize("standardize", [True, False])
def test_fit_on_inputs_of_1e6_stays_finite(standardize):
    rng = np.random.default_rng(0)
    X = rng.normal(0, 1, (200, 3)) * 1e6
    y = (X[:, 0] > 0).astype(int)
    spec = {
        "layers": [{"units": 8, "activation": "tanh"}],
        "training": {"epochs": 3, "standardize": standardize, "learning_rate": 1e-4},
    }
    model, history = nn.fit(spec, X, y)
    assert all(np.isfinite(history["loss"])) and all(np.isfinite(history["val_loss"]))
    assert np.isfinite(model.predict(X)["probabilities"]).all()


def test_divergence_is_a_clear_error_naming_the_epoch():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 2)) * 1e30
    y = rng.normal(size=64) * 1e30
    spec = {
        "layers": [{"units": 4, "activation": "relu"}],
        "training": {"standardize": False, "learning_rate": 10.0, "optimizer": "sgd", "epochs": 5},
    }
    with pytest.raises(nn.TrainingError) as e:
        nn.fit(spec, X, y)
    assert "epoch 1" in str(e.value) and "smaller learning_rate" in str(e.value)
    assert e.value.epoch == 1
