"""Acknowledged only once replicated: with ``NNJOBS_REDIS_MIN_REPLICAS``, a submission
waits (``WAIT``) for that many replicas; on the tests' Redis, which has none, it is
refused with 503 and Retry-After and nothing is kept. A model no replica confirmed is
stored all the same and its job succeeds (the failover test covers the master dying)."""

from __future__ import annotations

import logging

import pytest
from api_helpers import make_app, stored

import nn
from registry.store import NotReplicated, Registry
from worker.tasks import run_job

TINY = {
    "data": {"synthetic": {"name": "xor", "n_samples": 40, "seed": 0}},
    "layers": [{"units": 4}],
    "training": {"epochs": 2},
}


def test_without_the_replicas_required_a_submission_is_503_and_nothing_is_kept(
    redis_url, key_prefix, r
):
    app = make_app(
        redis_url, key_prefix, NNJOBS_REDIS_MIN_REPLICAS=1, NNJOBS_REDIS_WAIT_TIMEOUT=0.05
    )
    client = app.test_client()
    for path, body in (
        ("/jobs", TINY),
        ("/sweeps", {"job": TINY, "vary": {"activation": ["relu", "tanh"]}}),
    ):
        response = client.post(path, json=body)
        assert response.status_code == 503, response.get_json()
        assert response.headers["Retry-After"] == "2"
        message = response.get_json()["message"]
        assert "0 of the 1 Redis replicas" in message and "NNJOBS_REDIS_MIN_REPLICAS" in message
    keys, _queued = stored(r, key_prefix)[0]
    # only the counter that carried the WAIT; no job, sweep or data stays
    assert [k.decode() for k in keys] == [f"{key_prefix}:stats:submitted"]
    # unconfirmed submissions are not acknowledged, so listings show none
    assert client.get("/jobs").get_json()["total"] == 0


def test_with_no_replicas_required_nothing_waits(redis_url, key_prefix):
    client = make_app(redis_url, key_prefix).test_client()
    assert client.post("/jobs", json=TINY).status_code == 202


def test_a_model_no_replica_confirmed_is_stored_and_its_job_succeeds(reg, caplog):
    X, y = nn.synthetic.make("xor", n_samples=40, noise=0.05, seed=0)
    resolved, data = nn.validate({"layers": [{"units": 4}], "training": {"epochs": 2}}, X, y)
    job_id = reg.create_job(name="unconfirmed", spec=resolved, data=data, X=X, y=y)["id"]
    reg.min_replicas, reg.wait_timeout = 1, 0.05
    with caplog.at_level(logging.WARNING, "nnjobs.worker"):
        assert run_job(reg, job_id, "n@h") == "succeeded"
    assert "model stored, but 0 of the 1 Redis replicas" in caplog.text
    job = reg.get_job(job_id)
    assert job["status"] == "succeeded" and reg.list_models()[1] == 1


def test_not_replicated_says_how_many_confirmed(reg):
    reg.min_replicas, reg.wait_timeout = 2, 0.01
    with pytest.raises(NotReplicated) as raised:
        reg.count_submitted()
    assert (raised.value.confirmed, raised.value.required) == (0, 2)
    assert isinstance(reg, Registry)
