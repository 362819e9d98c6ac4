"""Security: optional API keys, no pickle on the queue, tampered model blobs."""

from __future__ import annotations

import logging
import os
import pickle
import re
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import redis
from api_helpers import bearer, error, make_app, run_job, wait_for_job, worker_thread
from kombu import Connection, Exchange, Producer, Queue
from live_service import ROOT, VENV_BIN

from registry import TRAIN_TASK
from registry.settings import SettingsError

KEYS = "first-key-0123456, second-key-45678"
SPIRAL = {"data": {"synthetic": {"name": "spiral", "n_samples": 40}}, "layers": [{"units": 4}]}


# -- API keys -------------------------------------------------------------------------------


def test_without_api_keys_nothing_asks_for_one(redis_url, prefix):
    client = make_app(redis_url, prefix).test_client()
    assert client.get("/jobs").status_code == 200
    spec = client.get("/openapi.json").get_json()
    assert "security" not in spec and "securitySchemes" not in spec.get("components", {})


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/jobs"),
        ("post", "/jobs"),
        ("get", "/jobs/abc"),
        ("delete", "/jobs/abc"),
        ("get", "/sweeps"),
        ("post", "/sweeps"),
        ("get", "/sweeps/abc"),
        ("delete", "/sweeps/abc"),
        ("get", "/models"),
        ("get", "/models/m"),
        ("delete", "/models/m"),
        ("post", "/predict"),
        ("post", "/models/m/predict"),
        ("get", "/readyz"),
        ("get", "/nowhere"),  # an unknown path tells a stranger nothing either
    ],
)
@pytest.mark.parametrize(
    "headers",
    [
        {},
        bearer("wrong-key"),
        bearer("first-key-012"),  # a prefix of a key
        bearer("first-key-0123x"),
        bearer(""),
        {"Authorization": "Basic Zmlyc3Qta2V5LTAxMjM6"},
        {"Authorization": "first-key-0123456"},
        {"X-API-Key": "first-key-0123456"},
    ],
    ids=["none", "wrong", "prefix", "longer", "empty", "basic", "no-scheme", "other-header"],
)
def test_with_api_keys_every_endpoint_needs_one(redis_url, prefix, method, path, headers):
    client = make_app(redis_url, prefix, API_KEYS=KEYS).test_client()
    r = getattr(client, method)(path, headers=headers, json=SPIRAL if method == "post" else None)
    body = error(r, 401)
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert "key" in body["message"]
    assert client.get("/jobs").status_code == 401
    assert redis.Redis.from_url(redis_url).llen(prefix) == 0


def test_any_configured_key_opens_every_endpoint(redis_url, prefix):
    client = make_app(redis_url, prefix, API_KEYS=KEYS).test_client()
    for key in ("first-key-0123456", "second-key-45678"):
        assert client.get("/jobs", headers=bearer(key)).status_code == 200
        assert (
            client.get("/models", headers={"Authorization": f"bearer  {key} "}).status_code == 200
        )
    r = client.post("/jobs", json=SPIRAL, headers=bearer("second-key-45678"))
    assert r.status_code == 202
    assert client.get(r.headers["Location"], headers=bearer("first-key-0123456")).status_code == 200


def test_health_and_the_docs_stay_public(redis_url, prefix):
    client = make_app(redis_url, prefix, API_KEYS=KEYS).test_client()
    assert client.get("/healthz").status_code == 200
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/docs").status_code == 200


def test_the_keys_are_read_from_the_environment(redis_url, prefix, monkeypatch):
    monkeypatch.setenv("API_KEYS", "env-key-0123456789")
    client = make_app(redis_url, prefix).test_client()
    assert client.get("/jobs").status_code == 401
    assert client.get("/jobs", headers=bearer("env-key-0123456789")).status_code == 200


@pytest.mark.parametrize("keys", ["short", "long-enough-key-0, fifteen-chars-k"])
def test_a_key_under_16_characters_stops_the_api_at_start(redis_url, prefix, keys):
    with pytest.raises(SettingsError, match=r"API_KEYS: every key must be at least 16") as e:
        make_app(redis_url, prefix, API_KEYS=keys)
    assert keys.split(",")[-1].strip() not in str(e.value)  # the key is never shown


def test_gunicorn_refuses_a_short_key_before_any_worker_boots(tmp_path):
    env = {**os.environ, "API_KEYS": "0123456789abcdef, tiny-secret"}
    ran = subprocess.run(
        [
            VENV_BIN / "gunicorn",
            "--config",
            "gunicorn.conf.py",
            "--check-config",
            "service.app:create_app()",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode != 0
    assert "API_KEYS: every key must be at least 16 characters; key 2 of 2" in ran.stderr
    assert "tiny-secret" not in ran.stderr + ran.stdout


def test_keys_never_appear_in_responses_logs_or_the_config(redis_url, prefix, caplog):
    caplog.set_level(logging.DEBUG)
    app = make_app(redis_url, prefix, API_KEYS=KEYS)
    client = app.test_client()
    answers = [
        client.get("/jobs", headers=bearer("guessed-secret-998877")),
        client.post("/jobs", headers=bearer("guessed-secret-998877"), json=SPIRAL),
        client.get("/jobs", headers=bearer("first-key-0123456")),
        client.get("/openapi.json"),
        client.get("/docs"),
    ]
    for r in answers:
        seen = r.get_data(as_text=True) + str(r.headers)
        for secret in ("guessed-secret-998877", "first-key-0123456", "second-key-45678"):
            assert secret not in seen
    for secret in ("guessed-secret-998877", "first-key-0123456", "second-key-45678"):
        assert secret not in caplog.text
        assert secret not in repr(dict(app.config))


def test_the_openapi_document_declares_the_scheme(redis_url, prefix):
    spec = make_app(redis_url, prefix, API_KEYS=KEYS).test_client().get("/openapi.json")
    spec = spec.get_json()
    scheme = spec["components"]["securitySchemes"]["bearerAuth"]
    assert scheme == {**scheme, "type": "http", "scheme": "bearer"}
    assert spec["security"] == [{"bearerAuth": []}]
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            if path == "/healthz":
                assert operation["security"] == []
            else:
                assert "401" in operation["responses"], (method, path)


def test_the_access_log_records_no_request_header(redis_url, prefix, caplog):
    # gunicorn's access log (whose format could name headers) is off: the app writes it
    text = (Path(__file__).parent.parent / "gunicorn.conf.py").read_text()
    assert re.search(r"^accesslog = None$", text, re.M)
    client = make_app(redis_url, prefix, API_KEYS=KEYS).test_client()
    caplog.set_level(logging.INFO, logger="nnjobs.access")
    client.get("/jobs", headers={**bearer("first-key-0123456"), "X-Other": "other-header-55"})
    client.get("/jobs", headers=bearer("guessed-secret-998877"))
    [ok, refused] = [r for r in caplog.records if r.name == "nnjobs.access"]
    assert (ok.status, refused.status) == (200, 401)
    for secret in ("first-key-0123456", "guessed-secret-998877", "other-header-55"):
        assert secret not in caplog.text
        assert secret not in str(ok.__dict__) + str(refused.__dict__)


# -- no pickle: the queue, and model blobs ---------------------------------------------------


class Marker:
    """Unpickling this creates the file at ``path``."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return open, (str(self.path), "w")


def test_a_pickled_message_is_discarded_unexecuted(redis_url, prefix, tmp_path):
    marker = tmp_path / "pwned"
    app = make_app(redis_url, prefix)
    client = app.test_client()
    r = redis.Redis.from_url(redis_url)
    with worker_thread(redis_url, prefix):
        task_id = str(uuid.uuid4())
        body = pickle.dumps(((Marker(marker),), {}, {"callbacks": None}), protocol=2)
        with Connection(redis_url) as conn:
            Producer(conn).publish(
                body,
                routing_key=prefix,
                exchange=Exchange(prefix, type="direct"),
                declare=[Queue(prefix, Exchange(prefix, type="direct"), routing_key=prefix)],
                content_type="application/x-python-serialize",
                content_encoding="binary",
                headers={"lang": "py", "task": TRAIN_TASK, "id": task_id, "root_id": task_id},
            )
        assert not marker.exists()  # publishing alone must not have unpickled it
        deadline = time.monotonic() + 10
        while r.llen(prefix) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert r.llen(prefix) == 0, "the worker did not take the message off the queue"

        job = client.post(
            "/jobs",
            json={
                "data": {"synthetic": {"name": "xor", "n_samples": 60}},
                "layers": [{"units": 4}],
                "training": {"epochs": 10},
            },
        ).get_json()
        assert wait_for_job(client, job["id"])["status"] == "succeeded"
    assert not marker.exists()
    assert r.llen(prefix) == 0
    r.close()


@pytest.fixture
def trained(redis_url, prefix):
    """An app, its registry and a model stored the way a worker stores one."""
    app = make_app(redis_url, prefix, NNJOBS_MODEL_CACHE=0)
    client = app.test_client()
    registry = app.extensions["nnjobs"].registry
    job = client.post("/jobs", json={**SPIRAL, "training": {"epochs": 3}}).get_json()
    model = run_job(registry, job["id"])
    r = client.post("/predict", json={"model_id": model["id"], "inputs": [[0, 1]]})
    assert r.status_code == 200
    return client, registry.r, f"{prefix}:model:{model['id']}", model["id"]


@pytest.mark.parametrize("where", [0, 20, 60, -1])
def test_a_tampered_model_is_a_clear_error(trained, where):
    client, r, key, model_id = trained
    blob = bytearray(r.hget(key, "blob"))
    blob[where] ^= 0x01
    r.hset(key, "blob", bytes(blob))
    for answer in (
        client.post("/predict", json={"model_id": model_id, "inputs": [[0, 1]]}),
        client.post(f"/models/{model_id}/predict", json={"inputs": [[0, 1]]}),
    ):
        body = error(answer, 500)
        assert "stored unreadable" in body["message"] and model_id in body["message"]
    # the rest of the service is unaffected
    assert client.get(f"/models/{model_id}").status_code == 200


def test_a_pickle_in_place_of_a_model_is_never_run(trained, tmp_path):
    client, r, key, model_id = trained
    marker = tmp_path / "pwned"
    r.hset(key, "blob", pickle.dumps(Marker(marker)))
    body = error(client.post("/predict", json={"model_id": model_id, "inputs": [[0, 1]]}), 500)
    assert "stored unreadable" in body["message"]
    assert not marker.exists()
