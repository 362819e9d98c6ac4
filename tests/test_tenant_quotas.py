"""Quotas and rate limits per tenant: 429 with Retry-After in the one error shape,
nothing stored, and the other tenants unaffected."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import requests
from api_helpers import bearer, error, make_app
from live_service import LiveService

import nn
from registry.tenants import entry_text

ALICE, BOB = "alice-key-0123456789", "bob-key-0123456789abc"
XOR = (np.array([[0, 0], [0, 1], [1, 0], [1, 1]] * 4), np.array([0, 1, 1, 0] * 4))
JOB = {"data": {"X": [[0, 0], [0, 1], [1, 0], [1, 1]], "y": [0, 1, 1, 0]}}
CSV = "a,b,label\n" + "".join(f"{i},{i % 3},{'xy'[i % 2]}\n" for i in range(200))


def keys_file(tmp_path, alices: str) -> str:
    path = tmp_path / "keys.toml"
    text = entry_text("alice", "trainer", ALICE) + entry_text("bob", "trainer", BOB)
    path.write_text(text + "\n[tenants.alice]\n" + alices)
    return str(path)


@pytest.fixture
def client(tmp_path, redis_url, prefix):
    path = keys_file(tmp_path, "max_active_jobs = 2\nmax_stored_mb = 0.002\n")
    return make_app(redis_url, prefix, NNJOBS_KEYS_FILE=path).test_client()


def test_the_job_over_a_tenants_quota_is_429_and_the_others_go_on(client):
    # no worker: the jobs stay queued
    for _ in range(2):
        assert client.post("/jobs", json=JOB, headers=bearer(ALICE)).status_code == 202
    refused = client.post("/jobs", json=JOB, headers=bearer(ALICE))
    body = error(refused, 429)
    assert refused.headers["Retry-After"] == "10"
    assert "quota of 2 (NNJOBS_TENANT_MAX_ACTIVE_JOBS)" in body["message"]
    sweep = {"job": JOB, "vary": {"activation": ["relu", "tanh"]}}
    assert error(client.post("/sweeps", json=sweep, headers=bearer(ALICE)), 429)
    assert client.get("/jobs", headers=bearer(ALICE)).get_json()["total"] == 2
    assert client.post("/jobs", json=JOB, headers=bearer(BOB)).status_code == 202
    # a job cancelled makes room
    first = client.get("/jobs", headers=bearer(ALICE)).get_json()["items"][0]
    assert client.delete(f"/jobs/{first['id']}", headers=bearer(ALICE)).status_code == 200
    assert client.post("/jobs", json=JOB, headers=bearer(ALICE)).status_code == 202


def test_the_upload_over_a_tenants_bytes_is_429_and_nothing_is_stored(client):
    csv = {"Content-Type": "text/csv"}
    refused = client.post("/datasets", data=CSV, headers={**csv, **bearer(ALICE)})
    assert "NNJOBS_TENANT_MAX_STORED_MB" in error(refused, 429)["message"]
    assert refused.headers["Retry-After"] == "60"
    assert client.get("/datasets", headers=bearer(ALICE)).get_json()["total"] == 0
    assert client.post("/datasets", data=CSV, headers={**csv, **bearer(BOB)}).status_code == 201
    small = client.post("/datasets", data="a,b\n1,2\n", headers={**csv, **bearer(ALICE)})
    assert small.status_code == 201
    # a model imported counts as much as one trained
    blob = nn.fit({"layers": [{"units": 128}], "training": {"epochs": 1}}, *XOR)[0].to_bytes()
    assert len(blob) > 0.002 * 2**20
    octets = {"Content-Type": "application/octet-stream", **bearer(ALICE)}
    imported = client.post("/models/import?name=big", data=blob, headers=octets)
    assert "NNJOBS_TENANT_MAX_STORED_MB" in error(imported, 429)["message"]
    assert client.get("/models", headers=bearer(ALICE)).get_json()["total"] == 0


def test_the_rate_holds_across_two_api_processes(tmp_path, redis_url, prefix):
    # a bucket of 4 that takes minutes to refill one token: the fifth request is over
    path = keys_file(tmp_path, "rate = 0.01\nburst = 4\n")
    here = make_app(redis_url, prefix, NNJOBS_KEYS_FILE=path).test_client()
    # readyz asked as bob, whose own bucket alice's requests do not touch
    with LiveService(redis_url, prefix, workers=1, key=BOB, NNJOBS_KEYS_FILE=path) as there:
        statuses = []
        for turn in range(8):
            if turn % 2:
                answer = requests.get(f"{there.url}/jobs", headers=bearer(ALICE), timeout=10)
                statuses.append((answer.status_code, answer.headers.get("Retry-After")))
            else:
                answer = here.get("/jobs", headers=bearer(ALICE))
                statuses.append((answer.status_code, answer.headers.get("Retry-After")))
        assert [s for s, _ in statuses] == [200] * 4 + [429] * 4, statuses
        # a token comes back every 100 s
        assert all(90 <= int(after) <= 100 for s, after in statuses if s == 429), statuses
        over = requests.get(f"{there.url}/models", headers=bearer(ALICE), timeout=10)
        assert over.status_code == 429 and set(over.json()) == {"code", "status", "message"}
        assert "NNJOBS_TENANT_RATE" in over.json()["message"]
        assert here.get("/jobs", headers=bearer(BOB)).status_code == 200


def test_submissions_sent_at_once_take_no_more_than_the_quota(client, tmp_path, redis_url, prefix):
    # each request its own client and thread, let go together: without one step for
    # counting and storing, they would all count 0 active jobs and all be stored
    app = client.application
    barrier = threading.Barrier(8)
    statuses = []

    def submit():
        own = app.test_client()
        barrier.wait()
        statuses.append(own.post("/jobs", json=JOB, headers=bearer(ALICE)).status_code)

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(statuses) == [202] * 2 + [429] * 6
    assert client.get("/jobs", headers=bearer(ALICE)).get_json()["total"] == 2
    sweep = {"job": JOB, "vary": {"activation": ["relu", "tanh"]}}
    assert error(client.post("/sweeps", json=sweep, headers=bearer(ALICE)), 429)
