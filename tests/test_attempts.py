"""Who trained what: every attempt at a job records its worker's node and host, when it
started and ended and how it ended, written by the store's scripts; the API, /metrics and
the command line show it."""

from __future__ import annotations

import os
import re
import time
import uuid

import pytest
from api_helpers import make_app, wait_for_job, worker_thread
from prometheus_client.parser import text_string_to_metric_families

import nn
from registry.store import Registry
from worker.app import unique_nodename

XOR = nn.synthetic.make("xor", n_samples=60, noise=0.05, seed=0)
TINY = {
    "data": {"synthetic": {"name": "xor", "n_samples": 40, "seed": 0}},
    "layers": [{"units": 4, "activation": "tanh"}],
    "training": {"epochs": 2},
}
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


@pytest.fixture
def reg(redis_url, key_prefix):
    return Registry.from_url(redis_url, key_prefix)


def _job(reg: Registry) -> str:
    X, y = XOR
    resolved, data = nn.validate({"layers": [{"units": 4}], "training": {"epochs": 2}}, X, y)
    return reg.create_job(name=None, spec=resolved, data=data, X=X, y=y)["id"]


def _nodes(reg: Registry) -> dict:
    return reg.stats()["nodes"]


def test_a_taken_over_attempt_is_closed_as_lease_expired_and_the_next_as_it_ended(reg):
    job_id = _job(reg)
    assert reg.get_job(job_id)["attempt_log"] == []
    assert reg.claim_job(job_id, "n1@a", lease=0.2, host="a") == ("started", 1)
    (first,) = reg.get_job(job_id)["attempt_log"]
    assert first["outcome"] == "running" and first["ended_at"] is None
    assert (first["attempt"], first["node"], first["host"]) == (1, "n1@a", "a")
    time.sleep(0.3)
    assert reg.claim_job(job_id, "n2@b", lease=5, host="b") == ("started", 2)
    assert reg.succeed_job(job_id, b"blob", {"history": {}}, attempt=2) is not None
    first, second = reg.get_job(job_id)["attempt_log"]
    assert (first["outcome"], second["outcome"]) == ("lease_expired", "succeeded")
    assert (second["node"], second["host"]) == ("n2@b", "b")
    for a in (first, second):
        assert ISO.fullmatch(a["started_at"]) and ISO.fullmatch(a["ended_at"])
        assert a["started_at"] <= a["ended_at"]
    assert first["ended_at"] <= second["started_at"]
    assert _nodes(reg) == {("n1@a", "lease_expired"): 1, ("n2@b", "succeeded"): 1}
    # the listing carries them too (they are part of the summary)
    (listed,), _ = reg.list_jobs()
    assert [a["outcome"] for a in listed["attempt_log"]] == ["lease_expired", "succeeded"]


def test_requeued_cancelled_failed_and_given_up_attempts_each_end_once(reg):
    requeued, cancelled, failed, exhausted = (_job(reg) for _ in range(4))
    for job_id in (requeued, cancelled, failed, exhausted):
        reg.claim_job(job_id, "n@h", lease=0.1 if job_id in (requeued, exhausted) else 30)
    time.sleep(0.15)
    assert reg.reclaim_job(requeued, 3, requeue=True) == "requeued"
    assert reg.reclaim_job(exhausted, 1) == "failed"
    reg.cancel_job(cancelled)
    assert reg.fail_job(failed, "Boom", "no", attempt=1)
    outcomes = {
        job_id: [a["outcome"] for a in reg.get_job(job_id)["attempt_log"]]
        for job_id in (requeued, cancelled, failed, exhausted)
    }
    assert outcomes == {
        requeued: ["lease_expired"],
        cancelled: ["cancelled"],
        failed: ["failed"],
        exhausted: ["lease_expired"],
    }
    # a queued job cancelled has no attempt to close, and a closed one is not closed again
    reg.cancel_job(requeued)
    assert [a["outcome"] for a in reg.get_job(requeued)["attempt_log"]] == ["lease_expired"]
    assert _nodes(reg) == {
        ("n@h", "lease_expired"): 2,
        ("n@h", "cancelled"): 1,
        ("n@h", "failed"): 1,
    }


def test_node_names_are_unique_per_process_and_celerys_default_is_not_used():
    names = {unique_nodename("h") for _ in range(50)}
    assert len(names) == 50
    assert all(n.startswith(f"nnjobs-{os.getpid()}-") and n.endswith("@h") for n in names)
    assert not unique_nodename().startswith("celery@")


def test_a_job_through_a_real_worker_shows_its_attempt_in_the_api_metrics(redis_url, key_prefix):
    app = make_app(redis_url, key_prefix)
    client = app.test_client()
    name = f"a-{uuid.uuid4().hex[:8]}"
    with worker_thread(redis_url, key_prefix):
        response = client.post("/jobs", json={"name": name, **TINY})
        assert response.status_code == 202
        job = wait_for_job(client, response.get_json()["id"])
    assert job["status"] == "succeeded", job
    (attempt,) = job["attempt_log"]
    assert attempt["outcome"] == "succeeded" and attempt["attempt"] == 1
    assert attempt["host"] and attempt["host"] in attempt["node"]

    text = client.get("/metrics").get_data(as_text=True)
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    key = ("nnjobs_attempts_ended_total", (("node", attempt["node"]), ("outcome", "succeeded")))
    assert samples[key] == 1
