"""Helpers shared by the API tests: an app on a test's own prefix, the error shape, and
what a request left in Redis."""

from __future__ import annotations

import time
from contextlib import contextmanager

import redis

import nn
from service import create_app


def make_client(redis_url, key_prefix, **config):
    """A test client of an app whose keys and queue are under ``key_prefix``."""
    return make_app(redis_url, key_prefix, **config).test_client()


def make_app(redis_url, key_prefix, **config):
    return create_app(
        {
            "REDIS_URL": redis_url,
            "NNJOBS_KEY_PREFIX": key_prefix,
            "NNJOBS_QUEUE": key_prefix,
            "TESTING": True,
            **config,
        }
    )


def bearer(key: str) -> dict:
    """The header that presents an API key."""
    return {"Authorization": f"Bearer {key}"}


def error(response, code: int) -> dict:
    """The body of an error response, checked against the contract's shape."""
    assert response.status_code == code, response.data[:500]
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) <= {"code", "status", "message", "errors"}
    assert body["code"] == code
    assert isinstance(body["status"], str) and body["status"]
    assert isinstance(body["message"], str) and body["message"]
    assert "Traceback" not in response.get_data(as_text=True)
    return body


def post_raw(client, path, data: bytes, content_type="application/json"):
    return client.post(path, data=data, headers={"Content-Type": content_type})


def stored(r: redis.Redis, *prefixes: str) -> list:
    """Every key under each prefix, and the length of the queue of that
    name (the tests name their queue after their prefix)."""
    return [(sorted(r.scan_iter(f"{p}:*")), r.llen(p)) for p in prefixes]


def run_job(registry, job_id: str) -> dict:
    """Do what the worker does with a queued job; return the stored Model."""
    job = registry.start_job(job_id)
    X, y, w = registry.load_data(job_id)
    spec = {k: v for k, v in job["spec"].items() if k != "data"}
    fitted = (job["spec"].get("data") or {}).get("preparation")
    preparation = None if fitted is None else nn.Preparation.from_dict(fitted)
    model, history = nn.fit(spec, X, y, sample_weight=w, preparation=preparation)
    meta = {**model.describe(), "history": history.as_dict(), "warnings": history.warnings}
    return registry.succeed_job(job_id, model.to_bytes(), meta)


@contextmanager
def worker_thread(redis_url: str, key_prefix: str):
    """A real Celery worker (solo pool, in a thread) on the queue and prefix
    ``key_prefix``, as the API of :func:`make_app` uses them."""
    from celery.contrib.testing.worker import start_worker

    from worker.app import create_worker_app

    worker_app = create_worker_app(redis_url, key_prefix, key_prefix)
    with start_worker(worker_app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        yield worker_app


def wait_for_job(client, job_id: str, timeout: float = 60) -> dict:
    """The job once it has ended."""
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/jobs/{job_id}").get_json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        assert time.monotonic() < deadline, f"job still {job['status']}"
        time.sleep(0.05)


def drop_keys(r: redis.Redis, prefix: str) -> None:
    keys = [*r.scan_iter(f"{prefix}*"), *r.scan_iter(f"_kombu.*{prefix}")]
    if keys:
        r.delete(*keys)
