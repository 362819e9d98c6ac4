"""Exact gradients: central differences over every activation, loss and output type."""

import numpy as np
import pytest

import nn
from nn.activations import ACTIVATIONS, sigmoid
from nn.losses import OUTPUTS
from nn.network import Layer, Network
from nn.optimizers import SGD
from tests.helpers import check_network_gradient, numeric_grad, targets_for

ELEMENTWISE = [a for a in ACTIVATIONS.values() if a.derivative is not None]
# parameter values away from the defaults, so a parameter that is ignored is caught
OTHER_PARAMS = {"leaky_relu": {"alpha": 0.2}, "elu": {"alpha": 0.7}, "maxout": {"pieces": 3}}


def _z(rng, shape=(7, 5)):
    z = rng.normal(0, 2, shape)
    # keep away from the kinks of relu-like functions, where no derivative exists
    return np.where(np.abs(z) < 0.05, z + 0.1, z)


@pytest.mark.parametrize("act", ELEMENTWISE, ids=lambda a: a.name)
@pytest.mark.parametrize("use_other_params", [False, True])
def test_activation_derivative_matches_central_differences(act, use_other_params):
    params = {k: p.default for k, p in act.params.items()}
    if use_other_params:
        params.update(OTHER_PARAMS.get(act.name, {}))
    z = _z(np.random.default_rng(0))
    a = act.forward(z, **params)
    analytic = act.derivative(z, a, **params)
    eps = 1e-6
    numeric = (act.forward(z + eps, **params) - act.forward(z - eps, **params)) / (2 * eps)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)
    # backward is grad_a * derivative
    g = np.random.default_rng(1).normal(size=z.shape)
    np.testing.assert_allclose(act.backward(g.copy(), z, a, **params), g * analytic)


def test_every_registered_activation_is_covered():
    assert {a.name for a in ELEMENTWISE} | {"maxout"} == set(ACTIVATIONS)
    assert set(ACTIVATIONS) == {
        "linear",
        "sigmoid",
        "tanh",
        "relu",
        "leaky_relu",
        "elu",
        "selu",
        "gelu",
        "silu",
        "softplus",
        "maxout",
    }


@pytest.mark.parametrize("name", list(OUTPUTS))
def test_loss_gradient_is_p_minus_y(name):
    rng = np.random.default_rng(0)
    out = OUTPUTS[name]
    z = rng.normal(0, 3, (6, 4))
    if name == "softmax":
        y = np.eye(4)[rng.integers(0, 4, 6)]
    elif name == "sigmoid":
        y = rng.integers(0, 2, (6, 4)).astype(float)
    else:
        y = rng.normal(0, 2, (6, 4))
    _loss, delta = out.loss(z, y)
    np.testing.assert_allclose(delta, out.activation(z) - y, atol=1e-12)
    numeric = numeric_grad(lambda: out.loss(z, y)[0], z)
    np.testing.assert_allclose(delta, numeric, rtol=1e-6, atol=1e-8)


def test_losses_equal_their_textbook_forms_on_moderate_logits():
    rng = np.random.default_rng(0)
    z = rng.normal(0, 2, (5, 3))
    y01 = rng.integers(0, 2, (5, 3)).astype(float)
    p = 1 / (1 + np.exp(-z))
    bce = -(y01 * np.log(p) + (1 - y01) * np.log(1 - p)).sum()
    assert OUTPUTS["sigmoid"].loss(z, y01)[0] == pytest.approx(bce, rel=1e-12)
    onehot = np.eye(3)[[0, 2, 1, 1, 0]]
    q = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    assert OUTPUTS["softmax"].loss(z, onehot)[0] == pytest.approx(-np.log(q[onehot == 1]).sum())
    target = rng.normal(size=(5, 3))
    assert OUTPUTS["linear"].loss(z, target)[0] == pytest.approx(0.5 * ((z - target) ** 2).sum())


@pytest.mark.parametrize("output", ["sigmoid-binary", "sigmoid-multilabel", "softmax", "linear"])
def test_whole_network_gradient_with_every_activation(output):
    name = output.split("-")[0]
    k = 1 if output == "sigmoid-binary" else 3
    rng = np.random.default_rng(42)
    names = list(ACTIVATIONS)
    # every activation appears once in a stack, with its non-default parameters
    layers = [
        Layer(
            3,
            ACTIVATIONS[a],
            {**{p: v.default for p, v in ACTIVATIONS[a].params.items()}, **OTHER_PARAMS.get(a, {})},
        )
        for a in names
    ]
    net = Network(4, layers, k, OUTPUTS[name], dtype=np.float64)
    net.initialize(np.random.default_rng(0))
    net.params += rng.normal(0, 0.05, net.params.shape)  # non-zero biases too
    X = rng.normal(size=(5, 4))
    check_network_gradient(net, X, targets_for(name, rng, 5, k), l2=0.01)


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
@pytest.mark.parametrize("output", list(OUTPUTS))
def test_gradient_per_activation_with_dropout_and_l2(activation, output):
    rng = np.random.default_rng(3)
    act = ACTIVATIONS[activation]
    params = {p: v.default for p, v in act.params.items()}
    layers = [Layer(4, act, params, dropout=0.3), Layer(3, act, params)]
    net = Network(3, layers, 2, OUTPUTS[output], dtype=np.float64)
    net.initialize(np.random.default_rng(1))
    net.params += rng.normal(0, 0.05, net.params.shape)
    check_network_gradient(
        net, rng.normal(size=(6, 3)), targets_for(output, rng, 6, 2), l2=0.05, dropout_seed=7
    )


def test_worked_example_2_2_1_one_sgd_step_by_hand():
    """x = (1, 2), y = 1; relu hidden layer, sigmoid output, one SGD step with lr 0.1.

    z1 = x W1 = (1*0.1 + 2*0.3, 1*0.2 + 2*0.4) = (0.7, 1.0); h = relu(z1) = (0.7, 1.0)
    z2 = 0.7*0.5 + 1.0*(-0.5) = -0.15; p = 1 / (1 + e^0.15) = 0.46257015465625045
    loss = log(1 + e^0.15) = 0.770957047789532; delta2 = p - y = -0.5374298453437496
    dW2 = h^T delta2 = (-0.3762008917406247, -0.5374298453437496); db2 = delta2
    dh = delta2 W2^T = (-0.2687149226718748, +0.2687149226718748) = delta1 (relu' = 1)
    dW1 = x^T delta1 = [[-0.26871.., +0.26871..], [-0.53742.., +0.53742..]]; db1 = delta1
    """
    net = Network(2, [Layer(2, ACTIVATIONS["relu"])], 1, OUTPUTS["sigmoid"], dtype=np.float64)
    net.W[0][...] = [[0.1, 0.2], [0.3, 0.4]]
    net.W[1][...] = [[0.5], [-0.5]]
    loss = net.loss_and_grad(np.array([[1.0, 2.0]]), np.array([[1.0]]))
    assert loss == pytest.approx(0.770957047789532, abs=1e-15)
    d2, d1 = -0.5374298453437496, 0.2687149226718748
    np.testing.assert_allclose(net.gW[1], [[-0.3762008917406247], [d2]], atol=1e-15)
    np.testing.assert_allclose(net.gb[1], [d2], atol=1e-15)
    np.testing.assert_allclose(net.gW[0], [[-d1, d1], [-2 * d1, 2 * d1]], atol=1e-15)
    np.testing.assert_allclose(net.gb[0], [-d1, d1], atol=1e-15)

    SGD(0.1).step(net.params, net.grads)
    np.testing.assert_allclose(net.W[1], [[0.5376200891740625], [-0.446257015465625]], atol=1e-15)
    np.testing.assert_allclose(net.b[1], [0.05374298453437496], atol=1e-15)
    np.testing.assert_allclose(
        net.W[0],
        [[0.12687149226718748, 0.17312850773281252], [0.35374298453437496, 0.34625701546562504]],
        atol=1e-15,
    )
    np.testing.assert_allclose(net.b[0], [0.02687149226718748, -0.02687149226718748], atol=1e-15)


def test_sigmoid_is_the_logistic_function():
    z = np.linspace(-30, 30, 61)
    np.testing.assert_allclose(sigmoid(z), 1 / (1 + np.exp(-z)), rtol=1e-14)


def test_selu_uses_the_standard_constants():
    z = np.array([-1.0, 1.0])
    np.testing.assert_allclose(
        nn.ACTIVATIONS["selu"].forward(z),
        [1.0507009873554805 * 1.6732632423543772 * (np.exp(-1) - 1), 1.0507009873554805],
    )
