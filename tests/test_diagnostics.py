"""Per-layer training diagnostics (nn.diagnostics) and the warnings they raise."""

from __future__ import annotations

import math

import numpy as np
import pytest

import nn
from nn import diagnostics as dg
from nn.model import build_network
from nn.spec import resolve_spec


def network(layers, n_inputs=3, n_outputs=1, output="sigmoid", seed=0, dtype=np.float32):
    spec = resolve_spec({"layers": layers, "output": output})
    net = build_network(spec, n_inputs, n_outputs, dtype)
    net.initialize(np.random.default_rng(seed))
    return net


def data(n=200, n_inputs=3, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_inputs)).astype(np.float32)
    y = (X[:, :1] + X[:, 1:2] > 0).astype(np.float32)
    return X, y


def one_epoch(net, X, Y, batch=50):
    """What nn.fit does with a recorder for one epoch (without the optimizer step)."""
    recorder = dg.Recorder(net, X)
    for start in range(0, len(X), batch):
        net.train_batch(X[start : start + batch], Y[start : start + batch])
        recorder.gradients()
    return recorder, recorder.end_epoch()


def codes(warnings):
    return [(w["code"], w["layer"]) for w in warnings]


def test_a_relu_layer_pushed_below_zero_is_all_dead_and_warned():
    net = network([{"units": 8, "activation": "relu"}, {"units": 6, "activation": "relu"}])
    net.b[1][...] = -1e3  # layer 2's units can never be positive
    X, y = data()
    recorder, rows = one_epoch(net, X, y)
    assert rows[1]["dead_fraction"] == 1.0
    assert rows[0]["dead_fraction"] < 0.5  # layer 1 still fires; only its gradient is cut
    assert rows[1]["grad_norm"] == 0.0  # a dead layer learns nothing
    warnings = dg.find_warnings(recorder.series)
    assert ("dead_units", 2) in codes(warnings)
    dead = next(w for w in warnings if w["code"] == "dead_units")
    assert dead["epoch"] == 1 and "100%" in dead["message"] and "layer 2" in dead["message"]


def test_a_relu_unit_that_fires_on_one_row_by_a_hair_is_not_dead():
    net = network([{"units": 2, "activation": "relu"}])
    X, y = data()
    top = X[:, 0].max()
    net.W[0][...] = [[1.0, 1.0], [0.0, 0.0], [0.0, 0.0]]
    net.b[0][...] = [-top + 1e-6, -top]  # unit 1 fires on the top row only; unit 2 never
    _, rows = one_epoch(net, X, y)
    assert rows[0]["dead_fraction"] == 0.5


def test_a_sigmoid_layer_with_huge_weights_is_saturated_and_warned():
    net = network([{"units": 8, "activation": "sigmoid"}])
    net.W[0][...] *= 200
    X, y = data()
    recorder, rows = one_epoch(net, X, y)
    assert rows[0]["saturated_fraction"] >= 0.875  # all but at most one unit in eight
    assert rows[0]["dead_fraction"] is None  # sigmoid has no dead region
    assert ("saturated_units", 1) in codes(dg.find_warnings(recorder.series))


def test_a_sigmoid_layer_with_small_weights_is_not_saturated():
    net = network([{"units": 8, "activation": "sigmoid"}])
    X, y = data()
    _, rows = one_epoch(net, X, y)
    assert rows[0]["saturated_fraction"] == 0.0


def test_grad_norm_is_the_rms_over_batches_of_the_weight_gradient_norm():
    net = network([{"units": 4, "activation": "tanh"}], n_inputs=2, dtype=np.float64)
    X, y = data(n=20, n_inputs=2)
    X = X.astype(np.float64)
    y = y.astype(np.float64)
    halves = [(X[:10], y[:10]), (X[10:], y[10:])]

    # the norm of dL/dW1 for each half, by central differences of the mean loss
    numeric = []
    for xb, yb in halves:
        W, eps = net.W[0], 1e-6
        g = np.zeros_like(W)
        for idx in np.ndindex(W.shape):
            old = W[idx]
            W[idx] = old + eps
            up = net.loss_and_grad(xb, yb)
            W[idx] = old - eps
            down = net.loss_and_grad(xb, yb)
            W[idx] = old
            g[idx] = (up - down) / (2 * eps)
        numeric.append(float(np.linalg.norm(g)))

    _, rows = one_epoch(net, X, y, batch=10)
    expected = math.sqrt((numeric[0] ** 2 + numeric[1] ** 2) / 2)
    assert rows[0]["grad_norm"] == pytest.approx(expected, rel=1e-6)
    assert numeric[0] != pytest.approx(numeric[1], rel=1e-3)  # the RMS is not trivially one


def test_a_deep_sigmoid_network_warns_of_vanishing_gradients():
    X, y = nn.synthetic.make("circle", n_samples=200, seed=0)
    spec = {"layers": [{"units": 8, "activation": "sigmoid"}] * 8, "training": {"epochs": 2}}
    _, history = nn.fit(spec, X, y)
    grad = [entry["grad_norm"][0] for entry in history.diagnostics]
    assert grad[0] < dg.VANISHING_RATIO * grad[-1]
    vanishing = [w for w in history.warnings if w["code"] == "vanishing_gradients"]
    assert vanishing and vanishing[0]["layer"] == 1 and vanishing[0]["epoch"] == 1


def test_a_healthy_network_has_no_warnings_and_a_value_per_layer_and_epoch():
    X, y = nn.synthetic.make("circle", n_samples=300, seed=0)
    spec = {
        "layers": [
            {"units": 16, "activation": "relu"},
            {"units": 8, "activation": "tanh"},
            {"units": 8, "activation": "leaky_relu"},
        ],
        "training": {"epochs": 15, "learning_rate": 0.01, "early_stopping": False},
    }
    _, history = nn.fit(spec, X, y)
    assert history.warnings == []
    assert [(d["layer"], d["activation"], d["units"]) for d in history.diagnostics] == [
        (1, "relu", 16),
        (2, "tanh", 8),
        (3, "leaky_relu", 8),
    ]
    relu, tanh, leaky = history.diagnostics
    for entry in history.diagnostics:
        assert len(entry["grad_norm"]) == history.epochs_run == 15
        assert all(0 < g < dg.EXPLODING_NORM for g in entry["grad_norm"])
    # which series exist follows the registry: relu dies, tanh saturates, leaky_relu neither
    assert len(relu["dead_fraction"]) == 15 and relu["saturated_fraction"] is None
    assert tanh["dead_fraction"] is None and len(tanh["saturated_fraction"]) == 15
    assert leaky["dead_fraction"] is None and leaky["saturated_fraction"] is None
    assert history.as_dict()["diagnostics"] == history.diagnostics


def test_diagnostics_can_be_switched_off():
    X, y = nn.synthetic.make("circle", n_samples=100, seed=0)
    spec = {"layers": [{"units": 4}], "training": {"epochs": 2, "diagnostics": False}}
    model, history = nn.fit(spec, X, y)
    assert history.diagnostics is None and history.warnings == []
    assert "diagnostics" not in history.as_dict()
    assert model.spec["training"]["diagnostics"] is False


def test_diagnostics_do_not_change_the_training():
    X, y = nn.synthetic.make("spiral", n_samples=200, seed=0)
    spec = {"layers": [{"units": 8, "activation": "sigmoid"}], "training": {"epochs": 3}}
    on = nn.fit(spec, X, y)[0]
    off = nn.fit({**spec, "training": {"epochs": 3, "diagnostics": False}}, X, y)[0]
    np.testing.assert_array_equal(on.network.params, off.network.params)


@pytest.mark.parametrize(
    "n, probed",
    [
        (100, 100),
        (dg.PROBE_MIN, dg.PROBE_MIN),
        (dg.PROBE_MIN * dg.PROBE_STRIDE * 2, dg.PROBE_MIN * 2),
        (dg.PROBE_MAX * dg.PROBE_STRIDE * 3, dg.PROBE_MAX),
    ],
)
def test_the_probe_is_bounded_and_spread_over_the_training_rows(n, probed):
    X = np.arange(n * 2, dtype=np.float32).reshape(-1, 2)
    recorder = dg.Recorder(network([{"units": 2}], n_inputs=2), X)
    assert len(recorder.probe) == probed
    assert recorder.probe[0, 0] == X[0, 0] and recorder.probe[-1, 0] == X[-1, 0]


def entry(layer=1, activation="relu", grad=(1.0,), dead=None, sat=None):
    return {
        "layer": layer,
        "activation": activation,
        "units": 4,
        "grad_norm": list(grad),
        "dead_fraction": dead,
        "saturated_fraction": sat,
    }


def test_warnings_name_the_first_epoch_over_each_threshold():
    diag = [
        entry(1, dead=[0.0, 0.25, dg.DEAD_WARNING, 0.75], grad=[1, 1, 1, 1]),
        entry(2, "tanh", sat=[0.0, 0.0, 0.0, 1.0], grad=[1, 1, 1, 1]),
    ]
    assert [(w["code"], w["layer"], w["epoch"]) for w in dg.find_warnings(diag)] == [
        ("dead_units", 1, 3),
        ("saturated_units", 2, 4),
    ]
    assert dg.find_warnings([entry(dead=[0.49], sat=[0.49])]) == []
    assert dg.find_warnings(None) == [] and dg.find_warnings([]) == []


def test_exploding_gradients_warn_when_too_large_or_not_finite():
    big = dg.find_warnings([entry(grad=[1.0, 2 * dg.EXPLODING_NORM])])
    assert [(w["code"], w["epoch"]) for w in big] == [("exploding_gradients", 2)]
    nan = dg.find_warnings([entry(grad=[float("nan")])])
    assert [w["code"] for w in nan] == ["exploding_gradients"]
    assert dg.find_warnings([entry(grad=[dg.EXPLODING_NORM])]) == []


def test_vanishing_gradients_compare_the_first_and_last_hidden_layers():
    ratio = dg.VANISHING_RATIO
    small = [entry(1, grad=[1.0, ratio / 10]), entry(2, grad=[1.0, 1.0])]
    assert [(w["code"], w["layer"], w["epoch"]) for w in dg.find_warnings(small)] == [
        ("vanishing_gradients", 1, 2)
    ]
    # a layer of zero gradient (dead units) is reported as dead, not as vanishing
    zero = [entry(1, grad=[0.0]), entry(2, grad=[1.0])]
    assert dg.find_warnings(zero) == []
    # one hidden layer has nothing to compare with
    assert dg.find_warnings([entry(grad=[1e-9])]) == []


def test_every_warning_code_is_declared():
    diag = [
        entry(1, grad=[1e-9, float("inf")], dead=[1.0, 1.0]),
        entry(2, "sigmoid", grad=[1.0, 1.0], sat=[1.0, 1.0]),
    ]
    found = {w["code"] for w in dg.find_warnings(diag)}
    assert found == set(dg.WARNING_CODES)


def test_extend_builds_series_from_epoch_rows():
    rows = [{**entry(), "grad_norm": 0.5, "dead_fraction": 0.0, "saturated_fraction": None}]
    series = dg.extend([], rows)
    dg.extend(series, [{**rows[0], "grad_norm": 0.25}])
    assert series == [entry(grad=[0.5, 0.25], dead=[0.0, 0.0])]


def test_only_relu_dies_and_the_flags_come_from_the_registry():
    assert [a.name for a in nn.ACTIVATIONS.values() if a.dies] == ["relu"]
    saturating = {a.name for a in nn.ACTIVATIONS.values() if a.saturates}
    assert {"sigmoid", "tanh"} <= saturating
    for activation in nn.ACTIVATIONS.values():
        if activation.saturates:
            # the recorder counts d < bound, which needs a derivative that is never negative
            z = np.linspace(-50, 50, 1001)
            params = {k: p.default for k, p in activation.params.items()}
            a = activation.forward(z, **params)
            assert np.all(activation.derivative(z, a, **params) >= 0), activation.name


def test_the_recorded_values_equal_a_plain_computation_over_several_epochs():
    # more batches an epoch than the recorder sums at once in the network's precision
    # (dg.GRADIENT_RUN), a short last batch, and layers with dead and saturated units
    layers = [
        {"units": 12, "activation": "relu"},
        {"units": 10, "activation": "tanh"},
        {"units": 8, "activation": "sigmoid"},
        {"units": 6, "activation": "elu"},
        {"units": 6, "activation": "leaky_relu"},
    ]
    net = network(layers, n_inputs=4)
    net.b[0][:6] = -50.0  # half of layer 1 never fires
    net.W[1][...] *= 40  # layers 2 and 3 saturate in part
    net.W[2][...] *= 20
    X, y = data(n=1000, n_inputs=4)
    batch = 9  # 112 batches an epoch, the last of 1 row
    recorder = dg.Recorder(net, X)
    norms, fractions = [], []
    for _ in range(3):
        squares, batches = np.zeros(len(layers)), 0
        for start in range(0, len(X), batch):
            net.train_batch(X[start : start + batch], y[start : start + batch])
            recorder.gradients()
            squares += [np.sum(np.square(g.astype(np.float64))) for g in net.gW[:-1]]
            batches += 1
            net.params -= np.float32(0.05) * net.grads
        norms.append(np.sqrt(squares / batches))
        rows, a = [], recorder.probe
        for layer, W, b in zip(net.layers, net.W, net.b, strict=False):
            act = layer.activation
            z = a @ W + b
            a = act.forward(z, **layer.params)
            dead = np.mean(np.all(a == 0, axis=0)) if act.dies else None
            sat = None
            if act.saturates:
                d = act.derivative(z, a, **layer.params)
                sat = np.mean(np.mean(d < dg.SATURATION_BOUND, axis=0) > dg.SATURATED_SHARE)
            rows.append((dead, sat))
        fractions.append(rows)
        got = recorder.end_epoch()
        assert [(r["dead_fraction"], r["saturated_fraction"]) for r in got] == rows
    series = recorder.series
    np.testing.assert_allclose([s["grad_norm"] for s in series], np.transpose(norms), rtol=1e-5)
    assert series[0]["dead_fraction"] == [rows[0][0] for rows in fractions]
    assert 0 < series[0]["dead_fraction"][0] < 1
    assert 0 < series[1]["saturated_fraction"][0] < 1 and series[2]["saturated_fraction"][0] > 0
