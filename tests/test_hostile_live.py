"""Hostile requests through the real service: gunicorn, a Celery worker and Redis, as a
stranger on the network would send them. Each family of bounded costs (classes and
columns, answer size, model size, the compute budget and a step's activations, numbers
and text, retention) is refused in the one error shape naming its setting or field, with
the answer's bytes and what Redis holds measured; the other modules test each limit in
depth."""

from __future__ import annotations

import json
import uuid

import pytest
import redis
import requests
from api_helpers import drop_keys, stored
from live_service import TINY_JOB, LiveService, wait_until

from registry import ENDED

pytestmark = pytest.mark.slow

#: small settings, so that a small request crosses each limit
LIMITS = {
    "NNJOBS_MAX_ANSWER_VALUES": "100",
    "NNJOBS_MAX_DATASET_COLUMNS": "50",
    "NNJOBS_MAX_STEPS": "10000",
    "NNJOBS_MAX_BATCH_ACTIVATIONS": "10000",
}
ERROR_KEYS = {"code", "status", "message"}


@pytest.fixture(scope="module")
def live(redis_url):
    prefix = f"nnjobs-test-live-{uuid.uuid4().hex[:8]}"
    r = redis.Redis.from_url(redis_url)
    with LiveService(redis_url, prefix, **LIMITS) as service:
        yield service, r, prefix
    drop_keys(r, prefix)
    r.close()


def refused(live, method: str, path: str, status: int, **kwargs) -> dict:
    """Send one request; it must be refused with ``status`` in the one error shape and
    leave Redis as it found it (no key, no queued message)."""
    service, r, prefix = live
    before = stored(r, prefix)
    response = requests.request(method, service.url + path, timeout=30, **kwargs)
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) - {"errors"} == ERROR_KEYS and body["code"] == status
    # a refusal is short, whatever the request would have cost
    assert len(response.content) < 2_000
    assert stored(r, prefix) == before
    return body


def trained(live, job: dict) -> dict:
    service, _, _ = live
    created = requests.post(f"{service.url}/jobs", json=job, timeout=10)
    assert created.status_code == 202, created.text
    job_id = created.json()["id"]

    def ended():
        got = requests.get(f"{service.url}/jobs/{job_id}?wait=10", timeout=30).json()
        return got if got["status"] in ENDED else None

    done = wait_until(ended, 120, 0, f"job {job_id}")
    assert done["status"] == "succeeded", done
    return done


def test_classes_and_columns(live):
    labels = [[1 if j == i % 5000 else 0 for j in range(5000)] for i in range(2)]
    body = refused(live, "POST", "/jobs", 422, json={"data": {"X": [[0.0], [1.0]], "y": labels}})
    assert "(NNJOBS_MAX_CLASSES)" in body["message"]
    wide = ",".join(f"c{j}" for j in range(51)) + "\n" + ",".join("1" * 51) + "\n"
    body = refused(live, "POST", "/datasets", 413, data=wide, headers={"Content-Type": "text/csv"})
    assert "(NNJOBS_MAX_DATASET_COLUMNS)" in body["message"]


def test_answer_size(live):
    model = trained(live, {**TINY_JOB, "name": "live-answer"})
    inputs = [[0.5, 0.5]] * 101
    body = refused(
        live, "POST", "/predict", 413, json={"model_id": model["model_id"], "inputs": inputs}
    )
    assert "(NNJOBS_MAX_ANSWER_VALUES)" in body["message"]
    service, _, _ = live
    fits = requests.post(
        f"{service.url}/predict",
        json={"model_id": model["model_id"], "inputs": inputs[:100]},
        timeout=10,
    )
    assert fits.status_code == 200 and len(fits.json()["probabilities"]) == 100


def test_model_size_and_compute(live):
    huge = {"data": {"X": [[0.0, 1.0], [1.0, 0.0]], "y": [0, 1]}, "layers": [{"units": 4096}] * 32}
    body = refused(live, "POST", "/jobs", 413, json=huge)
    assert "(NNJOBS_MAX_PARAMETERS)" in body["message"]
    steps = {**TINY_JOB, "training": {"epochs": 1000, "batch_size": 1}}
    body = refused(live, "POST", "/jobs", 413, json=steps)
    assert "(NNJOBS_MAX_STEPS)" in body["message"]
    # 96 training rows in one batch x (200 units + 1 output)
    wide = {**TINY_JOB, "layers": [{"units": 200}], "training": {"batch_size": 4096}}
    body = refused(live, "POST", "/jobs", 413, json=wide)
    assert body["message"].startswith("training.batch_size: ")
    assert "(NNJOBS_MAX_BATCH_ACTIVATIONS)" in body["message"]
    sweep = {"job": huge, "vary": {"learning_rate": [0.1, 0.01]}}
    assert "(NNJOBS_MAX_PARAMETERS)" in refused(live, "POST", "/sweeps", 413, json=sweep)["message"]


def test_numbers_and_text(live):
    body = refused(live, "POST", "/jobs", 422, json={**TINY_JOB, "training": {"epochs": 2**70}})
    assert "training" in json.dumps(body["errors"])
    refused(live, "POST", "/jobs", 422, json={**TINY_JOB, "name": "trailing\n"})
    refused(live, "GET", f"/synthetic/xor?n_samples={2**70}", 422)
    raw = b'{"data": {"X": [[0], [1], [0], [1]], "y": ["a", "\\ud800", "a", "b"]}}'
    body = refused(
        live, "POST", "/jobs", 422, data=raw, headers={"Content-Type": "application/json"}
    )
    assert "surrogate" in body["message"]


def test_csv_answers_are_inert_in_spreadsheets(live):
    service, _, _ = live
    job = {
        "name": "live-formula",
        "data": {"X": [[0.0], [1.0], [0.1], [0.9]] * 5, "y": ["=cmd", "@sum", "=cmd", "@sum"] * 5},
        "layers": [{"units": 4}],
        "training": {"epochs": 20, "learning_rate": 0.1},
    }
    model = trained(live, job)
    answer = requests.post(
        f"{service.url}/models/{model['model_id']}/predict",
        json={"inputs": [[0.0], [1.0]]},
        headers={"Accept": "text/csv"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    cells = [cell for line in answer.text.splitlines()[1:] for cell in line.split(",")]
    assert cells and not any(cell.startswith(("=", "@", "+")) for cell in cells), answer.text


def test_an_ended_job_can_be_removed(live):
    service, r, prefix = live
    job = trained(live, {**TINY_JOB, "name": "live-purge"})
    gone = requests.delete(f"{service.url}/jobs/{job['id']}?purge=true", timeout=10)
    assert gone.status_code == 204
    assert requests.get(f"{service.url}/jobs/{job['id']}", timeout=10).status_code == 404
    assert not list(r.scan_iter(f"{prefix}:job:{job['id']}*"))
    # its model stays until it is deleted
    assert requests.get(f"{service.url}/models/{job['model_id']}", timeout=10).status_code == 200
