"""Every error the API can answer has the contract's one JSON shape."""

from __future__ import annotations

import dataclasses
import json
import uuid

import pytest
import redis
from api_helpers import error, make_client, post_raw, stored
from conftest import RedisServer, free_port

import nn
from service import create_app
from service.errors import LIMIT_SETTINGS

SPIRAL = {"data": {"synthetic": {"name": "spiral", "n_samples": 40}}, "layers": [{"units": 4}]}


@pytest.fixture(scope="module")
def prefix():
    """One key prefix (and queue) for the tests of this module that share a client."""
    return f"nnjobs-test-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def client(redis_url, prefix):
    return make_client(redis_url, prefix)


@pytest.fixture
def store(redis_url, prefix, key_prefix):
    """What the apps of a test left in Redis: their keys and their queues' lengths."""
    r = redis.Redis.from_url(redis_url)

    def state():
        return stored(r, prefix, key_prefix)

    yield state
    r.close()


# -- 400: the body is not JSON ------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b'{"data": ', "malformed JSON"),
        (b"", "empty"),
        (b'{"data": {"X": [[NaN, 1]], "y": [1]}}', "NaN"),
        (b'{"data": {"X": [[Infinity, 1]], "y": [1]}}', "Infinity"),
        (b'{"data": {"X": [[-Infinity, 1]], "y": [1]}}', "Infinity"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"a": ' + b"1" * 5000 + b"}", "malformed JSON"),
        (b"\xef\xbb\xbf{}", "BOM"),
    ],
)
def test_a_body_that_is_not_json_is_400(client, store, body, says):
    before = store()
    body = error(post_raw(client, "/jobs", body), 400)
    assert says in body["message"]
    assert store() == before


def test_invalid_utf8_is_400(client):
    body = error(post_raw(client, "/jobs", b'{"name": "caf\xe9"}'), 400)
    assert "UTF-8" in body["message"]


def test_a_json_charset_parameter_is_accepted(client):
    r = post_raw(client, "/predict", b"{}", "application/json; charset=utf-8")
    assert error(r, 422)["errors"]["json"]["model_id"]


# -- 415: the body is declared as something else -------------------------------------------


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_a_body_that_is_not_declared_json_is_415(client, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    r = client.post("/jobs", data=json.dumps(SPIRAL), headers=headers)
    body = error(r, 415)
    assert "application/json" in body["message"]


def test_predict_wants_json_too(client):
    error(client.post("/predict", data="model_id=x"), 415)
    error(client.post("/models/x/predict", data="inputs=1"), 415)


# -- 404 and 405 ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/nowhere",
        "/jobs/0123456789abcdef0123456789abcdef",
        "/models/nope",
        "/models/nope@3",
        "/jobs/..",
        "/jobs/%2e%2e",
        "/jobs/..%2f..%2fetc%2fpasswd",
        "/jobs/%2e%2e%2f%2e%2e",
        "/models/..%5c..",
        "/jobs/" + "a" * 65,
        "/models/" + "a" * 5000,
        "/models/x@y",
        "/jobs/a%00b",
    ],
)
def test_unknown_or_malformed_ids_are_404(client, path):
    body = error(client.get(path), 404)
    assert "<" not in body["message"]  # no HTML page


def test_delete_and_predict_on_unknown_ids_are_404(client):
    error(client.delete("/jobs/0123456789abcdef"), 404)
    error(client.delete("/models/nope"), 404)
    error(client.post("/models/nope/predict", json={"inputs": [[1.0, 2.0]]}), 404)
    error(client.post("/predict", json={"model_id": "nope", "inputs": [[1.0, 2.0]]}), 404)


@pytest.mark.parametrize(
    ("method", "path"),
    [("put", "/jobs"), ("patch", "/jobs/abc"), ("get", "/predict"), ("post", "/healthz")],
)
def test_wrong_method_is_405_with_allow(client, method, path):
    r = getattr(client, method)(path)
    body = error(r, 405)
    assert r.headers["Allow"]
    assert method.upper() in body["message"]


# -- 413: too big ---------------------------------------------------------------------------


def test_a_body_over_the_limit_is_413(redis_url, key_prefix, store):
    before = store()
    client = make_client(redis_url, key_prefix, NNJOBS_MAX_BODY_MB=0.01)
    rows = [[0.5, 0.25]] * 2000
    body = error(client.post("/jobs", json={"data": {"X": rows, "y": [0, 1] * 1000}}), 413)
    assert "MiB" in body["message"] or "large" in body["message"].lower()
    assert store() == before


def test_data_over_the_values_limit_is_413_naming_the_field(redis_url, key_prefix, store):
    before = store()
    client = make_client(redis_url, key_prefix, NNJOBS_MAX_VALUES=10)
    r = client.post("/jobs", json={"data": {"X": [[1, 2]] * 6, "y": [0, 1] * 3}})
    body = error(r, 413)
    assert body["errors"]["json"]["data"]["X"]
    assert "10" in body["message"]
    r = client.post("/jobs", json={"data": {"synthetic": {"name": "xor", "n_samples": 6}}})
    assert error(r, 413)["errors"]["json"]["data"]["synthetic"]["n_samples"]
    r = client.post("/predict", json={"model_id": "m", "inputs": [[1, 2]] * 6})
    assert error(r, 404)  # the model is looked up first: an unknown one is the answer
    assert store() == before


def test_a_job_over_the_compute_budget_is_413(client, store):
    before = store()
    job = {
        "data": {"synthetic": {"name": "spiral", "n_samples": 1000}},
        "layers": [{"units": 4096}, {"units": 4096}],
        "training": {"epochs": 100_000},
    }
    body = error(client.post("/jobs", json=job), 413)
    assert "compute budget" in body["message"]
    assert body["errors"]["json"]["training"]
    assert store() == before


# -- 422: well-formed, but against the rules -----------------------------------------------


@pytest.mark.parametrize(
    ("job", "path"),
    [
        ({**SPIRAL, "layers": [{"units": 0}]}, ("layers", "0", "units")),
        ({**SPIRAL, "layers": [{"units": 4}, {"units": 5000}]}, ("layers", "1", "units")),
        ({**SPIRAL, "layers": [{"units": "4"}]}, ("layers", "0", "units")),
        ({**SPIRAL, "layers": [{"units": 4.5}]}, ("layers", "0", "units")),
        ({**SPIRAL, "layers": [{"units": True}]}, ("layers", "0", "units")),
        ({**SPIRAL, "layers": [{"activation": "relu"}]}, ("layers", "0", "units")),
        (
            {**SPIRAL, "layers": [{"units": 4, "activation": "softmax"}]},
            ("layers", "0", "activation"),
        ),
        ({**SPIRAL, "layers": [{"units": 4, "alpha": 0.1}]}, ("layers", "0", "alpha")),
        ({**SPIRAL, "layers": [{"units": 4, "colour": 1}]}, ("layers", "0", "colour")),
        ({**SPIRAL, "layers": [{"units": 4, "dropout": 1.0}]}, ("layers", "0", "dropout")),
        ({**SPIRAL, "layers": [{"units": 2}] * 33}, ("layers",)),
        ({**SPIRAL, "layers": {"units": 4}}, ("layers",)),
        ({**SPIRAL, "activation": "sofmax"}, ("activation",)),
        ({**SPIRAL, "output": "tanh"}, ("output",)),
        ({**SPIRAL, "surprise": 1}, ("surprise",)),
        ({**SPIRAL, "name": "a b"}, ("name",)),
        ({**SPIRAL, "name": "x" * 65}, ("name",)),
        ({**SPIRAL, "training": {"epochs": 0}}, ("training", "epochs")),
        ({**SPIRAL, "training": {"optimizer": "lbfgs"}}, ("training", "optimizer")),
        ({**SPIRAL, "training": {"momentum": 0.5}}, ("training", "momentum")),
        ({**SPIRAL, "training": {"standardize": 1}}, ("training", "standardize")),
        ({**SPIRAL, "training": {"early_stopping": "no"}}, ("training", "early_stopping")),
        ({**SPIRAL, "training": {"learning_rate": "fast"}}, ("training", "learning_rate")),
        ({**SPIRAL, "training": {"learning_rate": "Auto"}}, ("training", "learning_rate")),
        ({**SPIRAL, "training": {"learning_rate": 0}}, ("training", "learning_rate")),
        (
            {**SPIRAL, "training": {"early_stopping": {"start_from_epoch": -1}}},
            ("training", "early_stopping", "start_from_epoch"),
        ),
        (
            {**SPIRAL, "training": {"early_stopping": {"min_delta": 1}}},
            ("training", "early_stopping", "min_delta"),
        ),
        (
            {**SPIRAL, "training": {"early_stopping": {"patience": 0}}},
            ("training", "early_stopping", "patience"),
        ),
        (
            {**SPIRAL, "training": {"early_stopping": {"wait": 3}}},
            ("training", "early_stopping", "wait"),
        ),
        ({"layers": []}, ("data",)),
        ({"data": {}}, ("data", "X")),
        ({"data": {"X": [[1.0]]}}, ("data", "y")),
        ({"data": {"X": [[1.0]], "y": [1], "synthetic": {"name": "xor"}}}, ("data", "X")),
        ({"data": {"synthetic": {"name": "swirl"}}}, ("data", "synthetic", "name")),
        ({"data": {"synthetic": {"name": "xor", "noise": 2}}}, ("data", "synthetic", "noise")),
        ({"data": {"X": "1,2", "y": [1]}}, ("data", "X")),
        ({"data": {"X": [], "y": []}}, ("data", "X")),
        ({"data": {"X": [1, 2], "y": [0, 1]}}, ("data", "X")),
        ({"data": {"X": [[1, 2], [3]], "y": [0, 1]}}, ("data", "X")),
        ({"data": {"X": [[1, True], [3, 4]], "y": [0, 1]}}, ("data", "X")),
        ({"data": {"X": [[1, 2], [False, 4]], "y": [0, 1]}}, ("data", "X")),
        ({"data": {"X": [[1, None], [3, 4]], "y": [0, 1]}}, ("data", "X")),
        ({"data": {"X": [[1, "2"], [3, 4]], "y": [0, 1]}}, ("data", "X")),
        ({"data": {"X": [[1, [2]], [3, 4]], "y": [0, 1]}}, ("data", "X")),
        ({"data": {"X": [[1, 10**400], [3, 4]], "y": [0, 1]}}, ("data", "X")),
        ({"data": {"X": [[1, 2], [3, 4]], "y": [0]}}, ("data", "y")),
        ({"data": {"X": [[1, 2], [3, 4]], "y": [0, "a"]}}, ("data", "y")),
        ({"data": {"X": [[1, 2], [3, 4]], "y": [True, 1]}}, ("data", "y")),
        ({"data": {"X": [[1, 2], [3, 4]], "y": [None, 1]}}, ("data", "y")),
        ({"data": {"X": [[1, 2], [3, 4]], "y": [[0, 1], 1]}}, ("data", "y")),
        ({"data": {"X": [[1, 2], [3, 4]], "y": [1, 1]}}, ("data", "y")),
        ({"data": {"X": [[1, 2]] * 3, "y": [0, 1, 2]}, "output": "sigmoid"}, ("output",)),
    ],
)
def test_a_job_against_the_rules_is_422_naming_the_field(client, store, job, path):
    before = store()
    body = error(client.post("/jobs", json=job), 422)
    node = body["errors"]["json"]
    for key in path:
        assert key in node, (path, body)
        node = node[key]
    assert isinstance(node, list) and all(isinstance(m, str) for m in node)
    assert store() == before


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ('"training": {"learning_rate": 1e400}', ("training", "learning_rate")),
        ('"training": {"l2": -1e400}', ("training", "l2")),
        ('"layers": [{"units": 1e400}]', ("layers", "0", "units")),
        ('"data": {"X": [[1, 1e400], [3, 4]], "y": [0, 1]}', ("data", "X")),
        ('"data": {"X": [[1, 2], [3, 4]], "y": [0.5, 1e999]}', ("data", "y")),
        ('"data": {"X": [[1, 2], [3, %s.0]], "y": [0, 1]}' % ("9" * 400), ("data", "X")),
    ],
)
def test_numbers_too_large_for_a_float_are_422_naming_the_field(client, store, text, path):
    before = store()
    body = "{" + text + ("" if '"data"' in text else ', "data": {"synthetic": {"name": "xor"}}')
    r = post_raw(client, "/jobs", (body + "}").encode())
    node = error(r, 422)["errors"]["json"]
    for key in path:
        node = node[key]
    assert node
    assert store() == before


def test_a_refusal_names_the_limit_and_its_value(redis_url, key_prefix):
    client = make_client(redis_url, key_prefix, NNJOBS_MAX_UNITS=8, NNJOBS_MAX_LAYERS=2)
    body = error(client.post("/jobs", json={**SPIRAL, "layers": [{"units": 9}]}), 422)
    assert "8" in body["errors"]["json"]["layers"]["0"]["units"][0]
    assert body["message"].startswith("layers.0.units: ")
    body = error(client.post("/jobs", json={**SPIRAL, "layers": [{"units": 2}] * 3}), 422)
    assert "at most 2" in body["message"]


def test_every_limit_of_nn_is_named_by_its_setting():
    # a refusal carries the limit's name; the setting is found from it, never from the text
    assert set(LIMIT_SETTINGS) == {f.name for f in dataclasses.fields(nn.Limits)}
    assert LIMIT_SETTINGS["max_units"] == "NNJOBS_MAX_UNITS"


def test_marshmallow_errors_get_a_message_naming_the_field(client):
    body = error(client.post("/jobs", json={**SPIRAL, "layers": [{"units": 4, "x": 1}]}), 422)
    assert body["message"] == "layers.0.x: Unknown field."


def test_a_body_that_is_not_an_object_is_422(client):
    error(client.post("/jobs", json=[1, 2]), 422)
    error(client.post("/predict", json="x"), 422)


@pytest.mark.parametrize(
    "query",
    ["page=0", "page=x", "page_size=101", "page_size=0", "status=done", "stauts=failed"],
)
def test_bad_query_parameters_are_422_naming_them(client, query):
    body = error(client.get(f"/jobs?{query}"), 422)
    assert query.split("=")[0] in body["errors"]["query"]


def test_bad_model_query_is_422(client):
    assert error(client.get("/models?name=a%20b"), 422)["errors"]["query"]["name"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"inputs": [[1, 2]]}, "model_id"),
        ({"model_id": "m"}, "inputs"),
        ({"model_id": "../x", "inputs": [[1]]}, "model_id"),
        ({"model_id": 5, "inputs": [[1]]}, "model_id"),
        ({"model_id": "m", "inputs": 5}, "inputs"),
        ({"model_id": "m", "inputs": [[1]], "extra": 1}, "extra"),
    ],
)
def test_a_bad_prediction_request_is_422(client, body, field):
    assert field in error(client.post("/predict", json=body), 422)["errors"]["json"]


# -- 503: Redis is down ---------------------------------------------------------------------


@pytest.fixture
def down(key_prefix):
    """A client whose Redis does not answer (nothing listens on the port)."""
    return make_client(f"redis://127.0.0.1:{free_port()}/0", key_prefix)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/jobs", SPIRAL),
        ("get", "/jobs", None),
        ("get", "/jobs/abc", None),
        ("delete", "/jobs/abc", None),
        ("get", "/models", None),
        ("get", "/models/m", None),
        ("delete", "/models/m", None),
        ("post", "/predict", {"model_id": "m", "inputs": [[1, 2]]}),
        ("post", "/models/m/predict", {"inputs": [[1, 2]]}),
        ("post", "/sweeps", {"job": SPIRAL, "vary": {"learning_rate": [0.01, 0.1]}}),
        ("get", "/sweeps", None),
        ("get", "/sweeps/abc", None),
        ("delete", "/sweeps/abc", None),
    ],
)
def test_redis_down_is_503_with_retry_after(down, method, path, body):
    r = getattr(down, method)(path, json=body) if body else getattr(down, method)(path)
    error(r, 503)
    assert int(r.headers["Retry-After"]) > 0


def test_the_api_recovers_when_redis_comes_back(key_prefix):
    server = RedisServer().start()
    try:
        client = make_client(server.url, key_prefix)
        assert client.get("/jobs").status_code == 200
        server.stop()
        r = client.get("/jobs")
        error(r, 503)
        assert r.headers["Retry-After"]
        server = RedisServer(port=server.port).start()
        assert client.get("/jobs").status_code == 200
    finally:
        server.cleanup()


def test_a_full_redis_is_503(key_prefix):
    server = RedisServer("--maxmemory-policy", "noeviction").start()
    try:
        admin = redis.Redis.from_url(server.url)
        admin.set("filler", b"x" * 2_000_000)
        admin.config_set("maxmemory", "1mb")  # now over it: every write is refused
        admin.close()
        client = make_client(server.url, key_prefix)
        r = client.post("/jobs", json=SPIRAL)
        assert "full" in error(r, 503)["message"]
        assert r.headers["Retry-After"]
        assert client.get("/jobs").get_json()["total"] == 0
    finally:
        server.cleanup()


def test_validation_still_answers_while_redis_is_down(down):
    error(down.post("/jobs", json={**SPIRAL, "layers": [{"units": 0}]}), 422)
    error(down.post("/jobs", data=b"{", content_type="application/json"), 400)


def test_readiness_names_what_is_missing(down):
    r = down.get("/readyz")
    body = error(r, 503)
    assert set(body["errors"]) == {"redis", "workers"}
    assert r.headers["Retry-After"]
    assert down.get("/healthz").status_code == 200


def test_readiness_without_a_worker_names_the_workers(client):
    r = client.get("/readyz")
    body = error(r, 503)
    assert set(body["errors"]) == {"workers"}
    assert "queue" in body["errors"]["workers"]


# -- 500: a bug still answers in the shape, without a traceback ------------------------------


def test_an_unexpected_error_is_a_json_500(redis_url, key_prefix, monkeypatch):
    app = create_app(
        {"REDIS_URL": redis_url, "NNJOBS_KEY_PREFIX": key_prefix, "NNJOBS_QUEUE": key_prefix}
    )
    registry = app.extensions["nnjobs"].registry

    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(registry, "list_jobs", broken)
    r = app.test_client().get("/jobs")
    body = error(r, 500)
    assert "secret" not in r.get_data(as_text=True)
    assert body["status"] == "Internal Server Error"
