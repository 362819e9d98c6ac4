"""POST /jobs stores and queues a fully checked job; GET and DELETE follow and cancel it."""

from __future__ import annotations

import base64
import json
import threading
import time

import numpy as np
import pytest
from api_helpers import error, make_app, make_client
from celery import Celery
from conftest import free_port

import nn
from registry.queue import celery_config

XOR = {
    "data": {"X": [[0, 0], [1, 1], [0, 1], [1, 0]] * 5, "y": [0, 0, 1, 1] * 5},
    "layers": [{"units": 4, "activation": "tanh"}],
}


@pytest.fixture
def app(redis_url, key_prefix):
    return make_app(redis_url, key_prefix)


def queued_messages(r, queue: str) -> list[dict]:
    """The task messages in the Redis list the Celery transport keeps for ``queue``."""
    out = []
    for raw in r.lrange(queue, 0, -1):
        envelope = json.loads(raw)
        assert envelope["content-type"] == "application/json"
        args, kwargs, _ = json.loads(base64.b64decode(envelope["body"]))
        out.append({"task": envelope["headers"]["task"], "args": args, "kwargs": kwargs})
    return out


def submit(client, job=XOR) -> dict:
    resp = client.post("/jobs", json=job)
    assert resp.status_code == 202, resp.get_json()
    return resp.get_json()


def test_a_valid_job_is_stored_queued_by_id_and_readable(client, registry, r, key_prefix):
    resp = client.post("/jobs", json={**XOR, "name": "xor-net"})
    assert resp.status_code == 202
    job = resp.get_json()
    assert resp.headers["Location"] == f"/jobs/{job['id']}"
    assert job["status"] == "queued"
    assert job["name"] == "xor-net"
    assert job["started_at"] is None and job["finished_at"] is None
    assert job["model_id"] is None and job["error"] is None
    assert job["data"]["n_samples"] == 20 and job["data"]["n_features"] == 2
    assert job["data"]["classes"] == [0, 1]

    # the message carries the job id and nothing else; it is sent by task name
    assert r.llen(key_prefix) == 1
    [message] = queued_messages(r, key_prefix)
    assert message == {"task": "nnjobs.train", "args": [job["id"]], "kwargs": {}}

    assert client.get(resp.headers["Location"]).get_json() == job

    # the data is stored as arrays the worker can load, without pickle
    X, y, _ = registry.load_data(job["id"])
    np.testing.assert_array_equal(X, np.array(XOR["data"]["X"], dtype=float))
    np.testing.assert_array_equal(y, XOR["data"]["y"])


def test_the_stored_spec_is_the_job_as_it_will_run(client, registry):
    job = submit(client)
    spec = job["spec"]
    assert spec["output"] == "sigmoid"
    assert spec["layers"] == [{"units": 4, "activation": "tanh", "dropout": 0.0}]
    assert spec["training"]["epochs"] == 500 and spec["training"]["optimizer"] == "adam"
    assert spec["training"]["early_stopping"] == {
        "patience": 50,
        "min_delta": 0.0,
        "start_from_epoch": 100,
    }
    # what the API accepted, the worker's own validation accepts unchanged
    X, y, _ = registry.load_data(job["id"])
    assert nn.validate(spec, X, y) == (spec, job["data"])


def test_the_name_defaults_to_model_and_a_null_output_is_inferred(client):
    assert submit(client)["name"] == "model"
    job = submit(client, {**XOR, "name": None, "output": None})
    assert job["name"] == "model" and job["spec"]["output"] == "sigmoid"


def test_a_synthetic_job_records_its_dataset_with_every_default(client, registry):
    job = submit(client, {"data": {"synthetic": {"name": "moons", "noise": 0.1}}})
    assert job["spec"]["data"] == {
        "synthetic": {"name": "moons", "n_samples": 400, "noise": 0.1, "seed": 0}
    }
    assert job["data"]["n_samples"] == 400
    X, y, _ = registry.load_data(job["id"])
    X0, y0 = nn.synthetic.make("moons", noise=0.1)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)


@pytest.mark.parametrize(
    ("y", "output", "classes"),
    [
        (["cat", "dog", "mouse", "dog"] * 5, "softmax", ["cat", "dog", "mouse"]),
        ([True, False] * 10, "sigmoid", [False, True]),
        ([[1, 0, 1], [0, 1, 0]] * 10, "sigmoid", [0, 1, 2]),
        ([0.5, 1.25, -3.0, 2] * 5, "linear", None),
        ([[0.5, 1.0], [2.0, -1.0]] * 10, "linear", None),
    ],
)
def test_every_kind_of_target_is_accepted(client, registry, y, output, classes):
    X = [[i / 10, (i % 3) / 2] for i in range(20)]
    job = submit(client, {"data": {"X": X, "y": y}, "layers": [{"units": 3}]})
    assert job["spec"]["output"] == output
    assert job["data"]["classes"] == classes
    assert registry.load_data(job["id"])[1].tolist() == y


def test_limits_are_configurable(redis_url, key_prefix):
    client = make_client(redis_url, key_prefix, NNJOBS_MAX_EPOCHS=10, NNJOBS_MAX_BATCH_SIZE=4)
    resp = client.post("/jobs", json={**XOR, "training": {"epochs": 11}})
    assert resp.status_code == 422
    assert "10" in resp.get_json()["errors"]["json"]["training"]["epochs"][0]
    resp = client.post("/jobs", json={**XOR, "training": {"batch_size": 5}})
    assert resp.status_code == 422
    resp = client.post("/jobs", json={**XOR, "training": {"epochs": 10, "batch_size": 4}})
    assert resp.status_code == 202


def test_a_refused_job_leaves_nothing_behind(client, r, key_prefix):
    for job in (
        {**XOR, "layers": [{"units": 0}]},
        {"data": {"X": [[1, True]] * 4, "y": [0, 1] * 2}},
        {"data": {"synthetic": {"name": "xor"}}, "training": {"validation_split": 1}},
    ):
        assert client.post("/jobs", json=job).status_code == 422
    assert list(r.scan_iter(f"{key_prefix}*")) == []


def test_a_job_that_cannot_be_queued_is_undone(app, client, r, key_prefix):
    # the registry answers but the broker does not: a real Celery app on a closed port
    dead = Celery("dead-broker", set_as_current=False)
    dead.conf.update(celery_config(f"redis://127.0.0.1:{free_port()}/0", key_prefix))
    dead.conf.broker_connection_timeout = 0.5
    dead.conf.task_publish_retry = False
    app.extensions["nnjobs"].celery = dead
    resp = client.post("/jobs", json=XOR)
    assert resp.status_code == 503
    assert resp.headers["Retry-After"]
    assert list(r.scan_iter(f"{key_prefix}:*")) == []
    assert client.get("/jobs").get_json()["total"] == 0


def test_jobs_are_listed_newest_first_and_paginated(client):
    ids = []
    for _ in range(5):
        ids.append(submit(client)["id"])
        time.sleep(0.002)  # distinct creation times
    newest_first = ids[::-1]

    page = client.get("/jobs?page=1&page_size=2").get_json()
    assert page["total"] == 5 and page["page"] == 1 and page["page_size"] == 2
    assert [j["id"] for j in page["items"]] == newest_first[:2]
    assert all("history" not in j for j in page["items"])
    page3 = client.get("/jobs?page=3&page_size=2").get_json()
    assert [j["id"] for j in page3["items"]] == newest_first[4:]
    assert client.get("/jobs?page=4&page_size=2").get_json()["items"] == []

    default = client.get("/jobs").get_json()
    assert default["page"] == 1 and default["page_size"] == 20
    assert [j["id"] for j in default["items"]] == newest_first


def test_jobs_are_filtered_by_status(client):
    kept, cancelled = submit(client)["id"], submit(client)["id"]
    assert client.delete(f"/jobs/{cancelled}").status_code == 200
    queued = client.get("/jobs?status=queued").get_json()
    assert [j["id"] for j in queued["items"]] == [kept] and queued["total"] == 1
    ended = client.get("/jobs?status=cancelled").get_json()
    assert [j["id"] for j in ended["items"]] == [cancelled]
    assert client.get("/jobs?status=failed").get_json() == {
        "items": [],
        "total": 0,
        "page": 1,
        "page_size": 20,
    }


def test_cancelling_a_queued_or_running_job(client, registry):
    queued = submit(client)
    resp = client.delete(f"/jobs/{queued['id']}")
    assert resp.status_code == 200
    assert resp.get_json()["status"] == "cancelled"
    assert resp.get_json()["finished_at"]
    # cancelling again changes nothing and says so without an error
    assert client.delete(f"/jobs/{queued['id']}").get_json()["status"] == "cancelled"

    running = submit(client)
    registry.start_job(running["id"])
    assert client.get(f"/jobs/{running['id']}").get_json()["status"] == "running"
    assert client.delete(f"/jobs/{running['id']}").get_json()["status"] == "cancelled"


def test_an_ended_job_cannot_be_cancelled(client, registry):
    job = submit(client)
    registry.start_job(job["id"])
    registry.fail_job(job["id"], "TrainingError", "diverged")
    resp = client.delete(f"/jobs/{job['id']}")
    assert resp.status_code == 409
    body = resp.get_json()
    assert body["code"] == 409 and "failed" in body["message"]
    assert client.get(f"/jobs/{job['id']}").get_json()["error"] == {
        "type": "TrainingError",
        "message": "diverged",
    }


def test_json_types_are_kept_strict(client):
    # "16" and 16.5 are not integers, 1 is not a boolean: no silent conversion
    for layer in ({"units": "16"}, {"units": 16.5}):
        assert client.post("/jobs", json={**XOR, "layers": [layer]}).status_code == 422
    resp = client.post("/jobs", json={**XOR, "training": {"standardize": 1}})
    assert resp.status_code == 422
    # an integral float is an integer, as in JSON
    assert client.post("/jobs", json={**XOR, "layers": [{"units": 4.0}]}).status_code == 202


@pytest.mark.parametrize("init", nn.spec.INIT_CHOICES)
def test_every_initializer_nn_knows_is_accepted(client, init):
    job = submit(client, {**XOR, "training": {"init": init}})
    assert job["spec"]["training"]["init"] == init


def test_an_unknown_initializer_is_refused_naming_the_field(client, r, key_prefix):
    resp = client.post("/jobs", json={**XOR, "training": {"init": "orthogonal"}})
    assert resp.status_code == 422
    body = resp.get_json()
    assert "init" in body["errors"]["json"]["training"]
    assert "he" in body["errors"]["json"]["training"]["init"][0]
    assert r.llen(key_prefix) == 0


def test_a_new_job_has_no_warnings_and_diagnostics_can_be_switched_off(client):
    job = submit(client)
    assert job["warnings"] == [] and job["spec"]["training"]["diagnostics"] is True
    job = submit(client, {**XOR, "training": {"diagnostics": False}})
    assert job["spec"]["training"]["diagnostics"] is False
    resp = client.post("/jobs", json={**XOR, "training": {"diagnostics": "no"}})
    assert resp.status_code == 422
    assert "diagnostics" in resp.get_json()["errors"]["json"]["training"]


# -- GET /jobs/<id>?wait=: a bounded long poll ---------------------------------------------


def test_wait_answers_as_soon_as_the_job_changes(client, registry):
    job = submit(client)
    # the change comes from another connection while the request is waiting on its own
    timer = threading.Timer(0.3, registry.start_job, args=(job["id"],))
    timer.start()
    try:
        t0 = time.monotonic()
        resp = client.get(f"/jobs/{job['id']}?wait=15")
        elapsed = time.monotonic() - t0
    finally:
        timer.join()
    assert resp.status_code == 200
    assert resp.get_json()["status"] == "running"
    assert 0.2 < elapsed < 10, elapsed


def test_wait_also_answers_on_progress(client, registry):
    job = submit(client)
    registry.start_job(job["id"])
    progress = {"epoch": 1, "epochs": 5, "loss": 0.5}
    report = threading.Timer(
        0.3, registry.report_progress, args=(job["id"], progress, [{"loss": 0.5}])
    )
    report.start()
    try:
        resp = client.get(f"/jobs/{job['id']}?wait=15")
    finally:
        report.join()
    assert resp.get_json()["progress"]["epoch"] == 1


def test_wait_times_out_with_the_job_as_it_is(client):
    job = submit(client)
    t0 = time.monotonic()
    resp = client.get(f"/jobs/{job['id']}?wait=0.4")
    assert time.monotonic() - t0 >= 0.4
    assert resp.status_code == 200 and resp.get_json()["status"] == "queued"


def test_wait_on_an_ended_job_answers_at_once(client):
    job = submit(client)
    assert client.delete(f"/jobs/{job['id']}").status_code == 200
    t0 = time.monotonic()
    resp = client.get(f"/jobs/{job['id']}?wait=20")
    assert time.monotonic() - t0 < 10
    assert resp.get_json()["status"] == "cancelled"


@pytest.mark.parametrize("wait", ["-1", "20.5", "soon", "nan", "inf"])
def test_wait_out_of_bounds_is_refused(client, wait):
    job = submit(client)
    resp = client.get(f"/jobs/{job['id']}?wait={wait}")
    body = error(resp, 422)
    assert "wait" in body["errors"]["query"]


def test_wait_on_an_unknown_job_is_404(client):
    error(client.get("/jobs/nosuchjob?wait=5"), 404)
