"""GET /jobs/<id>?since=N: a follower reads only the epochs after the N it has, of a job
that has ended (its history sliced) or that runs (only its new epoch rows read)."""

from __future__ import annotations

import json
import threading

import pytest
from api_helpers import error, make_app, stored, wait_for_job, worker_thread

import nn
from client.history import FollowedHistory, append
from registry.store import records

#: two hidden layers (one ReLU: its dead_fraction is a series, its saturated_fraction
#: null; one tanh: the other way round), a validation split and the range test, so that
#: every kind of value a history holds is there
JOB = {
    "data": {"synthetic": {"name": "moons", "n_samples": 120, "noise": 0.1, "seed": 0}},
    "layers": [{"units": 8, "activation": "relu"}, {"units": 6, "activation": "tanh"}],
    "training": {"epochs": 40, "learning_rate": "auto", "early_stopping": False, "seed": 3},
}
#: the history's values that are the job's, not an epoch's
JOB_LEVEL = ("best_epoch", "stop_reason", "lr_finder")


@pytest.fixture
def app(redis_url, key_prefix):
    return make_app(redis_url, key_prefix)


@pytest.fixture
def ended(app, client, redis_url, key_prefix) -> dict:
    """A job a real worker trained, as GET /jobs/<id> answers it whole."""
    resp = client.post("/jobs", json=JOB)
    assert resp.status_code == 202, resp.get_json()
    with worker_thread(redis_url, key_prefix):
        job = wait_for_job(client, resp.get_json()["id"])
    assert job["status"] == "succeeded", job["error"]
    return job


def tail(history: dict, since: int) -> dict:
    """The history's epochs after ``since``, cut here by hand from the whole one."""
    out = {}
    for key, value in history.items():
        if key == "diagnostics":
            out[key] = [
                {k: v[since:] if isinstance(v, list) else v for k, v in layer.items()}
                for layer in value
            ]
        else:
            out[key] = value[since:] if isinstance(value, list) else value
    return {**out, "first_epoch": since + 1}


def test_an_ended_job_answers_the_epochs_after_since(client, ended):
    whole = ended["history"]
    n = len(whole["loss"])
    assert n == 40 and {"val_loss", "val_accuracy", "learning_rate"} <= set(whole)
    assert [layer["dead_fraction"] is None for layer in whole["diagnostics"]] == [False, True]
    assert all(whole[key] is not None for key in JOB_LEVEL)
    for since in (0, 1, 25, n - 1, n, n + 7, 100_000):
        job = client.get(f"/jobs/{ended['id']}?since={since}").get_json()
        part = job.pop("history")
        assert part == tail(whole, since), since
        assert part["first_epoch"] == since + 1
        # every series is the whole one's tail, empty past the end, and nothing else changes
        assert len(part["loss"]) == len(part["learning_rate"]) == max(0, n - since)
        for layer in part["diagnostics"]:
            assert len(layer["grad_norm"]) == max(0, n - since)
        assert {key: part[key] for key in JOB_LEVEL} == {key: whole[key] for key in JOB_LEVEL}
        assert job == {k: v for k, v in ended.items() if k != "history"}
    # with a long poll too (an ended job answers at once)
    for since in (0, 25):
        part = client.get(f"/jobs/{ended['id']}?since={since}&wait=5").get_json()["history"]
        assert part == tail(whole, since)
    # without since, the answer is the whole history as before
    assert client.get(f"/jobs/{ended['id']}").get_json() == ended


def _rows(epochs: int, first: int = 1) -> list[dict]:
    """Epoch rows as the worker stores them, with two layers' diagnostics."""
    rows = []
    for epoch in range(first, first + epochs):
        event = {
            "loss": 1 / epoch,
            "val_loss": 2 / epoch,
            "metrics": {"accuracy": epoch / 100, "val_accuracy": epoch / 200},
            "learning_rate": 0.01,
            "diagnostics": [
                {"layer": 1, "activation": "relu", "units": 4, "grad_norm": epoch * 1.0}
                | {"dead_fraction": 0.25, "saturated_fraction": None},
                {"layer": 2, "activation": "tanh", "units": 3, "grad_norm": epoch * 2.0}
                | {"dead_fraction": None, "saturated_fraction": 0.5},
            ],
        }
        rows.append(records.epoch_row(event))
    return rows


def _running(reg, epochs: int) -> str:
    X, y = nn.synthetic.make("moons", n_samples=40, noise=0.1, seed=0)
    spec, data = nn.validate({"layers": [{"units": 4}, {"units": 3}]}, X, y)
    job = reg.create_job(name="since", spec=spec, data=data, X=X, y=y)
    reg.start_job(job["id"])
    assert reg.report_progress(job["id"], {"epoch": epochs}, _rows(epochs))
    return job["id"]


def test_a_running_job_reads_only_the_epoch_rows_after_since(reg, monkeypatch):
    job_id = _running(reg, 30)
    whole = reg.get_job(job_id)["history"]
    assert len(whole["loss"]) == 30 and whole["diagnostics"][1]["dead_fraction"] is None
    decoded = []
    history_of = records.history_of
    monkeypatch.setattr(
        records, "history_of", lambda rows: decoded.append(len(rows)) or history_of(rows)
    )
    for since in (0, 1, 12, 29):
        decoded.clear()
        job = reg.get_job(job_id, since=since)
        assert job["history"] == tail(whole, since), since
        # the rows read and decoded are the new ones only
        assert decoded == [30 - since]
    # past the last epoch: the series are there, empty (named by the last row alone)
    for since in (30, 31, 500):
        decoded.clear()
        assert reg.get_job(job_id, since=since)["history"] == tail(whole, since)
        assert decoded == [1]
    # more epochs come: the follower that had 30 reads the next ones
    assert reg.report_progress(job_id, {"epoch": 33}, _rows(3, first=31), first=30)
    part = reg.get_job(job_id, since=30)["history"]
    assert part["first_epoch"] == 31 and part["loss"] == [1 / 31, 1 / 32, 1 / 33]
    assert append(whole, part) == reg.get_job(job_id)["history"]
    # the long polls pass it on (the shared subscription, and the fallback without it)
    assert reg.wait_for_change(job_id, 0.2, since=32)["history"]["loss"] == [1 / 33]


def test_a_long_poll_with_since_answers_the_new_epochs(client, registry):
    job_id = _running(registry, 5)
    report = threading.Timer(
        0.3,
        registry.report_progress,
        args=(job_id, {"epoch": 7}, _rows(2, first=6)),
        kwargs={"first": 5},
    )
    report.start()
    try:
        resp = client.get(f"/jobs/{job_id}?since=5&wait=15")
    finally:
        report.join()
    history = resp.get_json()["history"]
    assert history["first_epoch"] == 6 and history["loss"] == [1 / 6, 1 / 7]
    assert [layer["grad_norm"] for layer in history["diagnostics"]] == [[6.0, 7.0], [12.0, 14.0]]


def test_a_queued_job_has_no_epochs_to_answer(client):
    job_id = client.post("/jobs", json=JOB).get_json()["id"]
    assert client.get(f"/jobs/{job_id}?since=3").get_json()["history"] == {"first_epoch": 4}


@pytest.mark.parametrize(
    "since", ["-1", "abc", "1.5", "", "1e3", "nan", "100001", "99999999999999999999999"]
)
def test_a_bad_since_is_refused_naming_it_and_changes_nothing(client, r, key_prefix, since):
    job_id = client.post("/jobs", json=JOB).get_json()["id"]
    before = stored(r, key_prefix)
    for query in (f"since={since}", f"since={since}&wait=5", f"wait=5&since={since}"):
        body = error(client.get(f"/jobs/{job_id}?{query}"), 422)
        assert list(body["errors"]["query"]) == ["since"], body
        assert body["message"].startswith("since: ")
    assert stored(r, key_prefix) == before


def test_since_is_bounded_by_the_epochs_a_job_may_run(redis_url, key_prefix):
    client = make_app(redis_url, key_prefix, NNJOBS_MAX_EPOCHS=50).test_client()
    job_id = client.post("/jobs", json={**JOB, "training": {"epochs": 5}}).get_json()["id"]
    assert client.get(f"/jobs/{job_id}?since=50").status_code == 200
    body = error(client.get(f"/jobs/{job_id}?since=51"), 422)
    assert body["errors"] == {"query": {"since": [body["message"].removeprefix("since: ")]}}
    assert "50 (NNJOBS_MAX_EPOCHS)" in body["message"]
    # the document shows the bound as configured
    spec = client.get("/openapi.json").get_json()
    [param] = [
        p for p in spec["paths"]["/jobs/{job_id}"]["get"]["parameters"] if p["name"] == "since"
    ]
    assert param["in"] == "query" and not param["required"]
    assert param["schema"]["minimum"] == 0 and param["schema"]["maximum"] == 50
    assert param["schema"]["x-limit"] == "NNJOBS_MAX_EPOCHS"


def test_since_on_an_unknown_job_is_404(client):
    error(client.get("/jobs/nosuchjob?since=3"), 404)


# -- the client's side: epochs put after those held -----------------------------------


def test_a_follower_holds_the_whole_history_and_starts_over_with_a_new_attempt():
    layer = {"layer": 1, "units": 2, "dead_fraction": None}
    whole = {"loss": [0.9, 0.8, 0.7], "best_epoch": 3, "stop_reason": "completed"}
    whole["diagnostics"] = [{**layer, "grad_norm": [1.0, 2.0, 3.0]}]
    # a running job's first two epochs, then the ended job's third
    first = {"loss": [0.9, 0.8], "diagnostics": [{**layer, "grad_norm": [1.0, 2.0]}]}
    followed = FollowedHistory()
    job = {"attempts": 1, "history": {**first, "first_epoch": 1}}
    assert followed.take(job) and followed.epochs == 2 and job["history"] == first
    job = {"attempts": 1, "history": tail(whole, 2)}
    assert followed.take(job) and followed.epochs == 3
    assert json.dumps(job["history"]) == json.dumps(whole)
    assert first["loss"] == [0.9, 0.8]  # what was held is not changed in place
    # another attempt trains from the first epoch: what is held is not its
    assert not followed.take({"attempts": 2, "history": tail(whole, 3)})
    assert followed.epochs == 0 and followed.history == {}
    job = {"attempts": 2, "history": {**first, "first_epoch": 1}}
    assert followed.take(job) and followed.epochs == 2
