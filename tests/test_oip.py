"""The Open Inference Protocol (v2, REST): tritonclient's HTTP client, the real one, against
the service over a socket, getting what /predict answers; the request's fields, API keys,
Redis outages and the document (tests/test_oip_hostile.py has the refusals)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import redis
import requests
import tritonclient.http as triton
from api_helpers import drop_keys, make_app, run_job
from oip_helpers import FEW, ROWS, XOR_X, infer, one, serve, v2_error
from tritonclient.utils import InferenceServerException


@pytest.fixture(scope="module")
def service(redis_url):
    yield from serve(redis_url)


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
    # an output asked for in binary, as the client asks by default, comes as JSON too
    binary = oip.infer(
        "plane", [tensor(x, datatype="FP64")], outputs=[triton.InferRequestedOutput("values")]
    )
    assert binary.get_response()["outputs"][0].keys() == {"name", "datatype", "shape", "data"}
    assert binary.as_numpy("values").tolist() == answer.as_numpy("values").tolist()


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


def test_a_prepared_model_takes_its_raw_numbers_as_predict_does(redis_url, key_prefix):
    """A column with missing cells gains an indicator: the model's inputs are 3, its raw
    features 2, and both forms predict as /predict does with rows of raw numbers."""
    app = make_app(redis_url, key_prefix)
    try:
        client = app.test_client()
        cells = "".join(
            f"{'NA' if i % 5 == 0 else i / 10},{i * 7 % 10},{i % 2}\n" for i in range(40)
        )
        dataset = client.post(
            "/datasets", data="a,b,y\n" + cells, headers={"Content-Type": "text/csv"}
        )
        data = {"dataset": dataset.get_json()["id"], "target": "y"}
        job = client.post(
            "/jobs", json={"name": "gaps", "data": data, "layers": [{"units": 4}], "training": FEW}
        )
        run_job(app.extensions["nnjobs"].registry, job.get_json()["id"])
        assert client.get("/v2/models/gaps").get_json()["inputs"][0]["shape"] == [-1, 3]
        expected = client.post(
            "/predict", json={"model_id": "gaps", "inputs": [[0.5, 3.0]]}
        ).get_json()
        raw = one([1, 2], [0.5, 3.0])
        columns = {
            "inputs": [
                {**raw["inputs"][0], "name": n, "shape": [1], "data": [v]}
                for n, v in (("b", 3.0), ("a", 0.5))
            ]
        }
        for body in (raw, columns):
            answer = infer(app, body, "/v2/models/gaps/infer").get_json()
            assert answer["outputs"][0]["data"] == expected["probabilities"], answer
    finally:
        r = redis.Redis.from_url(redis_url)
        drop_keys(r, key_prefix)
        r.close()


def test_a_predictor_key_infers_and_another_tenant_finds_nothing(redis_url, key_prefix, tmp_path):
    from api_helpers import bearer

    from registry.tenants import entry_text

    keys = {
        "alice": "alice-key-0123456789",
        "carol": "carol-key-0123456789",
        "bob": "bob-key-0123456789abc",
    }
    path = tmp_path / "keys.toml"
    path.write_text(
        entry_text("alice", "trainer", keys["alice"])
        + entry_text("alice", "predictor", keys["carol"])
        + entry_text("bob", "trainer", keys["bob"])
    )
    app = make_app(redis_url, key_prefix, NNJOBS_KEYS_FILE=str(path))
    try:
        client = app.test_client()
        job = {"name": "xor", "data": {"X": XOR_X, "y": [0, 1] * 10}, "training": FEW}
        resp = client.post("/jobs", json=job, headers=bearer(keys["alice"]))
        run_job(app.extensions["nnjobs"].registry, resp.get_json()["id"])
        body = json.dumps(one([1, 2], [0.0, 1.0]))
        assert (
            client.post(
                "/v2/models/xor/infer", data=body, headers=bearer(keys["carol"])
            ).status_code
            == 200
        )
        assert "no model 'xor'" in v2_error(
            client.post("/v2/models/xor/infer", data=body, headers=bearer(keys["bob"])), 404
        )
        assert "no model 'xor'" in v2_error(
            client.get("/v2/models/xor", headers=bearer(keys["bob"])), 404
        )
        # outside /v2 the same key is refused what it may not do, in the API's own shape
        refused = client.post("/jobs", json=job, headers=bearer(keys["carol"]))
        assert refused.status_code == 403 and "role predictor" in refused.get_json()["message"]
    finally:
        r = redis.Redis.from_url(redis_url)
        drop_keys(r, key_prefix)
        r.close()
