"""Logs: one JSON object per line from the API and the worker, with the job's and the
model's ids on the lines about them, and one access line per request."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import uuid
from contextlib import contextmanager
from datetime import datetime

import pytest
import redis
import requests
from api_helpers import drop_keys, make_app, run_job, wait_for_job, worker_thread
from live_service import LiveService, train_and_predict, wait_until

from registry import logs
from registry.queue import delivery_settings

TINY_SPEC = {"layers": [{"units": 4, "activation": "tanh"}], "training": {"epochs": 5}}
TINY = {
    "data": {"synthetic": {"name": "xor", "n_samples": 60, "noise": 0.05, "seed": 0}},
    **TINY_SPEC,
}

# printed by Celery's signal handler (a raw write, not a log record, after an empty line)
# as the worker stops
CELERY_SHUTDOWN_NOTICE = re.compile(r"|worker: (Warm|Cold) shutdown \(MainProcess\)")


def check_entry(line: str) -> dict:
    try:
        entry = json.loads(line)
    except ValueError:
        raise AssertionError(f"not JSON: {line!r}") from None
    assert isinstance(entry, dict), line
    assert {"time", "level", "logger", "message"} <= set(entry), line
    assert entry["time"].endswith("Z")
    assert (
        datetime.fromisoformat(entry["time"].replace("Z", "+00:00")).utcoffset().total_seconds()
        == 0
    )
    assert entry["level"] in logs.LEVELS
    return entry


class Lines(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.setFormatter(logs.JSONFormatter())
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(self.format(record))


@contextmanager
def captured(*names: str):
    """The formatted lines of the loggers ``names`` (handlers of their own: the worker's
    start-up replaces the root logger's)."""
    handler = Lines()
    saved = []
    for name in names:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level))
        logger.setLevel(logging.INFO)
        logger.addHandler(handler)
    try:
        yield handler.lines
    finally:
        for logger, level in saved:
            logger.removeHandler(handler)
            logger.setLevel(level)


# -- the formatter ------------------------------------------------------------------------------


def test_a_record_is_one_json_line_with_its_extra_fields():
    logger = logging.getLogger("nnjobs.test")
    record = logger.makeRecord(
        "nnjobs.test",
        logging.WARNING,
        __file__,
        1,
        "job %s: %s",
        ("j1", "odd"),
        None,
        extra={"job_id": "j1", "model_id": "m1", "nested": {"a": [1, 2]}, "obj": object()},
    )
    line = logs.JSONFormatter().format(record)
    assert "\n" not in line
    entry = check_entry(line)
    assert entry["message"] == "job j1: odd" and entry["level"] == "WARNING"
    assert entry["logger"] == "nnjobs.test"
    assert entry["job_id"] == "j1" and entry["model_id"] == "m1"
    assert entry["nested"] == {"a": [1, 2]} and entry["obj"].startswith("<object")
    assert "args" not in entry and "msg" not in entry and "pathname" not in entry


def test_an_exception_stays_on_its_line():
    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        record = logging.getLogger("x").makeRecord(
            "x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    line = logs.JSONFormatter().format(record)
    assert "\n" not in line
    entry = check_entry(line)
    assert "ValueError: bad" in entry["exception"] and "Traceback" in entry["exception"]


def test_a_warning_is_a_json_line_too():
    # a library's warning (Celery warns of workers sharing a name, say) is a log line
    code = (
        "import warnings; from registry import logs; logs.configure('INFO', 'json'); "
        "warnings.warn('careful', UserWarning)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    [line] = out.stderr.splitlines()
    entry = check_entry(line)
    assert entry["logger"] == "py.warnings" and "careful" in entry["message"]


def test_the_level_and_format_come_from_the_environment():
    assert logs.level({}) == "INFO" and logs.level({"NNJOBS_LOG_LEVEL": "debug"}) == "DEBUG"
    with pytest.raises(SystemExit, match="NNJOBS_LOG_LEVEL"):
        logs.level({"NNJOBS_LOG_LEVEL": "loud"})
    with pytest.raises(SystemExit, match="NNJOBS_LOG_FORMAT"):
        logs.log_format({"NNJOBS_LOG_FORMAT": "xml"})
    config = logs.config("WARNING", "text")
    assert config["root"]["level"] == "WARNING"
    assert config["formatters"]["nnjobs"]["()"].endswith("TextFormatter")
    record = logging.getLogger("t").makeRecord(
        "t", logging.INFO, __file__, 1, "hello", (), None, extra={"job_id": "j"}
    )
    text = logs.TextFormatter().format(record)
    assert text.endswith("INFO    t: hello [job_id=j]")


def test_a_bug_in_lease_recovery_is_logged_with_its_traceback_and_redis_away_in_a_line():
    from worker.app import LeaseRecovery

    def buggy():
        raise KeyError("lease_until")

    def unreachable():
        raise redis.exceptions.ConnectionError("Connection refused")

    entries = {}
    for registry in (buggy, unreachable):
        recovery = LeaseRecovery(None, registry, delivery_settings({}), "q")
        with captured("nnjobs.worker") as lines:
            recovery.start()
            wait_until(lambda: lines, 10, interval=0.01, what="a lease recovery log line")
            recovery.stop()
        assert not recovery.thread.is_alive()
        entries[registry] = check_entry(lines[0])
    bug = entries[buggy]
    assert bug["level"] == "ERROR" and bug["message"].startswith("lease recovery failed")
    assert "Traceback" in bug["exception"] and "KeyError: 'lease_until'" in bug["exception"]
    assert "in buggy" in bug["exception"]
    away = entries[unreachable]
    assert away["level"] == "WARNING" and "Connection refused" in away["message"]
    assert "exception" not in away


def test_a_bug_in_training_fails_the_job_and_is_logged_with_its_traceback(reg, monkeypatch):
    import nn
    from worker.tasks import run_job

    def broken_fit(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    X, y = nn.synthetic.make("xor", n_samples=40, seed=0)
    spec, data = nn.validate(TINY_SPEC, X, y)
    job = reg.create_job(name="bug", spec=spec, data=data, X=X, y=y)
    monkeypatch.setattr(nn, "fit", broken_fit)
    with captured("nnjobs.worker") as lines:
        assert run_job(reg, job["id"]) == "failed"
    assert reg.get_job(job["id"])["error"] == {"type": "ZeroDivisionError", "message": "a bug"}
    [failed] = [e for e in map(check_entry, lines) if e["level"] == "ERROR"]
    assert failed["job_id"] == job["id"] and failed["error_type"] == "ZeroDivisionError"
    assert "Traceback" in failed["exception"] and "in broken_fit" in failed["exception"]


# -- in process: the API and a real worker ------------------------------------------------------


def test_the_api_and_the_worker_log_the_job_and_the_prediction_with_their_ids(
    redis_url, key_prefix
):
    app = make_app(redis_url, key_prefix)
    client = app.test_client()
    try:
        with captured("service", "nnjobs") as lines:
            with worker_thread(redis_url, key_prefix):
                response = client.post("/jobs", json=TINY)
                job = wait_for_job(client, response.get_json()["id"])
            assert job["status"] == "succeeded"
            body = {"model_id": job["model_id"], "inputs": [[0, 1]]}
            assert client.post("/predict", json=body).status_code == 200
    finally:
        drop_keys(app.extensions["nnjobs"].registry.r, key_prefix)

    entries = [check_entry(line) for line in lines]
    about_job = [e for e in entries if e.get("job_id") == job["id"]]
    loggers = {e["logger"] for e in about_job}
    assert {"service.jobs", "nnjobs.worker"} <= loggers, entries
    ended = [e for e in about_job if e["logger"] == "nnjobs.worker" and "succeeded" in e["message"]]
    assert len(ended) == 1 and ended[0]["model_id"] == job["model_id"]
    access = [e for e in entries if e["logger"] == "nnjobs.access"]
    # a prediction's ids go on its access line: one line per request
    [predicted] = [e for e in access if e["route"] == "/predict"]
    assert predicted["model_id"] == job["model_id"] and predicted["rows"] == 1
    assert predicted["status"] == 200
    assert not [e for e in entries if e["logger"] == "service.predict"]
    submit = [e for e in access if e["method"] == "POST" and e["route"] == "/jobs"]
    assert len(submit) == 1 and submit[0]["status"] == 202 and submit[0]["duration_ms"] >= 0
    polls = [e for e in access if e["route"] == "/jobs/<ref:job_id>"]
    assert polls and all(e["path"] == f"/jobs/{job['id']}" for e in polls)


def test_without_access_lines_a_prediction_is_logged_on_its_own(redis_url, key_prefix):
    app = make_app(redis_url, key_prefix, NNJOBS_ACCESS_LOG="0")
    client = app.test_client()
    registry = app.extensions["nnjobs"].registry
    try:
        job_id = client.post("/jobs", json=TINY).get_json()["id"]
        model = run_job(registry, job_id)
        with captured("nnjobs.access", "service.predict") as lines:
            assert client.get("/healthz").status_code == 200
            body = {"model_id": model["id"], "inputs": [[0, 1], [1, 1]]}
            assert client.post("/predict", json=body).status_code == 200
    finally:
        drop_keys(registry.r, key_prefix)
    [entry] = [check_entry(line) for line in lines]
    assert entry["logger"] == "service.predict"
    assert entry["model_id"] == model["id"] and entry["rows"] == 2


# -- the processes, as deployed ---------------------------------------------------------------


@pytest.mark.slow
def test_every_line_the_api_and_the_worker_write_is_json(redis_url, key_prefix):
    name = f"logs-{uuid.uuid4().hex[:8]}"
    try:
        with LiveService(redis_url, key_prefix, NNJOBS_LOG_LEVEL="INFO") as live:
            prediction = train_and_predict(live.url, name)
            assert requests.get(f"{live.url}/nowhere", timeout=10).status_code == 404
        api_lines, worker_lines = live.api.lines, live.worker.lines
    finally:
        r = redis.Redis.from_url(redis_url)
        drop_keys(r, key_prefix)
        r.close()

    api = [check_entry(line) for line in api_lines]
    worker = [
        check_entry(line) for line in worker_lines if not CELERY_SHUTDOWN_NOTICE.fullmatch(line)
    ]
    assert len(worker) >= len(worker_lines) - 2

    [queued] = [e for e in api if e["logger"] == "service.jobs"]
    job_id = queued["job_id"]
    model_id = prediction["model_id"]
    assert queued["job_name"] == name
    [started] = [e for e in worker if e.get("job_id") == job_id and "started" in e["message"]]
    [ended] = [e for e in worker if e.get("job_id") == job_id and "succeeded" in e["message"]]
    assert ended["model_id"] == model_id and started["attempt"] == 1
    [predicted] = [e for e in api if e.get("route") == "/predict"]
    assert predicted["model_id"] == model_id and predicted["model"] == name

    access = [e for e in api if e["logger"] == "nnjobs.access"]
    assert {"method", "route", "status", "duration_ms"} <= set(access[0])
    routes = {(e["method"], e["route"], e["status"]) for e in access}
    assert {("POST", "/jobs", 202), ("POST", "/predict", 200), ("GET", "unmatched", 404)} <= routes
    assert ("GET", "/jobs/<ref:job_id>", 200) in routes
    # gunicorn's own lines come through the same formatter
    assert any(e["logger"] == "gunicorn.error" for e in api)
