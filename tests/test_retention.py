"""Retention: ended jobs and sweeps expire after NNJOBS_JOB_TTL, the listings drop them,
and ``DELETE ...?purge=true`` removes them now; models and datasets stay until deleted."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from api_helpers import error, make_app, run_job

import nn
from registry.store import Registry

X, Y = nn.synthetic.make("moons", n_samples=40, noise=0.1, seed=0)
BODY = {"data": {"X": X.tolist(), "y": Y.tolist()}, "layers": [{"units": 4}]}
BODY["training"] = {"epochs": 3}


def _job(reg: Registry) -> str:
    spec, data = nn.validate({"layers": [{"units": 4}], "training": {"epochs": 3}}, X, Y)
    return reg.create_job(name="r", spec=spec, data=data, X=X, y=Y)["id"]


def _gone(reg: Registry, *keys: str, timeout: float = 10) -> None:
    """Wait until Redis has expired ``keys`` (it does so on access once their time is up)."""
    deadline = time.monotonic() + timeout
    while reg.r.exists(*keys):
        assert time.monotonic() < deadline, f"{keys} did not expire"
        time.sleep(0.1)


@pytest.fixture
def short(reg) -> Registry:
    """The test's registry with ended jobs kept one second."""
    return Registry(reg.r, reg.prefix, job_ttl=1)


def test_every_ending_lets_the_job_expire_and_models_stay(reg):
    assert reg.job_ttl == 7 * 24 * 3600  # the default
    ids = [_job(reg) for _ in range(4)]
    reg.cancel_job(ids[0])
    reg.start_job(ids[1])
    reg.report_progress(ids[1], {"epoch": 1}, [{"loss": 1.0}])
    reg.fail_job(ids[1], "TrainingError", "diverged")
    assert run_job(reg, ids[2])["id"]
    for job_id in ids[:3]:
        ttl = reg.r.ttl(reg.keys.job(job_id))
        assert 7 * 24 * 3600 - 60 < ttl <= 7 * 24 * 3600, (job_id, ttl)
    assert reg.r.ttl(reg.keys.epochs(ids[1])) > 0  # the failed job's epochs go with it
    assert reg.r.ttl(reg.keys.job(ids[3])) == -1  # queued: kept
    model_id = reg.get_job(ids[2])["model_id"]
    assert reg.r.ttl(reg.keys.model(model_id)) == -1  # models stay until deleted
    # a job whose attempts ran out expires too
    reg.claim_job(ids[3], max_attempts=1)
    reg.r.hset(reg.keys.job(ids[3]), "lease_until", 0)
    assert reg.claim_job(ids[3], max_attempts=1)[0] == "exhausted"
    assert reg.r.ttl(reg.keys.job(ids[3])) > 0


def test_a_ttl_of_zero_keeps_ended_jobs(reg):
    keep = Registry(reg.r, reg.prefix, job_ttl=0)
    job_id = _job(keep)
    keep.cancel_job(job_id)
    assert keep.r.ttl(keep.keys.job(job_id)) == -1
    assert keep.trim_expired() == (0, 0) and keep.list_jobs()[1] == 1


def test_expired_jobs_leave_the_listings_and_the_counts(short):
    ended, kept = _job(short), _job(short)
    short.cancel_job(ended)
    assert short.list_jobs()[1] == 2
    _gone(short, short.keys.job(ended))
    jobs, total = short.list_jobs()
    assert [j["id"] for j in jobs] == [kept] and total == 1
    assert short.list_jobs("cancelled") == ([], 0)
    assert short.stats()["jobs"]["cancelled"] == 0
    # trimmed once: nothing is left to trim, nor dangling in any index
    assert short.trim_expired() == (0, 0)
    assert short.r.zscore(short.keys.jobs(), ended) is None


def test_trimming_costs_what_it_removes(short):
    ids = [_job(short) for _ in range(5)]
    for job_id in ids:
        short.cancel_job(job_id)
    _gone(short, *(short.keys.job(i) for i in ids))
    assert short.trim_expired(limit=2) == (2, 0)
    assert short.trim_expired(limit=2) == (2, 0)
    assert short.trim_expired() == (1, 0)
    assert short.r.zcard(short.keys.jobs()) == 0


def test_a_sweep_expires_once_its_last_job_ended(short):
    spec, data = nn.validate({"layers": [{"units": 4}]}, X, Y)
    jobs = [{"name": "s", "spec": spec, "data": data, "vary": {}} for _ in range(2)]
    sweep_id, job_ids = short.create_sweep(name="s", vary={}, jobs=jobs, X=X, y=Y)
    short.cancel_job(job_ids[0])
    assert short.r.ttl(short.keys.sweep(sweep_id)) == -1  # a job still runs
    short.cancel_job(job_ids[1])
    assert short.r.ttl(short.keys.sweep(sweep_id)) > 0
    _gone(short, short.keys.sweep(sweep_id), short.keys.sweep_jobs(sweep_id))
    assert short.list_sweeps() == ([], 0)


def test_listings_read_summaries_not_histories(reg):
    job_id = _job(reg)
    reg.start_job(job_id)
    rows = [{"loss": 1 / (e + 3), "accuracy": 1 - 1 / (e + 3)} for e in range(5000)]
    reg.report_progress(job_id, {"epoch": 5000}, rows)
    history = json.dumps(reg.get_job(job_id)["history"])
    assert len(history) > 100_000
    before = reg.r.info("stats")["total_net_output_bytes"]
    (listed,), _ = reg.list_jobs()
    read = reg.r.info("stats")["total_net_output_bytes"] - before
    assert "history" not in listed and listed["progress"] == {"epoch": 5000}
    assert read < 5_000, read  # the INFO answer itself included


# -- the routes -------------------------------------------------------------------------------


@pytest.fixture
def app(redis_url, key_prefix):
    return make_app(redis_url, key_prefix)


def test_purge_removes_an_ended_job_and_keeps_its_model(client, registry):
    job = client.post("/jobs", json=BODY).get_json()
    assert run_job(registry, job["id"])["id"]
    model_id = client.get(f"/jobs/{job['id']}").get_json()["model_id"]
    # without the flag, DELETE still only cancels
    assert error(client.delete(f"/jobs/{job['id']}"), 409)["code"] == 409
    resp = client.delete(f"/jobs/{job['id']}?purge=true")
    assert resp.status_code == 204 and resp.data == b""
    assert client.get(f"/jobs/{job['id']}").status_code == 404
    assert client.get("/jobs").get_json()["total"] == 0
    assert client.get(f"/models/{model_id}").status_code == 200
    assert client.delete(f"/jobs/{job['id']}?purge=true").status_code == 404


def test_purge_cancels_a_queued_job_first(client, registry):
    job = client.post("/jobs", json=BODY).get_json()
    assert client.delete(f"/jobs/{job['id']}?purge=true").status_code == 204
    assert registry.get_job(job["id"]) is None
    assert registry.r.exists(*registry.keys.job_data(job["id"])) == 0
    assert registry.stats()["ended"]["cancelled"] == 1


@pytest.mark.parametrize("flag", ["yes", "1", "TRUE", "", "on"])
def test_a_purge_flag_other_than_true_or_false_is_refused(client, flag):
    job = client.post("/jobs", json=BODY).get_json()
    body = error(client.delete(f"/jobs/{job['id']}?purge={flag}"), 422)
    assert "purge" in body["errors"]["query"]
    assert client.get(f"/jobs/{job['id']}").get_json()["status"] == "queued"
    body = error(client.delete(f"/sweeps/{job['id']}?purge={flag}"), 422)
    assert "purge" in body["errors"]["query"]


def test_purge_false_cancels_as_without_it(client):
    job = client.post("/jobs", json=BODY).get_json()
    resp = client.delete(f"/jobs/{job['id']}?purge=false")
    assert resp.status_code == 200 and resp.get_json()["status"] == "cancelled"


def test_purge_removes_a_sweep_and_its_jobs(client, registry):
    sweep = client.post(
        "/sweeps", json={"job": BODY, "vary": {"learning_rate": [0.01, 0.1]}}
    ).get_json()
    job_ids = [job["id"] for job in sweep["jobs"]]
    assert run_job(registry, job_ids[0])["id"]
    model_id = registry.get_job(job_ids[0])["model_id"]
    assert client.delete(f"/sweeps/{sweep['id']}?purge=true").status_code == 204
    assert client.get(f"/sweeps/{sweep['id']}").status_code == 404
    assert client.get("/sweeps").get_json()["total"] == 0
    assert all(client.get(f"/jobs/{i}").status_code == 404 for i in job_ids)
    assert client.get(f"/models/{model_id}").status_code == 200
    assert not list(registry.r.scan_iter(f"{registry.keys.sweep(sweep['id'])}*"))
    assert client.delete(f"/sweeps/{sweep['id']}?purge=true").status_code == 404


def test_datasets_do_not_expire(registry):
    dataset = registry.create_dataset({"name": "d", "columns": []}, [np.zeros(1).tobytes()])
    assert registry.r.ttl(registry.keys.dataset(dataset["id"])) == -1


def test_a_tenants_listings_drop_what_expired(short):
    spec, data = nn.validate({"layers": [{"units": 4}]}, X, Y)
    ended = short.create_job(name="a", spec=spec, data=data, X=X, y=Y, tenant="alice")["id"]
    kept = short.create_job(name="a", spec=spec, data=data, X=X, y=Y, tenant="alice")["id"]
    short.create_job(name="b", spec=spec, data=data, X=X, y=Y, tenant="bob")
    jobs = [{"name": "s", "spec": spec, "data": data, "vary": {}}]
    sweep_id, [swept] = short.create_sweep(name="s", vary={}, jobs=jobs, X=X, y=Y, tenant="alice")
    for job_id in (ended, swept):
        short.cancel_job(job_id)
    assert short.list_jobs(tenant="alice")[1] == 3
    assert short.list_jobs("cancelled", tenant="alice")[1] == 2
    _gone(short, short.keys.job(ended), short.keys.job(swept), short.keys.sweep(sweep_id))
    jobs, total = short.list_jobs(tenant="alice")
    assert [j["id"] for j in jobs] == [kept] and total == 1
    assert short.list_jobs("cancelled", tenant="alice") == ([], 0)
    assert short.list_jobs("queued", tenant="alice")[1] == 1
    assert short.list_sweeps(tenant="alice") == ([], 0)
    # the tenant's indexes hold what the listings show, no more
    assert short.r.zrange(short.keys.owned("jobs", "alice"), 0, -1) == [kept.encode()]
    assert not short.r.exists(short.keys.owned("sweeps", "alice"))
    assert short.list_jobs(tenant="bob")[1] == 1
