"""/readyz counts only workers that listen on the service's queue: a real Celery worker."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from service import create_app

# A worker process on the same Celery settings as the real one, consuming ``queue``; it
# needs no task to answer the control messages /readyz sends.
WORKER = """
import sys
from celery import Celery
from registry.queue import celery_config
url, queue = sys.argv[1:3]
app = Celery("readyz-probe", set_as_current=False)
app.conf.update(celery_config(url, queue))
app.worker_main(["worker", "--pool=solo", "-Q", queue, "--loglevel=WARNING",
                 "--without-mingle", "--without-gossip", "--without-heartbeat",
                 "--hostname", queue + "@%h"])
"""


@pytest.fixture
def worker(redis_url, key_prefix):
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKER, redis_url, key_prefix],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    yield proc
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def make_client(redis_url, queue):
    return create_app(
        {"REDIS_URL": redis_url, "NNJOBS_KEY_PREFIX": queue, "NNJOBS_QUEUE": queue}
    ).test_client()


def test_ready_once_a_worker_listens_on_the_queue(redis_url, key_prefix, worker):
    client = make_client(redis_url, key_prefix)
    deadline = time.monotonic() + 20
    while True:
        resp = client.get("/readyz")
        if resp.status_code == 200 or time.monotonic() > deadline:
            break
        assert worker.poll() is None, worker.stderr.read().decode()
        time.sleep(0.2)
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json() == {"status": "ready", "redis": "ok", "workers": 1}

    # the same worker does not make a deployment on another queue ready
    other = make_client(redis_url, key_prefix + "-other")
    resp = other.get("/readyz")
    assert resp.status_code == 503
    assert set(resp.get_json()["errors"]) == {"workers"}
