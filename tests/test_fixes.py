"""Every warning offers a fix, the fix works on the case that raised it, and
POST /jobs/<id>/fix submits the sweep that tests it."""

import time

import numpy as np
import pytest
from api_helpers import worker_thread

import nn
from nn import fixes
from worker.tasks import run_job

SPIRAL = nn.synthetic.make("spiral", n_samples=400, seed=0)
NOISY_MOONS = nn.synthetic.make("moons", n_samples=300, noise=0.3, seed=0)
PLANE = nn.synthetic.make("plane", n_samples=100, seed=0)

CASES = {
    # dead ReLU at a large learning rate -> leaky_relu
    "dead_units": ({"training": {"learning_rate": 0.3, "epochs": 60}}, SPIRAL),
    # a saturated sigmoid stack -> relu
    "saturated_units": (
        {
            "activation": "sigmoid",
            "layers": [{"units": 32}] * 4,
            "training": {"learning_rate": 0.3, "epochs": 60},
        },
        SPIRAL,
    ),
    # a wide network on few noisy points -> dropout
    "overfitting": (
        {"layers": [{"units": 128}] * 2, "training": {"epochs": 300, "early_stopping": False}},
        NOISY_MOONS,
    ),
    # plain gradient descent past its stable rate -> a tenth of it
    "loss_rose": (
        {
            "layers": [{"units": 4, "activation": "linear"}],
            "training": {
                "optimizer": "sgd",
                "learning_rate": 1.4,
                "batch_size": 100,
                "epochs": 4,
                "early_stopping": False,
            },
        },
        PLANE,
    ),
    # a budget that ends on the way down -> twice the epochs
    "still_improving": (
        {"training": {"epochs": 120, "learning_rate": 0.003, "early_stopping": False}},
        SPIRAL,
    ),
    # a straight line on the spiral -> relu
    "near_chance": ({"activation": "linear", "training": {"epochs": 60}}, SPIRAL),
}


def _val_score(model) -> float:
    return model.metrics.get("val_accuracy", model.metrics.get("val_r2"))


@pytest.fixture
def one_blas_thread():
    """Small matrices: threads fighting over the shared cores only slow them down."""
    before = nn.blas_threads()
    nn.set_blas_threads(1)
    yield
    if before:
        nn.set_blas_threads(before)


@pytest.mark.parametrize("code", list(CASES))
def test_the_fix_removes_its_warning_or_improves_validation(code, one_blas_thread):
    spec, (X, y) = CASES[code]
    model, history = nn.fit(spec, X, y)
    warning = next(w for w in history.warnings if w["code"] == code)
    fix = warning["fix"]
    # the sweep starts from the job's own values, so its leaderboard compares
    assert all(len(values) >= 2 for values in fix["vary"].values())
    fixed, fixed_history = nn.fit(fixes.apply(spec, fix["change"]), X, y)
    still_warned = code in [w["code"] for w in fixed_history.warnings]
    assert not still_warned or _val_score(fixed) > _val_score(model), fix


def test_every_curve_warning_code_is_declared_and_fixable():
    spec = nn.resolve_spec({"layers": [{"units": 4}]})
    for code in (*fixes.TRAINING_WARNING_CODES, *nn.diagnostics.WARNING_CODES):
        found = fixes.fix({"code": code, "layer": 1}, spec, 0.01)
        assert found["change"] and found["vary"], code
        # the change is a spec nn accepts
        nn.resolve_spec(fixes.apply(spec, found["change"]))


# -- POST /jobs/<id>/fix -------------------------------------------------------------------


def _trained(client, reg, job: dict) -> dict:
    resp = client.post("/jobs", json=job)
    assert resp.status_code == 202, resp.get_json()
    job_id = resp.get_json()["id"]
    assert run_job(reg, job_id) == "succeeded"
    return client.get(f"/jobs/{job_id}").get_json()


LINEAR_SPIRAL = {
    "name": "line",
    "data": {"synthetic": {"name": "spiral", "n_samples": 200}},
    "activation": "linear",
    "training": {"epochs": 30},
}


def test_a_job_without_warnings_is_409_naming_why(client, reg):
    circle = {"data": {"synthetic": {"name": "circle", "n_samples": 200}}}
    job = _trained(client, reg, circle)
    assert job["warnings"] == []
    resp = client.post(f"/jobs/{job['id']}/fix")
    assert resp.status_code == 409
    assert "no warning that offers a fix" in resp.get_json()["message"]
    assert client.get("/sweeps").get_json()["total"] == 0


def test_a_queued_job_is_409_and_an_unknown_one_404(client):
    resp = client.post("/jobs", json=LINEAR_SPIRAL)
    queued = client.post(f"/jobs/{resp.get_json()['id']}/fix")
    assert queued.status_code == 409 and "queued" in queued.get_json()["message"]
    assert client.post("/jobs/0123456789abcdef0123456789abcdef/fix").status_code == 404


def test_a_job_with_a_warning_gets_its_fix_as_a_sweep(client, reg):
    job = _trained(client, reg, LINEAR_SPIRAL)
    assert [w["code"] for w in job["warnings"]] == ["near_chance"]
    resp = client.post(f"/jobs/{job['id']}/fix")
    assert resp.status_code == 202, resp.get_json()
    sweep = resp.get_json()
    assert resp.headers["Location"] == f"/sweeps/{sweep['id']}"
    assert sweep["vary"] == job["warnings"][0]["fix"]["vary"]
    assert sweep["vary"]["activation"][0] == "linear" and sweep["name"] == "line"
    assert sweep["n_jobs"] == 3 and sweep["status"] == "queued"
    # trained on the job's own data
    first = client.get(f"/jobs/{sweep['jobs'][1]['id']}").get_json()
    assert first["data"]["n_samples"] == 200
    assert first["spec"]["activation"] == "relu"


@pytest.mark.parametrize("query", ["?warning=1", "?warning=-1", "?warning=x", "?warning=1001"])
def test_a_warning_number_out_of_range_is_422(client, reg, query):
    job = _trained(client, reg, LINEAR_SPIRAL)
    resp = client.post(f"/jobs/{job['id']}/fix{query}")
    assert resp.status_code == 422, resp.get_json()
    assert "warning" in str(resp.get_json())
    assert client.get("/sweeps").get_json()["total"] == 0


def test_the_fix_sweep_ranks_above_the_job_it_fixes(client, reg, redis_url, key_prefix):
    job = _trained(client, reg, {**LINEAR_SPIRAL, "training": {"epochs": 200}})
    original = job["history"]["val_accuracy"][job["history"]["best_epoch"] - 1]
    sweep = client.post(f"/jobs/{job['id']}/fix").get_json()
    with worker_thread(redis_url, key_prefix):
        deadline = time.monotonic() + 120
        while sweep["status"] in ("queued", "running"):
            assert time.monotonic() < deadline, sweep["counts"]
            time.sleep(0.1)
            sweep = client.get(f"/sweeps/{sweep['id']}").get_json()
    best = sweep["leaderboard"][0]
    assert best["vary"]["activation"] != "linear"
    assert best["value"] > original + 0.2, (best, original)
    same = next(e for e in sweep["leaderboard"] if e["vary"]["activation"] == "linear")
    assert np.isclose(same["value"], original)
