"""Audit lines: every state change and every key refused, one JSON line each, naming the
tenant, the key's id (never the key), the resource and the outcome."""

from __future__ import annotations

import json
import logging

import pytest
from api_helpers import bearer, make_app, run_job

from registry.logs import JSONFormatter
from registry.tenants import digest, entry_text

ALICE, BOB = "alice-key-0123456789", "bob-key-0123456789abc"
JOB = {"data": {"X": [[0, 0], [0, 1], [1, 0], [1, 1]], "y": [0, 1, 1, 0]}, "name": "xor"}


@pytest.fixture
def app(tmp_path, redis_url, prefix):
    path = tmp_path / "keys.toml"
    text = entry_text("alice", "trainer", ALICE) + entry_text("bob", "predictor", BOB)
    path.write_text(text.replace('role = "trainer"', 'role = "trainer"\nid = "alice-laptop"'))
    return make_app(redis_url, prefix, NNJOBS_KEYS_FILE=str(path))


def audited(caplog) -> list[dict]:
    formatter = JSONFormatter()
    lines = [formatter.format(r) for r in caplog.records if r.name == "nnjobs.audit"]
    for line in lines:
        assert ALICE not in line and BOB not in line
    return [json.loads(line) for line in lines]


def test_every_change_is_one_audit_line(app, caplog):
    caplog.set_level(logging.INFO, logger="nnjobs.audit")
    client = app.test_client()
    job = client.post("/jobs", json=JOB, headers=bearer(ALICE)).get_json()
    model = run_job(app.extensions["nnjobs"].registry, job["id"])
    other = client.post("/jobs", json=JOB, headers=bearer(ALICE)).get_json()
    client.delete(f"/jobs/{other['id']}", headers=bearer(ALICE))
    client.delete(f"/models/{model['id']}", headers=bearer(ALICE))
    csv = {"Content-Type": "text/csv", **bearer(ALICE)}
    dataset = client.post("/datasets", data="a,b\n1,2\n", headers=csv).get_json()
    client.delete(f"/datasets/{dataset['id']}", headers=bearer(ALICE))
    client.delete(f"/datasets/{dataset['id']}", headers=bearer(ALICE))
    # reads and predictions are no changes
    client.get("/jobs", headers=bearer(ALICE))
    client.post("/predict", json={"model_id": "xor", "inputs": [[0, 1]]}, headers=bearer(ALICE))
    lines = audited(caplog)
    got = [(line["audit"], line["resource"], line["outcome"]) for line in lines]
    assert got == [
        ("job.submitted", f"/jobs/{job['id']}", "ok"),
        ("job.submitted", f"/jobs/{other['id']}", "ok"),
        ("job.cancelled", f"/jobs/{other['id']}", "ok"),
        ("model.deleted", f"/models/{model['id']}", "ok"),
        ("dataset.uploaded", f"/datasets/{dataset['id']}", "ok"),
        ("dataset.deleted", f"/datasets/{dataset['id']}", "ok"),
        ("dataset.deleted", f"/datasets/{dataset['id']}", "refused: 404"),
    ]
    assert {(line["tenant"], line["key_id"]) for line in lines} == {("alice", "alice-laptop")}


def test_keys_refused_are_audited_without_the_key(app, caplog):
    caplog.set_level(logging.INFO, logger="nnjobs.audit")
    client = app.test_client()
    client.get("/jobs", headers=bearer("wrong-key-0123456789"))
    client.get("/jobs")
    client.post("/jobs", json=JOB, headers=bearer(BOB))
    lines = audited(caplog)
    assert [(line["audit"], line["tenant"], line["key_id"], line["outcome"]) for line in lines] == [
        ("key.refused", None, None, "refused: unknown key"),
        ("key.refused", None, None, "refused: no key"),
        ("key.refused", "bob", digest(BOB)[:12], "refused: role predictor"),
    ]
    assert lines[2]["resource"] == "POST /jobs"
