"""The Open Inference Protocol (v2, REST): tritonclient's HTTP client, the real one, against
the service over a socket, getting what /predict answers; and every route's refusals, in
the protocol's error shape with the API's statuses."""

from __future__ import annotations

import json
import threading
import uuid
from pathlib import Path

import numpy as np
import pytest
import redis
import requests
import schemathesis
import tritonclient.http as triton
from api_helpers import drop_keys, make_app, run_job
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from test_schemathesis import CHECKS
from tritonclient.utils import InferenceServerException
from werkzeug.serving import make_server

IRIS = (Path(__file__).resolve().parent.parent / "examples" / "iris.csv").read_bytes()
XOR_X = [[0.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 0.0]] * 5
# float32 values, so that FP32 and /predict's float64 inputs are the same numbers
FEW = {"epochs": 5, "validation_split": 0}
ROWS = np.array([[5.1, 3.5, 1.4, 0.2], [6.2, 2.9, 4.3, 1.3], [7.7, 3.0, 6.1, 2.3]], np.float32)


@pytest.fixture(scope="module")
def service(redis_url):
    """The app on a socket, with a binary, a multi-class (trained from a dataset, so its
    features have names) and a regression model."""
    prefix = f"nnjobs-test-{uuid.uuid4().hex[:10]}"
    app = make_app(redis_url, prefix)
    client = app.test_client()

    def train(name: str, data) -> None:
        if type(data) is bytes:  # a dataset's CSV, uploaded first
            resp = client.post("/datasets", data=data, headers={"Content-Type": "text/csv"})
            assert resp.status_code == 201, resp.get_json()
            data = {"dataset": resp.get_json()["id"], "target": "species"}
        job = {"name": name, "data": data, "layers": [{"units": 8}], "training": FEW}
        resp = client.post("/jobs", json=job)
        assert resp.status_code == 202, resp.get_json()
        run_job(app.extensions["nnjobs"].registry, resp.get_json()["id"])

    train("xor", {"X": XOR_X, "y": [0, 0, 1, 1] * 5})
    train("iris", IRIS)
    train("plane", {"X": XOR_X, "y": [x + 2 * y for x, y in XOR_X]})
    # a second version of xor, so that a version in the path matters
    train("xor", {"X": XOR_X, "y": [1, 1, 0, 0] * 5})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app, f"127.0.0.1:{server.server_port}", prefix
    server.shutdown()
    thread.join(5)
    r = redis.Redis.from_url(redis_url)
    drop_keys(r, prefix)
    r.close()


@pytest.fixture(scope="module")
def oip(service):
    client = triton.InferenceServerClient(url=service[1])
    yield client
    client.close()


def predicted(address: str, model: str, rows) -> dict:
    resp = requests.post(
        f"http://{address}/predict", json={"model_id": model, "inputs": rows}, timeout=10
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


def tensor(x: np.ndarray, name: str = "input", datatype: str = "FP32") -> triton.InferInput:
    given = triton.InferInput(name, list(x.shape), datatype)
    given.set_data_from_numpy(x, binary_data=False)
    return given


def asked(*names: str) -> list:
    return [triton.InferRequestedOutput(n, binary_data=False) for n in names]


def test_server_metadata_and_health(oip):
    assert oip.is_server_live() and oip.is_server_ready()
    metadata = oip.get_server_metadata()
    assert metadata["name"] == "nnjobs" and metadata["extensions"] == []
    assert oip.is_model_ready("iris") and oip.is_model_ready("xor", "1")
    assert not oip.is_model_ready("nothing") and not oip.is_model_ready("xor", "3")


def test_model_metadata(oip):
    iris = oip.get_model_metadata("iris")
    assert iris["name"] == "iris" and iris["versions"] == ["1"]
    assert iris["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 4]}]
    assert iris["outputs"] == [
        {"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]},
        {"name": "label", "datatype": "BYTES", "shape": [-1]},
    ]
    assert oip.get_model_metadata("xor")["versions"] == ["2"]
    assert oip.get_model_metadata("xor", "1")["versions"] == ["1"]
    assert oip.get_model_metadata("xor")["outputs"][1] == {
        "name": "label",
        "datatype": "INT64",
        "shape": [-1],
    }
    assert oip.get_model_metadata("plane")["outputs"] == [
        {"name": "values", "datatype": "FP64", "shape": [-1]}
    ]
    with pytest.raises(InferenceServerException, match="no model 'nothing'"):
        oip.get_model_metadata("nothing")


def test_multiclass_inference_gives_what_predict_gives(service, oip):
    answer = oip.infer(
        "iris", [tensor(ROWS)], request_id="r-7", outputs=asked("probabilities", "label")
    )
    expected = predicted(service[1], "iris", ROWS.tolist())
    assert answer.get_response()["id"] == "r-7"
    assert answer.get_response()["model_version"] == "1"
    assert np.array_equal(
        answer.as_numpy("probabilities"), np.array(expected["probabilities"], np.float32)
    )
    labels = [v.decode() if isinstance(v, bytes) else v for v in answer.as_numpy("label")]
    assert labels == expected["predictions"]


def test_binary_inference_by_version_gives_what_predict_gives(service, oip):
    x = np.array(XOR_X[:4], np.float32)
    for version, ref in (("1", "xor@1"), ("", "xor")):
        answer = oip.infer(
            "xor", [tensor(x)], model_version=version, outputs=asked("label", "probabilities")
        )
        expected = predicted(service[1], ref, x.tolist())
        assert [o["name"] for o in answer.get_response()["outputs"]] == ["label", "probabilities"]
        assert answer.as_numpy("probabilities").tolist() == expected["probabilities"]
        assert answer.as_numpy("label").tolist() == expected["predictions"]
    # the versions differ: the path's version was the one used
    first, latest = (
        oip.infer("xor", [tensor(x)], model_version=v, outputs=asked("probabilities"))
        for v in ("1", "2")
    )
    assert first.get_response()["model_version"] == "1"
    assert not np.array_equal(first.as_numpy("probabilities"), latest.as_numpy("probabilities"))


def test_regression_inference_with_fp64_and_default_outputs(service, oip):
    x = np.array([[0.25, 0.5], [1.5, -1.0]], np.float64)
    # asking for no output, the client asks for binary outputs: they come as JSON
    answer = oip.infer("plane", [tensor(x, datatype="FP64")])
    assert answer.get_response()["outputs"][0]["datatype"] == "FP64"
    assert (
        answer.as_numpy("values").tolist()
        == predicted(service[1], "plane", x.tolist())["predictions"]
    )
    assert "parameters" not in answer.get_response()


def test_one_tensor_per_named_feature(service, oip):
    names = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    columns = [tensor(ROWS[:, j].copy(), name) for j, name in reversed(list(enumerate(names)))]
    answer = oip.infer("iris", columns, outputs=asked("probabilities"))
    expected = predicted(service[1], "iris", ROWS.tolist())
    assert np.array_equal(
        answer.as_numpy("probabilities"), np.array(expected["probabilities"], np.float32)
    )


def test_binary_tensor_data_are_refused_by_name(oip):
    given = triton.InferInput("input", [1, 2], "FP32")
    given.set_data_from_numpy(np.zeros((1, 2), np.float32))  # binary by default
    with pytest.raises(InferenceServerException, match="binary tensor data are not served"):
        oip.infer("xor", [given])


# -- in process: the request's fields and their refusals -----------------------------------


def infer(app, body, path="/v2/models/iris/infer", **kwargs):
    return app.test_client().post(path, data=json.dumps(body), **kwargs)


def v2_error(resp, code: int) -> str:
    assert resp.status_code == code, resp.get_data(as_text=True)[:500]
    body = resp.get_json()
    assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"]
    return body["error"]


def one(shape, data, datatype="FP64", name="input", **more) -> dict:
    return {"inputs": [{"name": name, "shape": shape, "datatype": datatype, "data": data}], **more}


def test_nested_and_flat_data_and_the_fields_passed_on(service):
    app = service[0]
    flat = infer(
        app,
        one(
            [3, 4],
            ROWS.ravel().tolist(),
            id="x",
            parameters={"a": "b", "n": 2, "binary_data_output": True},
        ),
    )
    nested = infer(
        app,
        one(
            [3, 4],
            ROWS.tolist(),
            outputs=[{"name": "label", "parameters": {"binary_data": True, "k": True}}],
        ),
    )
    assert flat.status_code == nested.status_code == 200, flat.get_json()
    assert flat.get_json()["id"] == "x" and flat.get_json()["parameters"] == {"a": "b", "n": 2}
    assert "id" not in nested.get_json()
    (label,) = nested.get_json()["outputs"]
    assert label["parameters"] == {"k": True}
    assert label["data"] == flat.get_json()["outputs"][1]["data"]
    # FP32 is read as float32: a value float32 rounds is predicted rounded
    assert (
        infer(app, one([1, 4], [5.1, 3.5, 1.4, 0.2], "FP32")).get_json()["outputs"]
        == (infer(app, one([1, 4], ROWS[0].astype(np.float64).tolist())).get_json()["outputs"])
    )


def test_it_shares_the_prediction_cache(service):
    app = service[0]
    svc = app.extensions["nnjobs"]
    svc.cache.clear()
    assert infer(app, one([1, 4], ROWS[:1].tolist())).status_code == 200
    model_id = svc.registry.resolve_model("iris")
    assert model_id in svc.cache and svc.cache.info(model_id)["features"][0] == "sepal_length"


FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def columns(names=FEATURES, rows=2, shape=None) -> dict:
    return {
        "inputs": [
            {"name": n, "shape": shape or [rows], "datatype": "FP64", "data": [1.0] * rows}
            for n in names
        ]
    }


def nested_column() -> dict:
    body = columns()
    body["inputs"][0]["data"] = [[1.0], [1.0]]
    return body


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


def test_api_keys_apply_and_liveness_stays_public(redis_url, key_prefix):
    app = make_app(redis_url, key_prefix, API_KEYS="k-0123456789abcdef")
    try:
        client = app.test_client()
        assert client.get("/v2/health/live").status_code == 200
        for path in ("/v2", "/v2/health/ready", "/v2/models/x", "/v2/models/x/ready"):
            assert "an API key is required" in v2_error(client.get(path), 401)
        assert "not valid" in v2_error(
            client.post("/v2/models/x/infer", json={}, headers={"Authorization": "Bearer no"}), 401
        )
        assert (
            client.get("/v2", headers={"Authorization": "Bearer k-0123456789abcdef"}).status_code
            == 200
        )
        spec = client.get("/openapi.json").get_json()
        assert spec["paths"]["/v2/health/live"]["get"]["security"] == []
        unauthorized = spec["paths"]["/v2/models/{name}/infer"]["post"]["responses"]["401"]
        assert unauthorized["content"]["application/json"]["schema"]["$ref"].endswith(
            "/InferenceErrorResponse"
        )
    finally:
        r = redis.Redis.from_url(redis_url)
        drop_keys(r, key_prefix)
        r.close()


def test_the_document_has_the_protocols_schemas_and_the_limits(service):
    spec = service[0].test_client().get("/openapi.json").get_json()
    schemas = spec["components"]["schemas"]
    tensor_in = schemas["RequestInput"]["properties"]
    assert (
        tensor_in["data"]["maxItems"] == 5_000_000
        and tensor_in["shape"]["items"]["maximum"] == 5_000_000
    )
    assert set(schemas["InferenceRequest"]["required"]) == {"inputs"}
    assert set(schemas["InferenceResponse"]["required"]) == {"model_name", "outputs"}
    assert set(schemas["ResponseOutput"]["required"]) == {"name", "shape", "datatype", "data"}
    assert schemas["InferenceErrorResponse"]["required"] == ["error"]
    for path, item in spec["paths"].items():
        if path.startswith("/v2"):
            for operation in item.values():
                if "responses" not in operation:
                    continue
                for code, response in operation["responses"].items():
                    if code == "default" or int(code) >= 400:
                        ref = response["content"]["application/json"]["schema"]["$ref"]
                        assert ref.endswith("/InferenceErrorResponse"), (path, code)


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


def test_without_redis_the_routes_answer_503_in_the_protocols_shape():
    client = make_app("redis://127.0.0.1:1/0", "unused").test_client()
    assert client.get("/v2/health/live").status_code == 200
    for resp in (
        client.get("/v2/health/ready"),
        client.get("/v2/models/iris"),
        client.post("/v2/models/iris/infer", data=json.dumps(one([1, 4], [1.0] * 4))),
    ):
        assert "unreachable" in v2_error(resp, 503)
        assert resp.headers["Retry-After"] == "5"
