"""Redis going away, or refusing writes, for a while: a job survives a short blip, a write
is tried again only while the attempt's lease lasts, a model Redis refuses fails its job
saying why, and a full or unpersisting Redis answers 503 with nothing half-written.

Each test starts a redis-server of its own, as it stops, fills or breaks it.
"""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
import uuid

import pytest
import redis
from api_helpers import error, make_app, stored, worker_thread
from conftest import RedisServer
from redis.backoff import NoBackoff
from redis.retry import Retry

import nn
from registry.store import Registry
from worker.tasks import Lease, LeaseLost, Reporter, run_job

XOR = nn.synthetic.make("xor", n_samples=120, noise=0.05, seed=0)
BODY = {
    "data": {"X": [[0, 0], [1, 1], [0, 1], [1, 0]] * 5, "y": [0, 0, 1, 1] * 5},
    "layers": [{"units": 4, "activation": "tanh"}],
}


@pytest.fixture
def server():
    own = RedisServer().start()
    yield own
    if own.proc and own.proc.poll() is None:
        os.kill(own.proc.pid, signal.SIGCONT)
    own.cleanup()


@pytest.fixture
def prefix() -> str:
    return f"nnjobs-blip-{uuid.uuid4().hex[:8]}"


def _job(reg: Registry, epochs: int = 3, units: tuple = (8,)) -> str:
    X, y = XOR
    spec = {
        "layers": [{"units": n, "activation": "tanh"} for n in units],
        "training": {"epochs": epochs, "early_stopping": False, "learning_rate": 0.01},
    }
    resolved, data = nn.validate(spec, X, y, nn.Limits.unbounded())
    return reg.create_job(name="blip", spec=resolved, data=data, X=X, y=y)["id"]


def _stopped_for(server: RedisServer, seconds: float) -> threading.Timer:
    """SIGSTOP the server now and SIGCONT it after ``seconds``."""
    os.kill(server.proc.pid, signal.SIGSTOP)
    timer = threading.Timer(seconds, os.kill, (server.proc.pid, signal.SIGCONT))
    timer.start()
    return timer


def _claimed(server: RedisServer, prefix: str, lease: float) -> tuple[Registry, str, Reporter]:
    """A job claimed under a lease of ``lease`` s, and the reporter of its attempt, on a
    client that neither waits long nor retries by itself, so every blip reaches the
    worker's code."""
    reg = Registry.from_url(server.url, prefix, socket_timeout=0.3, retry=Retry(NoBackoff(), 0))
    job_id = _job(reg)
    assert reg.claim_job(job_id, lease=lease)[0] == "started"
    return reg, job_id, Reporter(reg, job_id, attempt=1, lease=Lease(lease))


def test_a_progress_write_waits_out_a_blip_within_the_lease(server, prefix):
    reg, job_id, reporter = _claimed(server, prefix, lease=30)
    timer = _stopped_for(server, 1.5)
    try:
        assert reporter.write({"epoch": 1, "epochs": 3}) is True
    finally:
        timer.join()
    job = reg.get_job(job_id)
    assert job["status"] == "running" and job["progress"]["epoch"] == 1


def test_a_blip_longer_than_the_lease_gives_the_job_up_without_failing_it(server, prefix):
    reg, job_id, reporter = _claimed(server, prefix, lease=1)
    timer = _stopped_for(server, 3)
    try:
        # had it waited out the whole blip, the write would have succeeded
        with pytest.raises(LeaseLost, match="Redis unavailable"):
            reporter.write({"epoch": 1, "epochs": 3})
    finally:
        timer.join()
    # running still, with its lease run out: lease recovery requeues it
    assert reg.get_job(job_id)["status"] == "running"
    assert reg.reclaim_job(job_id, 3) == "expired"


def _train_through(server: RedisServer, prefix: str, outage) -> dict:
    """Submit a job that trains for many epochs to a real worker, call ``outage()``
    once it reports progress, and return the job once it has ended."""
    reg = Registry.from_url(server.url, prefix)
    client = make_app(server.url, prefix).test_client()
    with worker_thread(server.url, prefix):
        body = {**BODY, "training": {"epochs": 20_000, "early_stopping": False}}
        job_id = client.post("/jobs", json=body).get_json()["id"]
        deadline = time.monotonic() + 60
        while not (job := reg.get_job(job_id))["progress"]:
            assert time.monotonic() < deadline, job["status"]
            time.sleep(0.02)
        assert job["status"] == "running"
        outage()
        reg.r.connection_pool.disconnect()
        deadline = time.monotonic() + 120
        while (job := reg.get_job(job_id))["status"] == "running":
            assert time.monotonic() < deadline
            time.sleep(0.05)
    models, total = reg.list_models()
    assert total == 1 and models[0]["job_id"] == job_id
    return job


def test_a_job_trains_through_a_redis_stopped_for_three_seconds(server, prefix):
    job = _train_through(server, prefix, lambda: _stopped_for(server, 3).join())
    assert job["status"] == "succeeded", job["error"]


def test_a_job_trains_through_a_redis_down_for_six_seconds(prefix):
    # longer than the client's own retries (10, backing off up to 1 s): the worker's
    # retries within the lease carry the job
    own = RedisServer("--appendonly", "yes", "--appendfsync", "always").start()

    def restart():
        own.stop(sig_kill=True)
        time.sleep(6)
        own.start()  # same port and directory: the append-only file is replayed

    try:
        job = _train_through(own, prefix, restart)
        assert job["status"] == "succeeded", job["error"]
    finally:
        own.cleanup()


def test_a_model_over_redis_size_limit_fails_its_job_saying_so(prefix):
    own = RedisServer("--proto-max-bulk-len", "1mb").start()
    try:
        reg = Registry.from_url(own.url, prefix)
        job_id = _job(reg, epochs=1, units=(600, 600))  # 360,000 weights
        assert run_job(reg, job_id) == "failed"
        job = reg.get_job(job_id)
        assert job["error"]["type"] == "ModelTooLarge"
        assert "over Redis's limit of 1,048,576 bytes" in job["error"]["message"]
        assert reg.list_models()[1] == 0
    finally:
        own.cleanup()


def _fill(r: redis.Redis) -> None:
    """Write small values until Redis refuses one: it is then over its maxmemory, and
    refuses every write (each one small, so that no query buffer tips the count)."""
    for batch in range(1000):
        with r.pipeline(transaction=False) as pipe:
            for i in range(500):
                pipe.set(f"filler:{batch}:{i}", b"x" * 1000)
            replies = pipe.execute(raise_on_error=False)
        if any(isinstance(reply, redis.exceptions.OutOfMemoryError) for reply in replies):
            return
    raise AssertionError("Redis never filled")


def _empty(r: redis.Redis) -> None:
    for keys in iter(lambda: list(r.scan_iter("filler:*", count=1000))[:1000], []):
        r.delete(*keys)


@pytest.fixture
def small():
    own = RedisServer("--maxmemory", "4mb", "--maxmemory-policy", "noeviction").start()
    yield own
    own.cleanup()


def test_a_full_redis_answers_503_and_stores_nothing_until_freed(small, prefix):
    r = redis.Redis.from_url(small.url)
    client = make_app(small.url, prefix).test_client()
    _fill(r)
    resp = client.post("/jobs", json=BODY)
    body = error(resp, 503)
    assert "full" in body["message"]
    assert int(resp.headers["Retry-After"]) > 0
    # no job record without its data, no message without its record: nothing at all
    assert stored(r, prefix) == [([], 0)]

    _empty(r)
    assert client.post("/jobs", json=BODY).status_code == 202
    keys, messages = stored(r, prefix)[0]
    assert keys and messages == 1


def test_a_job_stored_but_not_queued_is_removed_even_from_a_full_redis(small, prefix):
    # Redis fills between storing a job and queueing its message: the undo still works
    r = redis.Redis.from_url(small.url)
    reg = Registry.from_url(small.url, prefix)
    job_id = _job(reg)
    _fill(r)
    reg.delete_job(job_id)
    assert stored(r, prefix) == [([], 0)]


def test_a_redis_unable_to_persist_answers_503(prefix):
    own = RedisServer("--save", "3600 1").start()
    try:
        r = redis.Redis.from_url(own.url)
        client = make_app(own.url, prefix).test_client()
        # its directory gone, the snapshot fails, and Redis refuses writes (MISCONF)
        shutil.rmtree(own.dir)
        r.bgsave()
        deadline = time.monotonic() + 10
        while r.info("persistence")["rdb_last_bgsave_status"] == "ok":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        resp = client.post("/jobs", json=BODY)
        body = error(resp, 503)
        assert "try again" in body["message"]
        assert int(resp.headers["Retry-After"]) > 0
        assert stored(r, prefix) == [([], 0)]
    finally:
        own.stop(sig_kill=True)  # asked to stop, it would try to save, and fail again
        own.cleanup()


@pytest.mark.parametrize(
    ("reply", "passing"),
    [
        ("MISCONF Redis is configured to save RDB snapshots", True),
        ("OOM command not allowed when used memory > 'maxmemory'", True),
        ("BUSY Redis is busy running a script", True),
        ("READONLY You can't write against a read only replica.", True),
        ("LOADING Redis is loading the dataset in memory", True),
        ("ERR unknown command 'FOO'", False),
        ("WRONGTYPE Operation against a key holding the wrong kind of value", False),
        ("NOSCRIPT No matching script", False),
        ("Protocol error: invalid bulk length", False),
    ],
)
def test_only_passing_server_states_are_waited_out(reply, passing):
    from redis._parsers.base import BaseParser

    from registry.outages import transient

    assert transient(BaseParser.parse_error(reply)) is passing
    # the same reply to a command queued in a transaction, as redis-py words it
    queued = BaseParser.parse_error(reply)
    queued.args = (f"Command # 1 (HSET k a b) of pipeline caused error: {queued.args[0]}",)
    assert transient(queued) is passing
