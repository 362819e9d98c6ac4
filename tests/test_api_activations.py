"""GET /activations and /activations/<name>: the catalogue, read from nn's registries, and
curves computed with nn's own functions."""

from __future__ import annotations

import numpy as np
import pytest
from api_helpers import error

import nn
from nn.losses import softmax
from service import create_app
from service.catalogue import OUTPUT_USES, PROSE


@pytest.fixture(scope="module")
def client():
    # the catalogue talks to no Redis
    return create_app({"TESTING": True, "REDIS_URL": "redis://127.0.0.1:1/0"}).test_client()


def get(client, url):
    r = client.get(url)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def test_the_list_holds_exactly_the_registered_activations(client):
    items = get(client, "/activations")["items"]
    names = [item["name"] for item in items]
    assert len(names) == len(set(names))
    assert set(names) == set(nn.ACTIVATIONS) | set(nn.OUTPUTS)
    assert not set(nn.ALIASES) & set(names)  # aliases are listed under their activation


def test_every_registered_activation_has_its_prose():
    # adding an activation is one entry of maths in nn and one of words in the catalogue
    assert set(PROSE) == set(nn.ACTIVATIONS) | set(nn.OUTPUTS)
    assert set(OUTPUT_USES) == set(nn.OUTPUTS)
    for prose in PROSE.values():
        assert prose.formula and prose.derivative and prose.output_range and prose.pitfalls


def test_each_entry_describes_its_activation_from_the_registry(client):
    items = {item["name"]: item for item in get(client, "/activations")["items"]}
    for name, item in items.items():
        assert item["formula"] and item["derivative"] and item["output_range"]
        assert item["pitfalls"]
        assert ("hidden" in item["usage"]) == (name in nn.ACTIVATIONS)
        assert ("output" in item["usage"]) == (name in nn.OUTPUTS)
        if name in nn.OUTPUTS:
            assert item["output"]["loss"] == nn.OUTPUTS[name].loss_name
        else:
            assert item["output"] is None
    for name, activation in nn.ACTIVATIONS.items():
        item = items[name]
        assert item["formula"] == PROSE[name].formula
        assert item["derivative"] == PROSE[name].derivative
        assert item["init"] == activation.init
        assert item["dies"] == activation.dies and item["saturates"] == activation.saturates
        params = {p["name"]: p for p in item["params"]}
        assert set(params) == set(activation.params)
        for key, param in activation.params.items():
            assert params[key]["default"] == param.default
            assert params[key]["minimum"] == param.low
            assert params[key]["maximum"] == param.high
            assert params[key]["range"] == param.describe_range()
    assert items["silu"]["aliases"] == ["swish"]
    assert items["softmax"]["usage"] == ["output"] and items["softmax"]["curve_slice"]
    assert items["sigmoid"]["usage"] == ["hidden", "output"]


def test_curves_are_computed_with_the_nn_functions(client):
    for name, activation in nn.ACTIVATIONS.items():
        if activation.derivative is None:
            continue  # maxout: below
        body = get(client, f"/activations/{name}")
        curve = body["curve"]
        x = np.linspace(-5, 5, 101)
        assert curve["x"] == pytest.approx(x.tolist())
        params = {k: p.default for k, p in activation.params.items()}
        y = activation.forward(x, **params)
        assert curve["y"] == pytest.approx(y.tolist(), rel=1e-12, abs=1e-12), name
        dy = activation.derivative(x, y, **params).astype(float)
        assert curve["dy"] == pytest.approx(dy.tolist(), rel=1e-12, abs=1e-12), name
        assert curve["params"] == params
        assert body["curve_slice"] is None


def test_a_parameter_changes_the_curve(client):
    curve = get(client, "/activations/leaky_relu?alpha=0.2&start=-2&stop=2&points=5")["curve"]
    assert curve["x"] == [-2, -1, 0, 1, 2]
    assert curve["y"] == pytest.approx([-0.4, -0.2, 0, 1, 2])
    assert curve["dy"] == pytest.approx([0.2, 0.2, 0.2, 1, 1])
    assert curve["params"] == {"alpha": 0.2}


def test_vector_activations_are_sampled_on_their_documented_slice(client):
    body = get(client, "/activations/softmax?start=-3&stop=3&points=7")
    x = np.linspace(-3, 3, 7)
    p = softmax(np.stack([x, np.zeros(7)], axis=1))[:, 0]
    assert body["curve"]["y"] == pytest.approx(p.tolist())
    assert body["curve"]["y"] == pytest.approx(nn.activations.sigmoid(x).tolist())
    assert body["curve"]["dy"] == pytest.approx((p * (1 - p)).tolist())
    assert "(x, 0)" in body["curve_slice"]

    body = get(client, "/activations/maxout?pieces=3&start=-2&stop=2&points=5")
    assert body["curve"]["y"] == pytest.approx([0, 0, 0, 1, 2])
    assert body["curve"]["dy"] == pytest.approx([0, 0, 1, 1, 1])
    assert body["curve"]["params"] == {"pieces": 3}


def test_an_alias_answers_with_its_activation(client):
    body = get(client, "/activations/swish?points=3")
    assert body["name"] == "silu" and body["aliases"] == ["swish"]


def test_an_unknown_activation_is_a_404(client):
    body = error(client.get("/activations/nope"), 404)
    assert "nope" in body["message"] and "relu" in body["message"]


@pytest.mark.parametrize(
    "query, field",
    [
        ("start=5&stop=1", "stop"),
        ("start=1&stop=1", "stop"),
        ("start=nan", "start"),
        ("stop=inf", "stop"),
        ("start=-1e9", "start"),
        ("points=1", "points"),
        ("points=100000", "points"),
        ("points=ten", "points"),
        ("beta=1", "beta"),
    ],
)
def test_a_bad_range_is_a_422_naming_the_field(client, query, field):
    body = error(client.get(f"/activations/relu?{query}"), 422)
    assert field in body["errors"]["query"]


@pytest.mark.parametrize(
    "url, field, reason",
    [
        ("/activations/relu?alpha=0.1", "alpha", "not a parameter of relu"),
        ("/activations/leaky_relu?alpha=1.5", "alpha", "must be in [0, 1)"),
        ("/activations/elu?alpha=0", "alpha", "must be > 0"),
        ("/activations/maxout?pieces=1", "pieces", "must be in [2, 16]"),
        ("/activations/maxout?pieces=2.5", "pieces", "integer"),
    ],
)
def test_a_bad_parameter_is_a_422_naming_it(client, url, field, reason):
    body = error(client.get(url), 422)
    assert reason in body["errors"]["query"][field][0]
    assert body["message"].startswith(f"{field}:")


def test_the_catalogue_is_in_the_openapi_document(client):
    spec = get(client, "/openapi.json")
    assert {"/activations", "/activations/{name}"} <= set(spec["paths"])
    params = {p["name"] for p in spec["paths"]["/activations/{name}"]["get"]["parameters"]}
    assert {"start", "stop", "points", "alpha", "pieces"} <= params
    training = spec["components"]["schemas"]["Training"]["properties"]
    assert training["init"]["enum"] == list(nn.spec.INIT_CHOICES)
    assert training["diagnostics"]["type"] == "boolean"
    assert "LayerDiagnostics" in spec["components"]["schemas"]
    job = spec["components"]["schemas"]["Job"]["properties"]
    assert job["warnings"]["type"] == "array"
