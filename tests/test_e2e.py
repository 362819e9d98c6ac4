"""End to end: the API (Flask app) and a real Celery worker on a real Redis.

Every kind of job goes train -> poll -> predict, and the prediction bodies are checked
against the contract's shapes.
"""

import time

import numpy as np
import pytest
from celery.contrib.testing.worker import start_worker

import nn
from service.app import create_app
from worker.app import create_worker_app


@pytest.fixture
def client(redis_url, key_prefix):
    app = create_app(
        {
            "REDIS_URL": redis_url,
            "NNJOBS_KEY_PREFIX": key_prefix,
            "NNJOBS_QUEUE": key_prefix,
            "TESTING": True,
        }
    )
    worker_app = create_worker_app(redis_url, key_prefix, key_prefix)
    with start_worker(worker_app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        yield app.test_client()
    registry = app.extensions["nnjobs"].registry
    keys = list(registry.r.scan_iter(f"{key_prefix}:*"))
    if keys:
        registry.r.delete(*keys)


def _train(client, body, timeout=60):
    r = client.post("/jobs", json=body)
    assert r.status_code == 202, r.json
    assert r.headers["Location"] == f"/jobs/{r.json['id']}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(r.headers["Location"]).json
        if job["status"] in ("succeeded", "failed", "cancelled"):
            assert job["status"] == "succeeded", job["error"]
            return job
        time.sleep(0.05)
    raise AssertionError(f"job still {job['status']}")


def _rows(X):
    return np.asarray(X).round(6).tolist()


def test_binary_job_with_string_labels(client):
    X, y = nn.synthetic.make("circle", n_samples=200, noise=0.02, seed=1)
    labels = np.where(y == 1, "inside", "outside").tolist()
    job = _train(
        client,
        {
            "name": "rings",
            "data": {"X": _rows(X), "y": labels},
            "layers": [{"units": 16, "activation": "tanh"}],
            "training": {"epochs": 60, "learning_rate": 0.03},
        },
    )
    assert job["data"]["classes"] == ["inside", "outside"] and job["history"]["loss"]
    r = client.post("/predict", json={"model_id": "rings", "inputs": _rows(X[:20])})
    assert r.status_code == 200, r.json
    out = r.json
    assert out["model_id"] == job["model_id"] and out["output"] == "sigmoid"
    assert out["classes"] == ["inside", "outside"]
    assert len(out["probabilities"]) == 20 and all(0 <= p <= 1 for p in out["probabilities"])
    assert out["predictions"] == ["outside" if p >= 0.5 else "inside" for p in out["probabilities"]]
    assert np.mean(np.array(out["predictions"]) == np.array(labels[:20])) >= 0.9


def test_multiclass_job_with_string_labels(client):
    rng = np.random.default_rng(0)
    names = np.array(["cat", "dog", "mouse"])
    idx = rng.integers(0, 3, 240)
    X = np.array([[0, 2], [2, 0], [-2, -2]])[idx] + rng.normal(0, 0.4, (240, 2))
    job = _train(
        client,
        {
            "name": "pets",
            "data": {"X": _rows(X), "y": names[idx].tolist()},
            "layers": [{"units": 8}],
            "training": {"epochs": 30, "learning_rate": 0.02},
        },
    )
    out = client.post("/models/pets@1/predict", json={"inputs": _rows(X[:30])}).json
    assert out["output"] == "softmax" and out["classes"] == ["cat", "dog", "mouse"]
    np.testing.assert_allclose(np.sum(out["probabilities"], axis=1), 1, rtol=1e-5)
    assert set(out["predictions"]) <= {"cat", "dog", "mouse"}
    assert np.mean(np.array(out["predictions"]) == names[idx[:30]]) >= 0.9
    model = client.get(f"/models/{job['model_id']}").json
    assert (model["name"], model["version"], model["n_features"]) == ("pets", 1, 2)


def test_multilabel_job(client):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 3))
    Y = np.column_stack([X[:, 0] > 0, X[:, 1] > 0, X[:, 2] > 0.5]).astype(int)
    job = _train(
        client,
        {
            "data": {"X": _rows(X), "y": Y.tolist()},
            "layers": [{"units": 16}],
            "training": {"epochs": 40, "learning_rate": 0.02},
        },
    )
    assert job["spec"]["output"] == "sigmoid"
    out = client.post("/predict", json={"model_id": job["model_id"], "inputs": _rows(X[:10])}).json
    assert out["classes"] == [0, 1, 2]
    assert np.array(out["probabilities"]).shape == (10, 3)
    assert np.array(out["predictions"]).shape == (10, 3)
    assert set(np.ravel(out["predictions"])) <= {0, 1}


def test_regression_job_from_a_synthetic_dataset(client):
    job = _train(
        client,
        {
            "name": "plane",
            "data": {"synthetic": {"name": "plane", "n_samples": 300}},
            "layers": [{"units": 16, "activation": "tanh"}],
            "training": {"epochs": 60, "learning_rate": 0.02},
        },
    )
    assert job["spec"]["data"]["synthetic"]["name"] == "plane"
    assert job["spec"]["output"] == "linear"
    out = client.post(
        "/predict", json={"model_id": "plane", "inputs": [[0.5, 0.25], [-0.5, 0.0]]}
    ).json
    assert out["output"] == "linear" and "probabilities" not in out
    np.testing.assert_allclose(out["predictions"], [0.75, -0.5], atol=0.1)


def test_cancel_a_running_job_over_http(client):
    r = client.post(
        "/jobs",
        json={
            "data": {"synthetic": {"name": "spiral", "n_samples": 2000}},
            "layers": [{"units": 64}, {"units": 64}],
            "training": {"epochs": 10_000, "early_stopping": False},
        },
    )
    job_id = r.json["id"]
    deadline = time.monotonic() + 30
    while client.get(f"/jobs/{job_id}").json["status"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert client.post("/predict", json={"model_id": job_id, "inputs": [[0, 0]]}).status_code == 409
    r = client.delete(f"/jobs/{job_id}")
    assert r.status_code == 200 and r.json["status"] == "cancelled"
    time.sleep(1.2)
    job = client.get(f"/jobs/{job_id}").json
    assert job["status"] == "cancelled" and job["model_id"] is None
    assert client.get("/models").json["total"] == 0


def test_a_job_records_diagnostics_per_hidden_layer_and_its_warnings(client):
    job = _train(
        client,
        {
            "name": "deep-sigmoid",
            "data": {"synthetic": {"name": "circle", "n_samples": 200}},
            "layers": [{"units": 8, "activation": "relu"}]
            + [{"units": 8, "activation": "sigmoid"}] * 6,
            "training": {"epochs": 4, "early_stopping": False},
        },
    )
    diagnostics = job["history"]["diagnostics"]
    assert [d["layer"] for d in diagnostics] == list(range(1, 8))
    assert [d["activation"] for d in diagnostics] == ["relu"] + ["sigmoid"] * 6
    for entry in diagnostics:
        assert entry["units"] == 8
        assert len(entry["grad_norm"]) == len(job["history"]["loss"]) == 4
        assert (entry["dead_fraction"] is None) == (entry["activation"] != "relu")
        assert (entry["saturated_fraction"] is None) == (entry["activation"] == "relu")
    # six sigmoid layers shrink the gradient that reaches layer 1
    codes = [(w["code"], w["layer"]) for w in job["warnings"]]
    assert ("vanishing_gradients", 1) in codes
    # the diagnostics' warnings, each with its fix (and those read from the curves)
    found = [w for w in job["warnings"] if w["code"] in nn.diagnostics.WARNING_CODES]
    assert [{k: v for k, v in w.items() if k != "fix"} for w in found] == (
        nn.diagnostics.find_warnings(diagnostics)
    )
    for warning in job["warnings"]:
        assert set(warning) == {"code", "layer", "epoch", "message", "fix"}
    vanishing = next(w for w in found if w["code"] == "vanishing_gradients")
    assert vanishing["fix"]["vary"] == {"activation": ["sigmoid", "relu", "leaky_relu"]}
    model = client.get(f"/models/{job['model_id']}").json
    assert model["history"]["diagnostics"] == diagnostics
    assert model["warnings"] == job["warnings"]
    # listings carry the warnings but not the history
    [listed] = client.get("/jobs").json["items"]
    assert listed["warnings"] == job["warnings"] and "history" not in listed


def test_a_job_without_diagnostics_has_none_and_no_warnings(client):
    job = _train(
        client,
        {
            "data": {"synthetic": {"name": "circle", "n_samples": 100}},
            "layers": [{"units": 4}],
            "training": {"epochs": 2, "diagnostics": False},
        },
    )
    assert "diagnostics" not in job["history"] and job["warnings"] == []
