"""The prediction path's costs and its JSON: no Redis round trip for a cached prediction, and
request and response bodies read and written by orjson without changing what the API
accepts, refuses or answers."""

from __future__ import annotations

import datetime
import json
from decimal import Decimal

import pytest
import redis
from api_helpers import error, make_app, post_raw, run_job
from flask import Flask
from flask.json.provider import DefaultJSONProvider
from redis.connection import AbstractConnection

from service.jsonprovider import ORJSONProvider
from service.parsing import loads

XOR_X = [[0.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 0.0]] * 5


@pytest.fixture
def model(app):
    client, registry = app.test_client(), app.extensions["nnjobs"].registry
    job = {
        "name": "xor",
        "data": {"X": XOR_X, "y": [0, 0, 1, 1] * 5},
        "layers": [{"units": 4}],
        "training": {"epochs": 5, "validation_split": 0},
    }
    resp = client.post("/jobs", json=job)
    assert resp.status_code == 202, resp.get_json()
    return run_job(registry, resp.get_json()["id"])


class RoundTrips:
    """Counts the requests written to Redis: one per command, one per pipeline."""

    def __init__(self, monkeypatch):
        self.sent: list[bytes] = []
        original = AbstractConnection.send_packed_command

        def counting(conn, command, *args, **kwargs):
            self.sent.append(command)
            return original(conn, command, *args, **kwargs)

        monkeypatch.setattr(AbstractConnection, "send_packed_command", counting)


@pytest.mark.parametrize("how", ["id", "name", "name@version"])
def test_a_cached_prediction_does_not_wait_on_redis(app, model, monkeypatch, how):
    client = app.test_client()
    ref = {"id": model["id"], "name": "xor", "name@version": "xor@1"}[how]
    body = {"model_id": ref, "inputs": [[0, 1]]}
    assert client.post("/predict", json=body).status_code == 200  # loads it into the cache
    trips = RoundTrips(monkeypatch)
    resp = client.post("/predict", json=body)
    assert resp.status_code == 200
    assert resp.get_json()["model_id"] == model["id"]
    assert trips.sent == []


def test_a_name_resolves_to_its_latest_version_at_once(app, model, monkeypatch):
    client = app.test_client()
    resp = client.post("/predict", json={"model_id": "xor", "inputs": [[0, 1]]})
    assert resp.get_json()["model_id"] == model["id"]
    # a newer version, stored as a worker stores it: through another connection
    newer = run_job(
        app.extensions["nnjobs"].registry,
        client.post(
            "/jobs",
            json={
                "name": "xor",
                "data": {"X": XOR_X, "y": [0, 0, 1, 1] * 5},
                "training": {"epochs": 1, "validation_split": 0},
            },
        ).get_json()["id"],
    )
    trips = RoundTrips(monkeypatch)
    resp = client.post("/predict", json={"model_id": "xor", "inputs": [[0, 1]]})
    assert resp.get_json()["model_id"] == newer["id"] != model["id"]
    # the name is resolved again, and the new model's bytes fetched: two round trips
    assert len(trips.sent) == 2, trips.sent
    resp = client.post("/predict", json={"model_id": "nothing", "inputs": [[0, 1]]})
    error(resp, 404)


def test_without_the_change_feed_nothing_cached_is_trusted(app, model, redis_url):
    client = app.test_client()
    assert client.post("/predict", json={"model_id": "xor", "inputs": [[0, 1]]}).status_code == 200
    r = redis.Redis.from_url(redis_url)
    try:
        # the process's subscription is cut, so the deletion below is never announced to it
        assert r.client_kill_filter(_type="pubsub") >= 1
        other = make_app(redis_url, app.config["NNJOBS_KEY_PREFIX"]).extensions["nnjobs"]
        assert other.registry.delete_model(model["id"])
    finally:
        r.close()
    for ref in ("xor", model["id"]):
        resp = client.post("/predict", json={"model_id": ref, "inputs": [[0, 1]]})
        error(resp, 404)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('{"model_id": "m", "inputs": [[NaN, 1]]}', "NaN"),
        ('{"model_id": "m", "inputs": [[Infinity, 1]]}', "Infinity"),
        ('{"model_id": "m", "inputs": [[1, -Infinity]]}', "-Infinity"),
    ],
)
def test_nan_and_infinity_are_still_not_json(app, text, says):
    body = error(post_raw(app.test_client(), "/predict", text.encode()), 400)
    assert says in body["message"]


def test_a_number_too_large_for_a_float_is_still_refused_by_name(app, model):
    text = f'{{"model_id": "{model["id"]}", "inputs": [[1, 1e400]]}}'
    body = error(post_raw(app.test_client(), "/predict", text.encode()), 422)
    assert "inputs" in body["message"]


@pytest.mark.parametrize(
    "text",
    [
        b'{"a": [1, 2.5e-3, -0.0, true, null, "\\u00e9\\ud83d\\ude00"], "b": {"c": []}}',
        # (a lone surrogate, which json takes, is refused: tests/test_hostile_inputs.py)
        b'{"x": 1e400, "s": "\\ud83d\\ude00", "n": 18446744073709551615}',
        b"[1, 2",
        b'{"a": 1,}',
        b"\xff",
        b"[" * 5000 + b"]" * 5000,
    ],
)
def test_bodies_parse_as_the_standard_library_parses_them(app, text):
    def outcome(parse):
        with app.test_request_context():
            try:
                return "ok", parse(text)
            except Exception as e:  # the 400 the API would answer
                return "refused", getattr(e, "data", {}).get("message", str(e))

    def stdlib(raw):
        return json.loads(raw.decode("utf-8"))

    got = outcome(loads)
    try:
        expected = ("ok", stdlib(text))
    except (ValueError, RecursionError):
        expected = None
    if expected is None:
        assert got[0] == "refused"
    else:
        assert got == expected


def test_integers_beyond_64_bits_parse_as_the_nearest_float(app):
    # the one documented difference from the standard library, which keeps them exact;
    # no field of the API takes such integers (counts are capped far lower, and data
    # become floats anyway)
    with app.test_request_context():
        assert loads(b"[123456789012345678901234567890]") == [1.2345678901234568e29]


@pytest.mark.parametrize(
    "value",
    [
        {"code": 404, "status": "Not Found", "message": "no model 'é'", "errors": {}},
        {"probabilities": [[0.1, 0.2, 0.7]], "predictions": ["a"], "n": None, "ok": True},
        {1: "a non-string key"},
        {"when": datetime.datetime(2026, 1, 2, 3, 4, 5)},
        {"amount": Decimal("1.5")},
        {"big": 10**30},
    ],
)
def test_responses_mean_what_flasks_own_provider_writes(value):
    app = Flask(__name__)
    ours, flasks = ORJSONProvider(app), DefaultJSONProvider(app)
    flasks.sort_keys = False
    assert json.loads(ours.dumps(value)) == json.loads(flasks.dumps(value))
    assert list(json.loads(ours.dumps(value))) == list(json.loads(flasks.dumps(value)))


def test_a_prediction_response_is_plain_json(app, model):
    resp = app.test_client().post("/predict", json={"model_id": "xor", "inputs": [[0, 1]] * 3})
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    body = json.loads(resp.get_data(as_text=True))
    assert list(body) == ["model_id", *[k for k in body if k != "model_id"]]
    assert len(body["predictions"]) == 3


def test_responses_are_written_by_orjson(app):
    # json would escape the accent as \u00e9; orjson writes it as UTF-8
    with app.app_context():
        data = app.json.response({"message": "é", "values": [0.5]}).get_data()
    assert data == '{"message":"é","values":[0.5]}\n'.encode()
    # what orjson would write otherwise than Flask is written by Flask, as before
    day = datetime.date(2026, 11, 23)
    with app.app_context():
        data = app.json.response({"day": day}).get_data()
        flasks = DefaultJSONProvider(app)
        flasks.sort_keys = False
        assert data == flasks.response({"day": day}).get_data()


# -- the plain body's way past webargs and the response schema ---------------------------

KINDS = {
    "binary": ([0, 1, 1, 0] * 5, "sigmoid"),
    "multiclass": (["a", "b", "c", "a"] * 5, "softmax"),
    "multilabel": ([[0, 1], [1, 1], [1, 0], [0, 0]] * 5, "sigmoid"),
    "regression": ([0.5, 1.5, -2.0, 3.25] * 5, "linear"),
}


@pytest.fixture
def parsed(monkeypatch):
    """Counts the request bodies webargs parses."""
    from service.parsing import Parser

    calls = []
    original = Parser.parse

    def counting(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Parser, "parse", counting)
    return calls


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_plain_body_skips_the_parser_and_gets_the_schemas_answer(app, kind, parsed):
    client, registry = app.test_client(), app.extensions["nnjobs"].registry
    y, output = KINDS[kind]
    job = {
        "name": kind,
        "data": {"X": XOR_X, "y": y},
        "output": output,
        "layers": [{"units": 3}],
        "training": {"epochs": 2, "validation_split": 0},
    }
    run_job(registry, client.post("/jobs", json=job).get_json()["id"])
    inputs = [[0, 1], [0.25, -3.5], [1, 1]]
    for path, body in (
        ("/predict", {"model_id": kind, "inputs": inputs}),
        (f"/models/{kind}/predict", {"inputs": inputs}),
    ):
        raw = json.dumps(body).encode()
        del parsed[:]
        plain = post_raw(client, path, raw)
        assert plain.status_code == 200, plain.get_json()
        assert parsed == []
        # an application/*+json body is JSON to the schema but not plain: webargs reads it
        checked = post_raw(client, path, raw, "application/vnd.nnjobs+json")
        assert parsed == [1]
        assert checked.status_code == 200
        assert plain.get_data() == checked.get_data()
        assert plain.headers == checked.headers
        assert plain.get_json()["output"] == output
    # a refusal of the inputs' contents is the view's, the same either way
    for inputs in ([[0, "x"]], [[0, 1, 2]], [], [[1e308, 1e308]]):
        raw = json.dumps({"model_id": kind, "inputs": inputs}).encode()
        plain = post_raw(client, "/predict", raw)
        checked = post_raw(client, "/predict", raw, "application/vnd.nnjobs+json")
        assert plain.status_code == checked.status_code == 422
        assert plain.get_data() == checked.get_data()


@pytest.mark.parametrize(
    "body",
    [
        {"model_id": "xor", "inputs": [[0, 1]], "extra": 1},  # an unknown field
        {"model_id": "xor"},  # a missing one
        {"model_id": "xor\n", "inputs": [[0, 1]]},  # not quite a reference
        {"model_id": 7, "inputs": [[0, 1]]},
        {"model_id": "xor", "inputs": {"0": [0, 1]}},
        [{"model_id": "xor", "inputs": [[0, 1]]}],
    ],
)
def test_a_body_that_is_not_plain_goes_through_the_schema(app, model, parsed, body):
    resp = app.test_client().post("/predict", json=body)
    assert parsed == [1]
    assert resp.status_code in (404, 422), resp.get_json()
