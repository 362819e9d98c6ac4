"""The worker with a real Celery worker (in a thread) on a real Redis broker."""

import time

import numpy as np
import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker

import nn
from registry.queue import celery_config
from registry.tasks import TRAIN_TASK
from worker.app import blas_threads_for, create_worker_app


@pytest.fixture
def producer(redis_url, key_prefix):
    """What the API does: a Celery app that only sends, by task name."""
    app = Celery("test-producer", set_as_current=False)
    app.conf.update(celery_config(redis_url, key_prefix))
    return app


@pytest.fixture
def worker(redis_url, key_prefix):
    app = create_worker_app(redis_url, key_prefix, key_prefix)
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        yield app


def _submit(reg, producer, spec, X, y, name=None):
    spec, data = nn.validate(spec, X, y)
    job = reg.create_job(name=name, spec=spec, data=data, X=np.asarray(X), y=np.asarray(y))
    producer.send_task(TRAIN_TASK, args=[job["id"]])
    return job["id"]


def _wait(reg, job_id, statuses, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = reg.get_job(job_id)
        if job["status"] in statuses:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} is still {reg.get_job(job_id)['status']}")


def test_a_job_trains_through_the_queue_and_its_model_predicts(reg, producer, worker):
    X, y = nn.synthetic.make("moons", n_samples=200, noise=0.05, seed=0)
    labels = np.where(y == 1, "top", "bottom")
    job_id = _submit(
        reg,
        producer,
        {"layers": [{"units": 16}], "training": {"epochs": 40, "learning_rate": 0.02}},
        X,
        labels,
        name="moons",
    )
    job = _wait(reg, job_id, ("succeeded", "failed"))
    assert job["status"] == "succeeded", job["error"]
    assert job["started_at"] and job["finished_at"] and job["attempts"] == 1
    history = job["history"]
    assert 1 <= history["best_epoch"] <= len(history["loss"]) == len(history["val_accuracy"])
    # the final progress is written with the success, however short the job was
    assert job["progress"]["epoch"] == len(history["loss"]) and "batch" not in job["progress"]
    model = reg.get_model(job["model_id"])
    assert (model["name"], model["version"], model["classes"]) == ("moons", 1, ["bottom", "top"])
    out = nn.load(reg.model_blob(model["id"])).predict(X)
    assert np.mean(np.array(out["predictions"]) == labels) > 0.9


def test_a_failing_job_ends_failed_with_the_message_and_the_worker_goes_on(reg, producer, worker):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(64, 2)) * 1e30, rng.normal(size=64) * 1e30
    bad = _submit(
        reg,
        producer,
        {
            "layers": [{"units": 4}],
            "training": {"standardize": False, "learning_rate": 10.0, "optimizer": "sgd"},
        },
        X,
        y,
    )
    job = _wait(reg, bad, ("succeeded", "failed"))
    assert job["status"] == "failed" and job["error"]["type"] == "TrainingError"
    assert "smaller learning_rate" in job["error"]["message"] and job["model_id"] is None
    assert reg.list_models()[1] == 0
    X, y = nn.synthetic.make("gaussian", n_samples=100, seed=0)
    good = _submit(reg, producer, {"layers": [{"units": 4}], "training": {"epochs": 3}}, X, y)
    assert _wait(reg, good, ("succeeded", "failed"))["status"] == "succeeded"


def test_progress_is_reported_while_running_and_cancel_stops_without_a_model(reg, producer, worker):
    X, y = nn.synthetic.make("spiral", n_samples=2000, noise=0.1, seed=0)
    job_id = _submit(
        reg,
        producer,
        {
            "layers": [{"units": 64}, {"units": 64}],
            "training": {"epochs": 100_000, "early_stopping": False},
        },
        X,
        y,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job = reg.get_job(job_id)
        if job["progress"] and job["progress"].get("epoch", 0) >= 1:
            break
        time.sleep(0.1)
    assert job["status"] == "running" and job["progress"]["epochs"] == 100_000
    assert job["history"]["loss"]
    # the diagnostics are written with the progress, one value per epoch written
    diagnostics = job["history"]["diagnostics"]
    assert [(d["layer"], d["units"]) for d in diagnostics] == [(1, 64), (2, 64)]
    for entry in diagnostics:
        assert len(entry["grad_norm"]) == len(job["history"]["loss"])
        assert len(entry["dead_fraction"]) == len(job["history"]["loss"])
    assert job["warnings"] == nn.diagnostics.find_warnings(diagnostics)
    assert reg.cancel_job(job_id)["status"] == "cancelled"
    time.sleep(1.5)  # a few progress intervals: training must have stopped by now
    job = reg.get_job(job_id)
    assert job["status"] == "cancelled" and job["model_id"] is None
    assert reg.list_models()[1] == 0
    # the worker is free again
    X, y = nn.synthetic.make("gaussian", n_samples=100, seed=0)
    good = _submit(reg, producer, {"layers": [{"units": 4}], "training": {"epochs": 2}}, X, y)
    assert _wait(reg, good, ("succeeded", "failed"), timeout=20)["status"] == "succeeded"


def test_duplicate_delivery_trains_once(reg, producer, worker):
    X, y = nn.synthetic.make("gaussian", n_samples=100, seed=0)
    job_id = _submit(reg, producer, {"layers": [{"units": 4}], "training": {"epochs": 2}}, X, y)
    producer.send_task(TRAIN_TASK, args=[job_id])
    _wait(reg, job_id, ("succeeded",))
    time.sleep(0.5)
    assert reg.list_models()[1] == 1 and reg.get_job(job_id)["attempts"] == 1


def test_a_cancelled_queued_job_is_skipped(reg, producer, worker):
    X, y = nn.synthetic.make("gaussian", n_samples=100, seed=0)
    spec, data = nn.validate({"layers": [{"units": 4}]}, X, y)
    job = reg.create_job(name=None, spec=spec, data=data, X=X, y=y)
    reg.cancel_job(job["id"])
    producer.send_task(TRAIN_TASK, args=[job["id"]])
    marker = _submit(reg, producer, {"layers": [{"units": 2}], "training": {"epochs": 1}}, X, y)
    _wait(reg, marker, ("succeeded",))
    assert reg.get_job(job["id"])["status"] == "cancelled" and reg.list_models()[1] == 1


def test_blas_threads_share_the_cores(monkeypatch):
    monkeypatch.delenv("NNJOBS_BLAS_THREADS", raising=False)
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(8)))
    monkeypatch.setattr("nn.threads._cpu_quota", lambda: None)
    assert [blas_threads_for(c) for c in (1, 2, 3, 8, 16)] == [8, 4, 2, 1, 1]
    monkeypatch.setenv("NNJOBS_BLAS_THREADS", "3")
    assert blas_threads_for(4) == 3


@pytest.mark.parametrize(
    ("cpu_max", "cores"),
    [("150000 100000\n", 2), ("50000 100000", 1), ("max 100000", 8), ("", 8), (None, 8)],
)
def test_a_containers_cpu_quota_bounds_the_cores(monkeypatch, tmp_path, cpu_max, cores):
    # docker --cpus 1.5 on a host of 8: 2 processes, not 8 (nor 8 BLAS threads for one)
    from nn import threads

    path = tmp_path / "cpu.max"
    if cpu_max is not None:
        path.write_text(cpu_max)
    monkeypatch.setattr(threads, "CPU_MAX", str(path))
    monkeypatch.setattr(threads, "CFS_QUOTA", (str(tmp_path / "none"), str(tmp_path / "none")))
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(8)))
    assert threads.usable_cores() == cores


def test_a_cgroup_v1_quota_counts_too(monkeypatch, tmp_path):
    from nn import threads

    (tmp_path / "quota").write_text("200000\n")
    (tmp_path / "period").write_text("100000\n")
    monkeypatch.setattr(threads, "CPU_MAX", str(tmp_path / "none"))
    monkeypatch.setattr(threads, "CFS_QUOTA", (str(tmp_path / "quota"), str(tmp_path / "period")))
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(8)))
    assert threads.usable_cores() == 2
    (tmp_path / "quota").write_text("-1\n")
    assert threads.usable_cores() == 8


def test_the_cores_are_those_the_worker_may_run_on(monkeypatch):
    # a cpuset (taskset, a container's) of 2 cores on a host of 64: 2 processes, 1 thread
    monkeypatch.delenv("NNJOBS_BLAS_THREADS", raising=False)
    monkeypatch.delenv("NNJOBS_WORKER_CONCURRENCY", raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 64)
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {3, 7})
    monkeypatch.setattr("nn.threads._cpu_quota", lambda: None)
    app = create_worker_app("redis://127.0.0.1:1/0")
    assert app.conf.worker_concurrency == 2
    assert blas_threads_for(app.conf.worker_concurrency) == 1
    monkeypatch.setenv("NNJOBS_WORKER_CONCURRENCY", "3")
    assert create_worker_app("redis://127.0.0.1:1/0").conf.worker_concurrency == 3


def test_a_diverging_job_keeps_the_diagnostics_and_warnings_of_its_epochs(reg):
    from worker.tasks import run_job

    X, y = nn.synthetic.make("plane", n_samples=100, seed=0)
    spec = {
        "layers": [{"units": 4, "activation": "linear"}],
        "training": {
            "optimizer": "sgd",
            "learning_rate": 1.5,
            "batch_size": 100,
            "validation_split": 0,
            "epochs": 500,
        },
    }
    spec, data = nn.validate(spec, X, y)
    job = reg.create_job(name="diverges", spec=spec, data=data, X=X, y=y)
    assert run_job(reg, job["id"]) == "failed"
    job = reg.get_job(job["id"])
    assert job["error"]["type"] == "TrainingError"
    epochs = len(job["history"]["loss"])
    assert epochs >= 2 and job["progress"]["epoch"] == epochs
    assert len(job["history"]["diagnostics"][0]["grad_norm"]) == epochs
    assert "exploding_gradients" in [w["code"] for w in job["warnings"]]
