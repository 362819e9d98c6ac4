"""Delivery and recovery of training against real processes: a Redis server and Celery
workers started as subprocesses (prefork pool, as deployed), killed and restarted here.

Every test runs under its own key prefix and queue, uses seconds-long leases and timeouts,
and leaves no process behind (each worker runs in its own process group, killed whole).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pytest
from celery import Celery
from conftest import RedisServer, free_port
from live_service import (
    ROOT,
    VENV_BIN,
    Process,
    _stat,
    descendants,
    kill_group,
    running,
    wait_until,
)

import nn
from registry.queue import SettingsError, celery_config, delivery_settings
from registry.store import Registry
from registry.tasks import TRAIN_TASK
from worker.tasks import Attempt, Retry, run_job

ENDED = ("succeeded", "failed", "cancelled")

# xor, 120 rows: about a millisecond an epoch on one core
XOR = nn.synthetic.make("xor", n_samples=120, noise=0.05, seed=0)

CRASHING_WORKER = Path(__file__).with_name("crashing_worker.py")


def spec(epochs: int) -> dict:
    return {
        "layers": [{"units": 8, "activation": "tanh"}],
        "training": {"epochs": epochs, "early_stopping": False, "learning_rate": 0.01},
    }


class Workers:
    """Celery worker subprocesses of one test, all killed (process groups) at the end."""

    def __init__(self, redis_url: str, prefix: str):
        self.redis_url, self.prefix = redis_url, prefix
        self.started: list[Process] = []

    def env(self, **settings) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            REDIS_URL=self.redis_url,
            NNJOBS_KEY_PREFIX=self.prefix,
            NNJOBS_QUEUE=self.prefix,
            NNJOBS_BLAS_THREADS="1",
            PYTHONUNBUFFERED="1",
            NNJOBS_VISIBILITY_TIMEOUT="30",
            NNJOBS_SOFT_TIME_LIMIT="20",
            NNJOBS_HARD_TIME_LIMIT="25",
            # six progress writes a lease: a busy CI machine does not lose it by accident
            NNJOBS_LEASE_SECONDS="3",
            NNJOBS_RECOVERY_INTERVAL="1",
        )
        env.update({k: str(v) for k, v in settings.items()})
        return env

    def start(
        self, concurrency: int = 1, crash_on: str | None = None, hang: bool = False, **settings
    ) -> Process:
        """A worker; with ``crash_on``, one whose job of that name kills the process
        training it, or with ``hang`` hangs it past the soft time limit
        (:mod:`crashing_worker`)."""
        name = f"w{len(self.started)}-{self.prefix}@%h"
        entry = [VENV_BIN / "celery"]
        if crash_on is not None:
            mode = ["--hang"] if hang else []
            entry = [VENV_BIN / "python", CRASHING_WORKER, *mode, crash_on]
        args = [
            *entry,
            "-A",
            "worker.app:app",
            "worker",
            "--loglevel=INFO",
            "--queues",
            self.prefix,
            "--without-gossip",
            "--without-mingle",
            "--pool",
            "prefork",
            "--concurrency",
            str(concurrency),
            "-n",
            name,
        ]
        process = Process(args, self.env(**settings), cwd=ROOT)
        self.started.append(process)
        process.wait_for_line(" ready.", timeout=60)
        return process

    def children(self, process: Process) -> set[int]:
        return running(descendants(process.pid))

    def kill(self, process: Process) -> None:
        kill_group(process.pid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.proc.wait(10)

    def cleanup(self) -> None:
        for process in self.started:
            self.kill(process)
            process._reader.join(5)


@pytest.fixture
def workers(redis_url, key_prefix):
    pool = Workers(redis_url, key_prefix)
    yield pool
    pool.cleanup()


@pytest.fixture
def producer(redis_url, key_prefix):
    app = Celery("test-producer", set_as_current=False)
    app.conf.update(celery_config(redis_url, key_prefix))
    yield app
    app.close()


def submit(reg: Registry, producer: Celery, epochs: int, name: str | None = None) -> str:
    X, y = XOR
    resolved, data = nn.validate(spec(epochs), X, y)
    job = reg.create_job(name=name, spec=resolved, data=data, X=X, y=y)
    producer.send_task(TRAIN_TASK, args=[job["id"]])
    return job["id"]


def wait_status(reg: Registry, job_id: str, statuses, timeout: float) -> dict:
    def done():
        job = reg.get_job(job_id)
        return job if job["status"] in statuses else None

    return wait_until(done, timeout, interval=0.05, what=f"job {job_id} to be {statuses}")


def wait_training(reg: Registry, job_id: str, timeout: float = 30) -> dict:
    """Until the job runs and has reported progress (training is under way)."""

    def training():
        job = reg.get_job(job_id)
        return job if job["status"] == "running" and job["progress"] else None

    return wait_until(training, timeout, interval=0.05, what=f"job {job_id} to train")


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            info = _stat(int(entry.name))
            if info and info[2] == pgid and info[0] != "Z":
                found.append(int(entry.name))
    return found


def unacked_holds(reg: Registry, job_id: str) -> bool:
    """Whether kombu's Redis transport holds the job's message as delivered, unacked."""
    return any(job_id.encode() in raw for raw in reg.r.hvals("unacked"))


# -- the lease in the registry (no worker) ---------------------------------------------


def _job(reg: Registry, name: str | None = None) -> str:
    X, y = XOR
    resolved, data = nn.validate(spec(3), X, y)
    return reg.create_job(name=name, spec=resolved, data=data, X=X, y=y)["id"]


def test_a_live_lease_blocks_a_second_attempt_and_an_expired_one_is_taken_over(reg):
    job_id = _job(reg)
    assert reg.claim_job(job_id, "w1", lease=0.3) == ("started", 1)
    outcome, left = reg.claim_job(job_id, "w2", lease=0.3)
    assert outcome == "busy" and 0 < left <= 0.3
    assert reg.report_progress(job_id, {"epoch": 1}, {}, attempt=1, lease=0.3)
    time.sleep(0.4)
    assert reg.claim_job(job_id, "w2", lease=5) == ("started", 2)
    job = reg.get_job(job_id)
    assert (job["status"], job["attempts"]) == ("running", 2)
    # the attempt that lost its lease can no longer report, fail or store a model
    assert not reg.report_progress(job_id, {"epoch": 9}, {}, attempt=1)
    assert not reg.fail_job(job_id, "X", "late", attempt=1)
    assert reg.succeed_job(job_id, b"blob", {"history": {}}, attempt=1) is None
    assert reg.succeed_job(job_id, b"blob", {"history": {}}, attempt=2)["version"] == 1
    # an ended job is never started again
    assert reg.claim_job(job_id, "w3") == ("succeeded", 0)
    assert reg.list_models()[1] == 1 and reg.get_job(job_id)["attempts"] == 2
    assert reg.claim_job("0" * 32, "w3") == ("unknown", 0)


def test_attempts_are_capped(reg):
    job_id = _job(reg)
    for attempt in (1, 2):
        assert reg.claim_job(job_id, lease=0.1, max_attempts=2) == ("started", attempt)
        time.sleep(0.15)
    assert reg.claim_job(job_id, lease=0.1, max_attempts=2) == ("exhausted", 2)
    job = reg.get_job(job_id)
    assert job["status"] == "failed" and job["error"]["type"] == "AttemptsExhausted"
    assert "gave up after 2 attempts" in job["error"]["message"]
    assert reg.load_data(job_id) is None
    assert reg.list_jobs("running")[1] == 0 and reg.list_jobs("failed")[1] == 1


def test_run_job_asks_for_a_retry_while_another_attempt_holds_the_job(reg):
    job_id = _job(reg)
    reg.claim_job(job_id, "elsewhere", lease=5)
    result = run_job(reg, job_id, "here", Attempt(lease=5))
    assert isinstance(result, Retry) and 4 < result.countdown <= 5
    assert reg.get_job(job_id)["attempts"] == 1


def test_the_lease_recovery_step_requeues_or_fails_expired_jobs(reg):
    requeue, exhausted, live = _job(reg), _job(reg), _job(reg)
    reg.claim_job(requeue, lease=0.1)
    reg.claim_job(exhausted, lease=0.1, max_attempts=1)
    reg.claim_job(live, lease=30)
    time.sleep(0.15)
    assert reg.reclaim_job(requeue, 3) == "expired"
    assert reg.reclaim_job(requeue, 3, requeue=True) == "requeued"
    assert reg.get_job(requeue)["status"] == "queued"
    assert reg.reclaim_job(exhausted, 1) == "failed"
    assert "gave up after 1 attempts" in reg.get_job(exhausted)["error"]["message"]
    assert reg.reclaim_job(live, 3) == "live" and reg.reclaim_job(requeue, 3) == "gone"


def test_a_recovery_pass_costs_the_same_whatever_the_backlog(key_prefix):
    from worker.app import LeaseRecovery

    server = RedisServer().start()  # its own, so that it counts only these commands
    app = Celery("test-producer", set_as_current=False)
    app.conf.update(celery_config(server.url, key_prefix))
    try:
        reg = Registry.from_url(server.url, key_prefix)
        backlog = [_job(reg) for _ in range(100)]
        delivery = replace(delivery_settings(), visibility_timeout=1)
        recovery = LeaseRecovery(app, lambda: reg, delivery, key_prefix)
        recovery.batch = 10
        app.send_task(TRAIN_TASK, args=["warm-up"], queue=f"{key_prefix}-other")
        time.sleep(1.1)  # every job of the backlog has waited past the visibility timeout

        def commands() -> int:
            return reg.r.info("stats")["total_commands_processed"]

        costs, resent = [], []
        for _ in range(10):
            before = commands()
            resent += [job_id for job_id, what in recovery.recover() if what == "resent"]
            costs.append(commands() - before)
        # a batch per pass, whether 90 or 10 jobs wait: each resent once, in turn (the
        # first pass also loads the script and sends the queue's first message)
        assert len(set(costs[1:])) == 1 and max(costs) < len(backlog), costs
        assert sorted(resent) == sorted(backlog)
        assert reg.r.llen(key_prefix) == len(backlog)
    finally:
        app.close()
        server.cleanup()


def test_delivery_settings_must_be_ordered():
    good = {
        "NNJOBS_VISIBILITY_TIMEOUT": "60",
        "NNJOBS_SOFT_TIME_LIMIT": "40",
        "NNJOBS_HARD_TIME_LIMIT": "50",
    }
    settings = delivery_settings(good)
    assert (settings.soft_time_limit, settings.hard_time_limit) == (40, 50)
    assert settings.max_attempts == 3 and settings.lease < 60
    defaults = delivery_settings({})
    assert defaults.soft_time_limit < defaults.hard_time_limit < defaults.visibility_timeout
    for bad, says in [
        ({"NNJOBS_SOFT_TIME_LIMIT": "50"}, "NNJOBS_SOFT_TIME_LIMIT < NNJOBS_HARD_TIME_LIMIT"),
        ({"NNJOBS_HARD_TIME_LIMIT": "60"}, "< NNJOBS_VISIBILITY_TIMEOUT"),
        ({"NNJOBS_LEASE_SECONDS": "60"}, "NNJOBS_LEASE_SECONDS"),
        ({"NNJOBS_MAX_ATTEMPTS": "0"}, "NNJOBS_MAX_ATTEMPTS must be at least 1"),
        ({"NNJOBS_VISIBILITY_TIMEOUT": "soon"}, "NNJOBS_VISIBILITY_TIMEOUT must be"),
    ]:
        with pytest.raises(SettingsError, match=".*".join(map(_re, says.split("<")))):
            delivery_settings({**good, **bad})


def _re(text: str) -> str:
    import re

    return re.escape(text.strip())


def test_the_visibility_timeout_is_set_everywhere_celery_asks(monkeypatch):
    monkeypatch.setenv("NNJOBS_VISIBILITY_TIMEOUT", "42")
    conf = celery_config("redis://127.0.0.1:1/0", "q")
    assert conf["broker_transport_options"]["visibility_timeout"] == 42
    assert conf["result_backend_transport_options"]["visibility_timeout"] == 42
    assert conf["visibility_timeout"] == 42
    assert conf["task_acks_late"] and conf["task_reject_on_worker_lost"]
    assert conf["worker_prefetch_multiplier"] == 1


# -- real workers ----------------------------------------------------------------------


def test_the_worker_refuses_inconsistent_time_limits(workers):
    env = workers.env(NNJOBS_SOFT_TIME_LIMIT="30", NNJOBS_HARD_TIME_LIMIT="20")
    done = subprocess.run(
        [VENV_BIN / "celery", "-A", "worker.app:app", "worker", "--queues", "x"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "refusing to start" in done.stderr and "NNJOBS_HARD_TIME_LIMIT" in done.stderr


def test_a_killed_training_process_is_rerun_to_success(reg, producer, workers):
    worker = workers.start()
    job_id = submit(reg, producer, 1500)
    wait_training(reg, job_id)
    assert unacked_holds(reg, job_id)  # late acks: delivered but not acknowledged yet
    (child,) = workers.children(worker)
    os.kill(child, signal.SIGKILL)
    job = wait_status(reg, job_id, ENDED, timeout=40)
    assert job["status"] == "succeeded", (job, worker.output[-3000:])
    assert job["attempts"] == 2 and reg.list_models()[1] == 1
    wait_until(lambda: not unacked_holds(reg, job_id), 10, what="the messages to be acked")


def test_a_killed_worker_is_recovered_by_another_within_the_visibility_timeout(
    reg, producer, workers
):
    # lease recovery is kept out of the way (its first pass finds a live lease, the next is
    # an hour away), so the message's own re-delivery is what is tested here
    settings = {
        "NNJOBS_VISIBILITY_TIMEOUT": "8",
        "NNJOBS_SOFT_TIME_LIMIT": "6",
        "NNJOBS_HARD_TIME_LIMIT": "7",
        "NNJOBS_LEASE_SECONDS": "5",
        "NNJOBS_RECOVERY_INTERVAL": "3600",
    }
    first = workers.start(**settings)
    job_id = submit(reg, producer, 1500)
    wait_training(reg, job_id)
    workers.kill(first)
    killed = time.monotonic()
    assert reg.get_job(job_id)["status"] == "running"
    workers.start(**settings)
    # documented bound: visibility timeout + restore interval (2 s here), then training
    job = wait_status(reg, job_id, ENDED, timeout=8 + 2 + 20)
    assert job["status"] == "succeeded", job
    assert job["attempts"] == 2 and reg.list_models()[1] == 1
    assert time.monotonic() - killed < 8 + 2 + 20


def test_a_duplicate_delivery_while_the_job_runs_neither_runs_it_twice_nor_drops_it(
    reg, producer, workers
):
    worker = workers.start(concurrency=2)
    job_id = submit(reg, producer, 1500)
    wait_training(reg, job_id)
    producer.send_task(TRAIN_TASK, args=[job_id])
    worker.wait_for_line("held by a live attempt", timeout=20)
    job = wait_status(reg, job_id, ENDED, timeout=40)
    assert job["status"] == "succeeded" and job["attempts"] == 1
    # the retried duplicate finds the job ended and is skipped
    worker.wait_for_line(f"job {job_id} is succeeded: skipped", timeout=20)
    assert reg.list_models()[1] == 1 and reg.get_job(job_id)["attempts"] == 1


def test_a_job_that_kills_its_worker_every_time_fails_after_max_attempts(reg, producer, workers):
    workers.start(crash_on="poison", NNJOBS_LEASE_SECONDS="1", NNJOBS_MAX_ATTEMPTS=3)
    poison = submit(reg, producer, 5, name="poison")
    after = submit(reg, producer, 5, name="fine")
    job = wait_status(reg, poison, ENDED, timeout=60)
    assert job["status"] == "failed" and job["attempts"] == 3, job
    assert job["error"]["type"] == "AttemptsExhausted"
    assert "gave up after 3 attempts" in job["error"]["message"]
    assert wait_status(reg, after, ENDED, timeout=30)["status"] == "succeeded"
    assert reg.list_models()[1] == 1


def test_a_job_over_its_time_budget_fails_and_the_next_one_runs(reg, producer, workers):
    workers.start(
        NNJOBS_SOFT_TIME_LIMIT="1.5", NNJOBS_HARD_TIME_LIMIT="4", NNJOBS_VISIBILITY_TIMEOUT="10"
    )
    slow = submit(reg, producer, 100_000)
    after = submit(reg, producer, 5)
    job = wait_status(reg, slow, ENDED, timeout=30)
    assert job["status"] == "failed" and job["error"]["type"] == "Timeout", job
    assert "time limit of 1.5 s" in job["error"]["message"] and job["attempts"] == 1
    assert wait_status(reg, after, ENDED, timeout=30)["status"] == "succeeded"
    assert reg.list_models()[1] == 1


def test_a_job_whose_worker_vanished_is_rerun_or_failed_by_lease_recovery(reg, workers):
    # as a worker that died after starting them, with no message left anywhere; and a
    # queued job whose message was lost
    orphan, spent, lost = _job(reg), _job(reg), _job(reg)
    reg.claim_job(orphan, "gone@host", lease=0.5)
    for _ in range(2):
        reg.claim_job(spent, "gone@host", lease=0.2, max_attempts=2)
        time.sleep(0.25)
    started = time.monotonic()
    workers.start(
        NNJOBS_VISIBILITY_TIMEOUT="4",
        NNJOBS_SOFT_TIME_LIMIT="2",
        NNJOBS_HARD_TIME_LIMIT="3",
        NNJOBS_LEASE_SECONDS="2",
        NNJOBS_RECOVERY_INTERVAL="1",
        NNJOBS_MAX_ATTEMPTS="2",
    )
    job = wait_status(reg, orphan, ENDED, timeout=30)
    assert job["status"] == "succeeded" and job["attempts"] == 2
    job = wait_status(reg, spent, ENDED, timeout=10)
    assert job["status"] == "failed" and "gave up after 2 attempts" in job["error"]["message"]
    # documented bound for a lost message: the visibility timeout plus a recovery interval
    job = wait_status(reg, lost, ENDED, timeout=4 + 1 + 20)
    assert job["status"] == "succeeded" and job["attempts"] == 1
    assert reg.list_models()[1] == 2
    assert time.monotonic() - started < 30


def test_sigterm_lets_the_running_job_finish(reg, producer, workers):
    worker = workers.start()
    job_id = submit(reg, producer, 2000)
    wait_training(reg, job_id)
    os.kill(worker.pid, signal.SIGTERM)
    worker.proc.wait(40)
    job = reg.get_job(job_id)
    assert job["status"] == "succeeded" and job["attempts"] == 1, job
    # its pool went with it
    wait_until(lambda: not group_members(worker.pid), 10, what="the worker's processes to exit")


def test_jobs_and_models_survive_a_redis_crash_and_the_worker_reconnects(key_prefix):
    server = RedisServer("--appendonly", "yes", "--appendfsync", "always", port=free_port())
    server.start()
    pool = Workers(server.url, key_prefix)
    app = Celery("test-producer", set_as_current=False)
    app.conf.update(celery_config(server.url, key_prefix))
    try:
        reg = Registry.from_url(server.url, key_prefix)
        worker = pool.start()
        done = submit(reg, app, 5, name="kept")
        assert wait_status(reg, done, ENDED, timeout=30)["status"] == "succeeded"
        os.kill(worker.pid, signal.SIGTERM)
        worker.proc.wait(30)
        queued = submit(reg, app, 5, name="queued")
        model = reg.get_model("kept")

        server.stop(sig_kill=True)
        server.start()  # same port, same directory: the append-only file is replayed
        reg.r.connection_pool.disconnect()
        assert reg.get_job(queued)["status"] == "queued"
        assert reg.r.llen(key_prefix) == 1  # its message too
        assert reg.get_model("kept") == model and reg.model_blob(model["id"])

        worker = pool.start()
        assert wait_status(reg, queued, ENDED, timeout=30)["status"] == "succeeded"

        # with the worker running, Redis dies and comes back: the worker reconnects
        server.stop(sig_kill=True)
        time.sleep(1)
        server.start()
        reg.r.connection_pool.disconnect()
        later = submit(reg, app, 5, name="later")
        job = wait_status(reg, later, ENDED, timeout=60)
        assert job["status"] == "succeeded", worker.output[-3000:]
        assert reg.list_models()[1] == 3
    finally:
        pool.cleanup()
        app.close()
        server.cleanup()


@pytest.fixture
def limited_app(redis_url, key_prefix, monkeypatch):
    """A worker app (not run) with a hard time limit of 6 s."""
    from worker.app import create_worker_app

    monkeypatch.setenv("NNJOBS_SOFT_TIME_LIMIT", "5")
    monkeypatch.setenv("NNJOBS_HARD_TIME_LIMIT", "6")
    return create_worker_app(redis_url, key_prefix, key_prefix)


def test_a_hard_time_limit_fails_the_job_its_killed_process_holds(reg, limited_app):
    app = limited_app
    job_id = _job(reg)
    reg.claim_job(job_id, "killed@host", pid=4242)
    # what the worker's main process does when the hard limit killed that process
    assert not app.nnjobs_killed(job_id, "other@host", 4242)
    assert not app.nnjobs_killed(job_id, "killed@host", 4243)
    assert reg.get_job(job_id)["status"] == "running"
    assert app.nnjobs_killed(job_id, "killed@host", 4242)
    job = reg.get_job(job_id)
    assert job["status"] == "failed" and job["error"]["type"] == "Timeout"
    assert "hard time limit of 6 s" in job["error"]["message"]
    assert job["attempt_log"][-1]["outcome"] == "failed"


def test_a_late_hard_time_limit_spares_a_job_whose_killed_attempt_had_ended(reg, limited_app):
    # Celery counts the limit in the worker's main process, which, reconnecting to the
    # broker through a failover, reads a task's result only seconds after it came: its
    # timers, fired first, kill the process long after its attempt gave up its lease
    app = limited_app
    job_id = _job(reg)
    assert reg.claim_job(job_id, "w@host", lease=0.1, pid=4242) == ("started", 1)
    time.sleep(0.15)
    # lease recovery requeued the job whose attempt gave it up
    assert reg.reclaim_job(job_id, requeue=True) == "requeued"
    assert not app.nnjobs_killed(job_id, "w@host", 4242)
    assert reg.get_job(job_id)["status"] == "queued"
    # and another process of the same worker runs it again
    assert reg.claim_job(job_id, "w@host", pid=5151) == ("started", 2)
    assert not app.nnjobs_killed(job_id, "w@host", 4242)
    job = reg.get_job(job_id)
    assert (job["status"], job["attempts"], job["error"]) == ("running", 2, None)


def test_a_job_hanging_past_its_soft_limit_is_failed_when_the_hard_limit_kills_it(
    reg, producer, workers
):
    worker = workers.start(
        crash_on="stuck",
        hang=True,
        NNJOBS_SOFT_TIME_LIMIT="1",
        NNJOBS_HARD_TIME_LIMIT="2",
        NNJOBS_VISIBILITY_TIMEOUT="10",
        # longer than the hard limit: the hanging attempt still holds the job when killed
        NNJOBS_LEASE_SECONDS="5",
    )
    stuck = submit(reg, producer, 5, name="stuck")
    after = submit(reg, producer, 5)
    job = wait_status(reg, stuck, ENDED, timeout=30)
    assert job["status"] == "failed" and job["error"]["type"] == "Timeout", worker.output[-3000:]
    assert "hard time limit of 2 s" in job["error"]["message"] and job["attempts"] == 1
    assert wait_status(reg, after, ENDED, timeout=30)["status"] == "succeeded"
