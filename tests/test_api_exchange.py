"""Export (ONNX, MLflow, nnjobs bytes) and import over the API, and the parity
certificate a stored model carries: with a real worker, onnxruntime and mlflow."""

from __future__ import annotations

import io
import uuid
import zipfile

import mlflow.pyfunc
import numpy as np
import onnx
import pandas as pd
import pytest
import redis
from api_helpers import drop_keys, error, make_app, run_job, stored, wait_for_job, worker_thread

from interop import parity

X = np.random.default_rng(3).normal([5.0, -2.0, 10.0], [1.0, 3.0, 0.5], size=(60, 3))
LABELS = np.where(X[:, 0] - 5.0 > (X[:, 1] + 2.0) / 3.0, "left", "right")
FAST = {"epochs": 3, "validation_split": 0.25}


def train(client, registry, name="cert", y=LABELS, **spec) -> dict:
    job = {
        "name": name,
        "data": {"X": X.tolist(), "y": np.asarray(y).tolist()},
        "training": FAST,
        **spec,
    }
    job.setdefault("layers", [{"units": 5, "activation": "selu"}])
    resp = client.post("/jobs", json=job)
    assert resp.status_code == 202, resp.get_json()
    return run_job(registry, resp.get_json()["id"])


def test_onnx_export_runs_in_onnxruntime_like_the_service_predicts(client, registry):
    model = train(client, registry)
    resp = client.get("/models/cert/export?format=onnx")
    assert resp.status_code == 200 and resp.mimetype == "application/onnx"
    assert 'filename="cert-1.onnx"' in resp.headers["Content-Disposition"]
    onnx.checker.check_model(onnx.load_from_string(resp.data), full_check=True)
    got = parity.run(parity.session(resp.data), X)
    served = client.post(f"/models/{model['id']}/predict", json={"inputs": X.tolist()})
    body = served.get_json()
    assert got["label"].tolist() == body["predictions"]
    np.testing.assert_allclose(got["probabilities"][:, 1], body["probabilities"], atol=1e-5)
    # the default format is onnx
    assert client.get("/models/cert/export").data == resp.data


def test_mlflow_export_loads_with_mlflow(client, registry, tmp_path):
    train(client, registry)
    resp = client.get("/models/cert@1/export?format=mlflow")
    assert resp.status_code == 200 and resp.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(resp.data)) as zf:
        zf.extractall(tmp_path)
    out = mlflow.pyfunc.load_model(str(tmp_path)).predict(X)
    body = client.post("/predict", json={"model_id": "cert", "inputs": X.tolist()}).get_json()
    assert out["label"].tolist() == body["predictions"]


@pytest.mark.parametrize(
    ("query", "code"),
    [("format=pickle", 422), ("format=", 422), ("fmt=onnx", 422), ("format=onnx&x=1", 422)],
)
def test_a_bad_export_query_is_refused(client, registry, query, code):
    train(client, registry)
    body = error(client.get(f"/models/cert/export?{query}"), code)
    assert "format" in body["message"] or "x" in body["message"] or "fmt" in body["message"]


def test_exporting_nothing_is_a_404(client):
    body = error(client.get("/models/nothing/export?format=onnx"), 404)
    assert "nothing" in body["message"]


def test_a_dataset_model_with_a_categorical_column_exports_its_preparation(
    client, registry, tmp_path
):
    rows = "\n".join(f"{a:.3f},{'p' if a > 5 else 'q'},{int(b > 3)}" for a, b in X[:, :2])
    upload = client.post("/datasets?name=cat", data=f"a,c,label\n{rows}\n", content_type="text/csv")
    assert upload.status_code == 201, upload.get_json()
    job = {"name": "cert", "data": {"dataset": "cat", "target": "label"}, "training": FAST}
    run_job(registry, client.post("/jobs", json=job).get_json()["id"])
    raw = [{"a": 5.5, "c": "p"}, {"a": 4.0, "c": "unseen"}, {"a": None, "c": "q"}]
    served = client.post("/models/cert/predict", json={"inputs": raw}).get_json()
    resp = client.get("/models/cert/export?format=onnx")
    assert resp.status_code == 200
    onnx.checker.check_model(onnx.load_from_string(resp.data), full_check=True)
    got = parity.run(parity.session(resp.data), {"a": [5.5, 4.0, None], "c": ["p", "unseen", "q"]})
    assert got["label"].tolist() == served["predictions"]
    np.testing.assert_allclose(got["probabilities"][:, 1], served["probabilities"], atol=1e-5)
    with zipfile.ZipFile(io.BytesIO(client.get("/models/cert/export?format=mlflow").data)) as zf:
        zf.extractall(tmp_path)
    out = mlflow.pyfunc.load_model(str(tmp_path)).predict(pd.DataFrame(raw))
    assert out["label"].tolist() == served["predictions"]
    np.testing.assert_allclose(out["probabilities"][:, 1], served["probabilities"], atol=1e-5)


@pytest.fixture
def second(redis_url):
    """A second, empty service on the same Redis under another prefix."""
    prefix = f"nnjobs-test-{uuid.uuid4().hex[:10]}"
    yield make_app(redis_url, prefix).test_client(), prefix
    r = redis.Redis.from_url(redis_url)
    drop_keys(r, prefix)
    r.close()


def test_a_model_moves_to_another_service_bit_for_bit(client, registry, second):
    model = train(client, registry, y=(X[:, 0] > 5).astype(int) + (X[:, 2] > 10))
    blob = client.get(f"/models/{model['id']}/export?format=nnjobs")
    assert blob.status_code == 200 and blob.mimetype == "application/octet-stream"
    other, _ = second
    assert other.get("/models").get_json()["total"] == 0
    resp = other.post(
        "/models/import",
        data={"file": (io.BytesIO(blob.data), "cert-1.nnjobs"), "name": "moved"},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 201, resp.get_json()
    imported = resp.get_json()
    assert resp.headers["Location"] == f"/models/{imported['id']}"
    assert (imported["name"], imported["version"], imported["job_id"]) == ("moved", 1, None)
    assert imported["classes"] == model["classes"] and imported["layers"] == model["layers"]
    cert = imported["parity"]
    assert cert["rows_from"] == "drawn" and cert["labels_agree"] is True
    assert cert["max_abs_difference"] < 1e-5
    inputs = {"inputs": X.tolist()}
    here = client.post(f"/models/{model['id']}/predict", json=inputs).get_json()
    there = other.post("/models/moved/predict", json=inputs).get_json()
    assert there.pop("model_id") == imported["id"]
    here.pop("model_id")
    assert there == here
    # the bytes go back out as they came in, and as a raw body too
    assert other.get("/models/moved/export?format=nnjobs").data == blob.data
    again = other.post(
        "/models/import?name=moved",
        data=blob.data,
        content_type="application/octet-stream",
    )
    assert again.status_code == 201 and again.get_json()["version"] == 2
    assert other.get(f"/models/{imported['id']}").get_json()["parity"] == cert


def _bad_files(blob: bytes) -> dict[str, tuple[bytes, str]]:
    tampered = bytearray(blob)
    tampered[-10] ^= 0xFF
    return {
        "foreign": (b"PK\x03\x04 an ONNX or zip file, not ours" * 4, "not an nnjobs model"),
        "tampered": (bytes(tampered), "checksum"),
        "truncated": (blob[: len(blob) // 2], "truncated"),
        "empty": (b"", "not an nnjobs model"),
    }


@pytest.mark.parametrize("case", ["foreign", "tampered", "truncated", "empty"])
def test_bad_files_are_refused_and_nothing_is_stored(client, registry, second, r, case):
    train(client, registry)
    blob = client.get("/models/cert/export?format=nnjobs").data
    data, reason = _bad_files(blob)[case]
    other, prefix = second
    before = stored(r, prefix)
    for resp in (
        other.post("/models/import?name=bad", data=data, content_type="application/octet-stream"),
        other.post(
            "/models/import",
            data={"file": (io.BytesIO(data), "bad.nnjobs"), "name": "bad"},
            content_type="multipart/form-data",
        ),
    ):
        body = error(resp, 422)
        assert body["message"].startswith("file: ") and reason in body["message"]
        assert list(body["errors"]["files"]) == ["file"]
    assert stored(r, prefix) == before
    assert other.get("/models").get_json()["total"] == 0


def test_a_model_over_this_services_limits_is_refused(client, registry, redis_url, r):
    train(client, registry, layers=[{"units": 40}])
    blob = client.get("/models/cert/export?format=nnjobs").data
    prefix = f"nnjobs-test-{uuid.uuid4().hex[:10]}"
    small = make_app(redis_url, prefix, NNJOBS_MAX_UNITS=16).test_client()
    try:
        resp = small.post(
            "/models/import?name=big", data=blob, content_type="application/octet-stream"
        )
        body = error(resp, 422)
        assert "over this service's limits" in body["message"] and "16" in body["message"]
        assert stored(r, prefix) == [([], 0)]
    finally:
        drop_keys(r, prefix)


@pytest.mark.parametrize(
    ("kwargs", "code", "words"),
    [
        ({"data": b"x", "content_type": "text/plain"}, 415, "application/octet-stream"),
        ({"data": b"x" * 10, "content_type": "application/octet-stream"}, 422, "name: missing"),
        (
            {"data": {"name": "a"}, "content_type": "multipart/form-data"},
            422,
            "file: missing",
        ),
        (
            {
                "data": {"file": (io.BytesIO(b"x"), "f"), "name": "a b"},
                "content_type": "multipart/form-data",
            },
            422,
            "name:",
        ),
        (
            {
                "data": {"file": (io.BytesIO(b"x"), "f"), "other": "1"},
                "content_type": "multipart/form-data",
            },
            422,
            "unknown field",
        ),
    ],
)
def test_hostile_imports_are_refused(client, r, key_prefix, kwargs, code, words):
    before = stored(r, key_prefix)
    body = error(client.post("/models/import", **kwargs), code)
    assert words in body["message"]
    assert stored(r, key_prefix) == before


def test_an_import_over_the_size_limit_is_a_413(redis_url, r):
    prefix = f"nnjobs-test-{uuid.uuid4().hex[:10]}"
    small = make_app(redis_url, prefix, NNJOBS_MAX_IMPORT_MB=0.001).test_client()
    try:
        data = b"N" * 2000
        for kwargs in (
            {"data": data, "content_type": "application/octet-stream"},
            {
                "data": {"file": (io.BytesIO(data), "f"), "name": "a"},
                "content_type": "multipart/form-data",
            },
        ):
            body = error(small.post("/models/import?name=a", **kwargs), 413)
            assert "NNJOBS_MAX_IMPORT_MB" in body["message"]
        assert stored(r, prefix) == [([], 0)]
    finally:
        drop_keys(r, prefix)


@pytest.mark.parametrize("output", ["sigmoid", "linear"])
def test_the_worker_records_the_certificate_on_the_model(redis_url, key_prefix, client, output):
    y = LABELS.tolist() if output == "sigmoid" else (X[:, 0] * 2 - X[:, 1]).tolist()
    job = {"name": "w", "data": {"X": X.tolist(), "y": y}, "training": FAST}
    job["layers"] = [{"units": 4, "activation": "gelu"}, {"units": 3, "activation": "maxout"}]
    with worker_thread(redis_url, key_prefix):
        resp = client.post("/jobs", json=job)
        assert resp.status_code == 202
        done = wait_for_job(client, resp.get_json()["id"])
    assert done["status"] == "succeeded", done
    cert = client.get(f"/models/{done['model_id']}").get_json()["parity"]
    assert cert["format"] == "onnx" and cert["exportable"] is True and cert["opset"] == 13
    assert cert["runtime"].startswith("onnxruntime ")
    # a quarter of 60 rows held out, and the extreme rows besides
    assert (cert["rows"], cert["rows_from"], cert["extreme_rows"]) == (15, "validation", 8)
    assert 0 <= cert["max_abs_difference"] < 1e-5
    assert cert["labels_agree"] is (True if output == "sigmoid" else None)
    listed = client.get("/models?name=w").get_json()["items"][0]
    assert listed["parity"] == cert


def test_a_dataset_models_mlflow_signature_names_its_columns(client, registry, tmp_path):
    rows = "\n".join(f"{a:.3f},{b:.3f},{'x' if a > b else 'y'}" for a, b in X[:, :2])
    upload = client.post(
        "/datasets?name=pairs", data=f"a,b,label\n{rows}\n", content_type="text/csv"
    )
    assert upload.status_code == 201, upload.get_json()
    job = {"name": "pairs", "data": {"dataset": "pairs", "target": "label"}, "training": FAST}
    resp = client.post("/jobs", json=job)
    assert resp.status_code == 202, resp.get_json()
    run_job(registry, resp.get_json()["id"])
    with zipfile.ZipFile(io.BytesIO(client.get("/models/pairs/export?format=mlflow").data)) as zf:
        zf.extractall(tmp_path)
    loaded = mlflow.pyfunc.load_model(str(tmp_path))
    assert loaded.metadata.signature.inputs.input_names() == ["a", "b"]
    frame = pd.DataFrame(X[:5, :2], columns=["a", "b"])
    body = client.post("/predict", json={"model_id": "pairs", "inputs": X[:5, :2].tolist()})
    assert loaded.predict(frame)["label"].tolist() == body.get_json()["predictions"]


def test_an_import_name_breaking_the_rule_is_refused(client, r, key_prefix):
    before = stored(r, key_prefix)
    for name in ("a%20b", "x" * 65, "..%2F.."):
        resp = client.post(
            f"/models/import?name={name}", data=b"x", content_type="application/octet-stream"
        )
        assert "name" in error(resp, 422)["message"]
    assert stored(r, key_prefix) == before
