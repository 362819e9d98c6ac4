"""Training that diverges, through the API with a real worker: the job ends failed with
a clear message, no model is stored, and the worker goes on to train the next job."""

from __future__ import annotations

import uuid

import pytest
import redis
from api_helpers import drop_keys, make_app, wait_for_job, worker_thread


@pytest.fixture
def api(redis_url):
    prefix = f"nnjobs-test-{uuid.uuid4().hex[:10]}"
    app = make_app(redis_url, prefix)
    with worker_thread(redis_url, prefix):
        yield app.test_client()
    r = redis.Redis.from_url(redis_url)
    drop_keys(r, prefix)
    r.close()


def test_a_diverging_job_fails_clearly_and_the_worker_stays_healthy(api):
    huge = [[1e30 * (i % 7 - 3), -1e30 * (i % 5)] for i in range(40)]
    r = api.post(
        "/jobs",
        json={
            "data": {"X": huge, "y": [float(i % 3) * 1e30 for i in range(40)]},
            "output": "linear",
            "layers": [{"units": 8}],
            "training": {"epochs": 50, "learning_rate": 10, "standardize": False},
        },
    )
    assert r.status_code == 202, r.get_json()
    job = wait_for_job(api, r.get_json()["id"])
    assert job["status"] == "failed", job
    assert job["model_id"] is None
    assert "diverged" in job["error"]["message"], job["error"]
    assert api.get("/models").get_json()["total"] == 0
    assert api.post("/predict", json={"model_id": job["id"], "inputs": [[1, 2]]}).status_code == 404

    r = api.post(
        "/jobs",
        json={
            "data": {"synthetic": {"name": "xor", "n_samples": 80}},
            "layers": [{"units": 8}],
            "training": {"epochs": 20, "learning_rate": 0.05},
        },
    )
    assert wait_for_job(api, r.get_json()["id"])["status"] == "succeeded"
    assert api.get("/models").get_json()["total"] == 1
