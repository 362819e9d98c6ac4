"""Long polls (``GET /jobs/<id>?wait=``): they wait on one shared subscription per process,
are bounded per process, and never keep other requests waiting."""

from __future__ import annotations

import statistics
import threading
import time

import pytest
import requests
from api_helpers import error, make_client
from live_service import TINY_JOB, LiveService, wait_until

from registry import ENDED
from registry.waiting import JobWaits, TooManyWaiting

SPEC = {"layers": [{"units": 4}], "training": {"epochs": 1}}


def queued_job(reg) -> str:
    """A job record nobody will run: nothing is sent to a worker."""
    import numpy as np

    X = np.array([[0.0], [1.0]], dtype=np.float32)
    y = np.array([0, 1])
    return reg.create_job(name=None, spec=SPEC, data={"kind": "arrays"}, X=X, y=y)["id"]


@pytest.fixture
def waits(reg):
    waits = JobWaits(reg, limit=3, ended=ENDED)
    yield waits
    waits.close()


def in_thread(function, *args):
    out = {}

    def run():
        started = time.monotonic()
        out["value"] = function(*args)
        out["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


def test_a_change_wakes_the_waiter(waits, reg):
    job_id = queued_job(reg)
    thread, out = in_thread(waits.wait, job_id, 10)
    wait_until(lambda: waits.subscribed == 1, 5, 0.01, "the request to subscribe")
    reg.cancel_job(job_id)
    thread.join(5)
    assert out["value"]["status"] == "cancelled" and out["seconds"] < 5


def test_no_change_answers_after_the_wait_with_the_job_as_it_is(waits, reg):
    job_id = queued_job(reg)
    started = time.monotonic()
    job = waits.wait(job_id, 0.3)
    assert job["status"] == "queued" and time.monotonic() - started >= 0.3


def test_an_ended_or_unknown_job_answers_at_once(waits, reg):
    job_id = queued_job(reg)
    reg.cancel_job(job_id)
    started = time.monotonic()
    assert waits.wait(job_id, 10)["status"] == "cancelled"
    assert waits.wait("0" * 32, 10) is None
    assert time.monotonic() - started < 2


def test_changes_of_other_jobs_do_not_answer(waits, reg):
    mine, other = queued_job(reg), queued_job(reg)
    thread, out = in_thread(waits.wait, mine, 1.0)
    wait_until(lambda: waits.waiting == 1, 5, 0.01, "the request to wait")
    wait_until(lambda: waits.subscribed == 1, 5, 0.01, "the request to subscribe")
    reg.cancel_job(other)
    thread.join(5)
    assert out["value"]["status"] == "queued" and out["seconds"] >= 1.0


def test_waiters_over_the_limit_are_refused_at_once(waits, reg):
    job_id = queued_job(reg)
    threads = [in_thread(waits.wait, job_id, 2)[0] for _ in range(3)]
    wait_until(lambda: waits.waiting == 3, 5, 0.01, "three requests to wait")
    with pytest.raises(TooManyWaiting):
        waits.wait(job_id, 2)
    # a plain read needs no room
    assert waits.wait(job_id, 0)["status"] == "queued"
    for thread in threads:
        thread.join(5)
    assert waits.waiting == 0


def test_a_lost_subscription_wakes_the_waiters_and_comes_back(waits, reg):
    job_id = queued_job(reg)
    thread, out = in_thread(waits.wait, job_id, 10)
    wait_until(lambda: waits.waiting == 1, 5, 0.01, "the request to wait")
    wait_until(lambda: waits.subscribed == 1, 5, 0.01, "the request to subscribe")
    reg.r.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
    thread.join(5)
    assert out["value"]["status"] == "queued" and out["seconds"] < 5
    # subscribed again, a change is seen again
    thread, out = in_thread(waits.wait, job_id, 10)
    wait_until(lambda: waits.subscribed == 1, 5, 0.01, "the request to subscribe")
    reg.cancel_job(job_id)
    thread.join(5)
    assert out["value"]["status"] == "cancelled"


def test_one_subscription_serves_every_waiter(waits, reg):
    # other tests' apps may hold subscriptions of their own on the same server
    before = reg.r.pubsub_numpat()
    job_ids = [queued_job(reg) for _ in range(3)]
    threads = [in_thread(waits.wait, job_id, 1)[0] for job_id in job_ids]
    wait_until(lambda: waits.subscribed == 3, 5, 0.01, "three requests to subscribe")
    assert reg.r.pubsub_numpat() == before + 1
    for thread in threads:
        thread.join(5)


def test_the_api_answers_503_naming_the_setting_when_no_room_is_left(redis_url, key_prefix):
    client = make_client(redis_url, key_prefix, NNJOBS_MAX_WAITING=0)
    job = client.post("/jobs", json=TINY_JOB)
    assert job.status_code == 202
    response = client.get(f"/jobs/{job.json['id']}?wait=5")
    body = error(response, 503)
    assert "NNJOBS_MAX_WAITING" in body["message"]
    assert response.headers["Retry-After"] == "1"
    # without a wait it answers
    assert client.get(f"/jobs/{job.json['id']}").status_code == 200


@pytest.mark.slow
def test_a_hundred_long_polls_leave_the_api_answering(redis_url, key_prefix):
    """100 clients wait on a job under gunicorn's defaults; /healthz and a one-row
    prediction still answer at once (bench/long_polls.py measures it)."""
    with LiveService(redis_url, key_prefix) as live:
        done = requests.post(f"{live.url}/jobs", json=TINY_JOB, timeout=10).json()
        model = wait_until(
            lambda: (
                (j := requests.get(f"{live.url}/jobs/{done['id']}?wait=5", timeout=10).json())
                and j["status"] in ENDED
                and j
            ),
            60,
            0,
            "the tiny job",
        )
        assert model["status"] == "succeeded"
        # with no worker left, this job stays queued for the whole test
        live.worker.stop()
        waiting = requests.post(f"{live.url}/jobs", json=TINY_JOB, timeout=10).json()
        answers: list[tuple[int, str]] = []

        # the longest wait there is: the job's cancellation below ends every poll, so the
        # test waits on that change, not on a clock
        def long_poll():
            response = requests.get(f"{live.url}/jobs/{waiting['id']}?wait=20", timeout=40)
            answers.append((response.status_code, response.json()["status"]))

        pollers = [threading.Thread(target=long_poll) for _ in range(100)]
        for thread in pollers:
            thread.start()
        time.sleep(1.5)
        body = {"model_id": model["model_id"], "inputs": [[0.5, 0.5]]}
        health, predict = [], []
        for _ in range(10):
            started = time.monotonic()
            assert requests.get(f"{live.url}/healthz", timeout=10).status_code == 200
            health.append(time.monotonic() - started)
            started = time.monotonic()
            assert requests.post(f"{live.url}/predict", json=body, timeout=10).status_code == 200
            predict.append(time.monotonic() - started)
        assert not answers, "a long poll answered before the job changed"
        cancel = requests.delete(f"{live.url}/jobs/{waiting['id']}", timeout=10)
        assert cancel.status_code == 200, cancel.text
        for thread in pollers:
            thread.join(30)
    # every waiter was woken by the change, none dropped or refused
    assert answers == [(200, "cancelled")] * 100
    # loosely: the figure that matters (100 ms) is measured by the benchmark
    assert statistics.median(health) < 0.5 and statistics.median(predict) < 0.5, (health, predict)
