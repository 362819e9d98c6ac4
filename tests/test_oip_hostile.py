"""The Open Inference Protocol's routes against hostile requests: every field's refusal,
in the protocol's error shape with the API's statuses, and schemathesis's generated
requests sent to real models."""

from __future__ import annotations

import pytest
import schemathesis
from api_helpers import make_app
from hypothesis import HealthCheck, given, settings
from oip_helpers import FEATURES, XOR_X, columns, infer, nested_column, one, serve, v2_error
from schemathesis import GenerationMode
from test_schemathesis import CHECKS


@pytest.fixture(scope="module")
def service(redis_url):
    yield from serve(redis_url)


HOSTILE = [
    # (body, status, words of the error)
    (one([2, 4], [1.0] * 7), 422, "inputs.0.data: has 7 values; shape [2, 4] holds 8"),
    (one([2, 4], [[1.0] * 4, [1.0] * 3]), 422, "nested data must be 2 rows of 4 values"),
    (nested_column(), 422, "inputs.0.data: is nested; a tensor of shape [2] takes flat data"),
    (one([2, 4], [[[1.0] * 4]] * 2), 422, "nested data must be 2 rows of 4 values"),
    (one([1, 4], [1.0, 2.0, "3", 4.0]), 422, "must hold numbers only; it holds a string"),
    (one([1, 4], [1.0, 2.0, True, 4.0]), 422, "must hold numbers only; it holds a boolean"),
    (one([1, 4], [1.0, None, 3.0, 4.0]), 422, "must hold numbers only; it holds null"),
    (one([1, 4], [[[1.0], [2.0], [3.0], [4.0]]]), 422, "it holds an array nested too deeply"),
    (one([1, 4], [1.0, {}, 3.0, 4.0]), 422, "it holds an object"),
    (one([1, 4], [1.0, 2.0, 1e39, 4.0], "FP32"), 422, "value 2 is not a finite FP32 number"),
    (
        one([2, 3], [1.0] * 6),
        422,
        "inputs.0.shape: is [2, 3]; the model takes one tensor of shape [-1, 4]",
    ),
    (one([4], [1.0] * 4), 422, "inputs.0.shape: is [4]"),
    (one([0, 4], []), 422, "has no rows"),
    (one([1, 2, 2], [1.0] * 4), 422, "shape"),
    (one([-1, 4], [1.0] * 4), 422, "shape"),
    (one([1, 4], [1.0] * 4, "INT64"), 422, "datatype"),
    (one([1, 4], [1.0] * 4, "BYTES"), 422, "datatype"),
    (one([2_000_000, 4], [1.0]), 413, "NNJOBS_MAX_VALUES"),
    (one([2**63, 4], [1.0]), 422, "shape"),
    (one([400_000, 4], [1.0]), 413, "NNJOBS_MAX_ANSWER_VALUES"),
    ({"inputs": []}, 422, "inputs"),
    ({"inputs": "x"}, 422, "inputs"),
    ({}, 422, "inputs: Missing data for required field."),
    ({**one([1, 4], [1.0] * 4), "extra": 1}, 422, "extra: Unknown field."),
    (
        one([1, 4], [1.0] * 4, outputs=[{"name": "values"}]),
        422,
        "outputs.0.name: 'values' is not an output of the model",
    ),
    (
        one([1, 4], [1.0] * 4, outputs=[{"name": "label"}, {"name": "label"}]),
        422,
        "asked for twice",
    ),
    (one([1, 4], [1.0] * 4, outputs=[{"name": "x"}]), 422, "outputs.0.name"),
    (one([1, 4], [1.0] * 4, outputs=[{"name": "label"}] * 3), 422, "outputs"),
    (one([1, 4], [1.0] * 4, id=""), 422, "id"),
    (one([1, 4], [1.0] * 4, id=7), 422, "id"),
    (one([1, 4], [1.0] * 4, parameters={"a": [1]}), 422, "parameters"),
    (one([1, 4], [1.0] * 4, parameters={"a": 10**20}), 422, "parameters"),
    (one([1, 4], [1.0] * 4, parameters={f"k{i}": 1 for i in range(65)}), 422, "parameters"),
    (one([1, 4], [1.0] * 4, parameters="x"), 422, "parameters"),
    (
        columns(FEATURES[:3]),
        422,
        "has 3 tensors; the model takes one tensor of shape [-1, 4], or one per feature (4: ",
    ),
    (
        columns([*FEATURES[:3], "other"]),
        422,
        "inputs.3.name: 'other' is not a feature of the model",
    ),
    (columns([*FEATURES[:3], FEATURES[0]]), 422, "inputs.3.name: 'sepal_length' is sent twice"),
    (columns(FEATURES, shape=[2, 2]), 422, "a feature's tensor is [-1] or [-1, 1]"),
    (
        {"inputs": [*columns(FEATURES[:3])["inputs"], columns(FEATURES[3:], rows=3)["inputs"][0]]},
        422,
        "inputs.3.shape: has 3 rows; inputs.0 has 2",
    ),
]


@pytest.mark.parametrize(("body", "status", "words"), HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_requests_are_refused_by_field(service, body, status, words):
    assert words in v2_error(infer(service[0], body), status)


def test_more_tensors_than_the_limit(service, redis_url):
    app = make_app(redis_url, service[2], NNJOBS_MAX_DATASET_COLUMNS=3)
    spec = app.test_client().get("/openapi.json").get_json()
    assert (
        spec["components"]["schemas"]["InferenceRequest"]["properties"]["inputs"]["maxItems"] == 3
    )
    words = v2_error(infer(app, columns(FEATURES)), 413)
    assert "4 tensors, over the limit of 3 (NNJOBS_MAX_DATASET_COLUMNS)" in words


def test_the_bodies_that_are_not_json(service):
    app = service[0]
    assert "malformed JSON" in v2_error(
        app.test_client().post("/v2/models/iris/infer", data=b"{"), 400
    )
    assert "the body is empty" in v2_error(
        app.test_client().post("/v2/models/iris/infer", data=b""), 400
    )
    assert "must be JSON" in v2_error(
        app.test_client().post("/v2/models/iris/infer", data=b"a,b", content_type="text/csv"), 415
    )
    words = v2_error(
        app.test_client().post(
            "/v2/models/iris/infer", data=b"[1]", content_type="application/json"
        ),
        422,
    )
    assert "Invalid input type" in words


@pytest.mark.parametrize(
    ("method", "path", "status", "words"),
    [
        ("get", "/v2/models/nothing", 404, "no model 'nothing'"),
        ("get", "/v2/models/iris/versions/9", 404, "no model 'iris@9'"),
        ("get", "/v2/models/nothing/ready", 404, "no model 'nothing'"),
        ("post", "/v2/models/nothing/infer", 404, "no model 'nothing'"),
        ("post", "/v2/models/iris/versions/2/infer", 404, "no model 'iris@2'"),
        ("get", "/v2/models/iris@1", 404, "not found"),
        ("get", "/v2/models/iris/versions/x", 404, "not found"),
        ("get", "/v2/models/iris/versions/1234567890", 404, "not found"),
        ("get", "/v2/models/iris/infer", 405, "GET is not allowed here; use POST"),
        ("post", "/v2/models/iris", 405, "POST is not allowed here; use GET"),
        ("get", "/v2/other", 404, "not found"),
    ],
)
def test_unknown_models_versions_and_routes(service, method, path, status, words):
    resp = getattr(service[0].test_client(), method)(path, json=one([1, 4], [1.0] * 4))
    assert words in v2_error(resp, status)


def test_a_job_still_training_is_not_ready(service):
    app = service[0]
    resp = app.test_client().post(
        "/jobs", json={"name": "later", "data": {"X": XOR_X, "y": [0, 1] * 10}}
    )
    job_id = resp.get_json()["id"]
    assert "not ready" in v2_error(app.test_client().get(f"/v2/models/{job_id}/ready"), 409)


PLAIN = [
    one([1, 4], [1.0] * 4, id="a"),
    one([1, 4], [[1, 2, 3, 4]]),
    columns(),
    one([1, 4], [1.0] * 4, "FP16"),
    one([1.0, 4], [1.0] * 4),
    one([True, 4], [1.0] * 4),
    one([1, 4], [1.0] * 4, name=""),
    one([1, 4], [1.0] * 4, id=""),
    one([1, 4], "x"),
    {"inputs": [{**one([1, 4], [1.0] * 4)["inputs"][0], "parameters": {}}]},
    {"inputs": [{"name": "input", "shape": [1, 4], "data": [1.0] * 4}]},
]


@pytest.mark.parametrize("body", PLAIN, ids=range(len(PLAIN)))
def test_a_plain_request_skips_the_schema_and_gets_its_answer(service, body, monkeypatch):
    from service import oip as route

    app, skipped = service[0], []
    monkeypatch.setattr(route, "is_plain", lambda b: skipped.append(b) or False)
    through_schema = infer(app, body)
    monkeypatch.undo()
    direct = infer(app, body)
    assert (direct.status_code, direct.get_json()) == (
        through_schema.status_code,
        through_schema.get_json(),
    )
    assert skipped  # the schema's path was taken the first time


def test_only_requests_the_schema_takes_unchanged_are_plain():
    from service.schemas.oip import is_plain

    assert [is_plain(body) for body in PLAIN] == [True] * 3 + [False] * (len(PLAIN) - 3)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("model", ["iris", "xor", "plane"])
def test_generated_requests_to_real_models_keep_the_schema(service, model, mode):
    """schemathesis's requests (tests/test_schemathesis.py), sent to models that exist, so
    that they reach the tensors' checks and the predictions."""
    operation = schemathesis.openapi.from_wsgi("/openapi.json", service[0])[
        "/v2/models/{name}/infer"
    ]["POST"]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=25,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case):
        case.path_parameters = {"name": model}
        case.call_and_validate(checks=CHECKS)

    check()
