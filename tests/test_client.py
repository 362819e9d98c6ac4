"""The Python client against the running service (gunicorn, a Celery worker, Redis), and
its retries and errors against small HTTP servers of the test's own."""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading
import time
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest
from conftest import free_port
from live_service import ROOT, live_url  # noqa: F401  (live_url: the session's service)
from table_helpers import RAW_ROWS, csv_text, encode_row, mixed_table

import nn
from client import APIError, Client, JobFailed, Prediction, ServiceUnavailable, Timeout

FAST = {"epochs": 30, "learning_rate": 0.05, "early_stopping": False}


@pytest.fixture
def api(live_url):  # noqa: F811
    with Client(live_url, timeout=10) as c:
        yield c


def test_importing_the_client_pulls_in_no_flask_celery_redis_or_pandas():
    code = """
import sys
BLOCKED = ("flask", "celery", "redis", "kombu", "werkzeug", "pandas")
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"blocked: {name}")
sys.meta_path.insert(0, Block())
import client, client.cli
print(sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_train_on_an_array_waits_and_predicts_arrays(api):
    X, y = nn.synthetic.make("circle", n_samples=120, noise=0.02, seed=1)
    seen = []
    job = api.train(
        X, y, layers=[8], activation="tanh", name="client-circle", progress=seen.append, **FAST
    )
    assert job["status"] == "succeeded" and job["model_id"]
    # a state a call, ending with the last (a quick job may have ended by the first look)
    assert seen and seen[-1]["status"] == "succeeded"
    states = {(state["status"], json.dumps(state["progress"], sort_keys=True)) for state in seen}
    assert len(states) == len(seen)
    # read a few epochs at a time, the history it returns is the whole one
    assert job["history"] == api.job(job["id"])["history"]
    model = api.model("client-circle")
    assert model["id"] == job["model_id"] and model["n_features"] == 2

    p = api.predict("client-circle", X[:7])
    assert isinstance(p, Prediction) and p.output == "sigmoid"
    assert isinstance(p.probabilities, np.ndarray) and p.probabilities.shape == (7,)
    assert p.predictions.shape == (7,) and p.classes.tolist() == [0, 1]
    assert ((p.probabilities >= 0) & (p.probabilities <= 1)).all()
    assert (p.predictions == (p.probabilities >= 0.5)).all()


def test_train_on_lists_with_string_labels(api):
    rng = np.random.default_rng(0)
    centres = {"red": (0, 0), "green": (4, 4), "blue": (0, 4)}
    X = [list(rng.normal(c, 0.3)) for c in centres.values() for _ in range(20)]
    y = [name for name in centres for _ in range(20)]
    job = api.train(X, y, layers=[8], progress=False, **FAST)
    p = api.predict(job["model_id"], [[0, 0], [4, 4], [0, 4], [0.1, 3.9]])
    assert p.output == "softmax" and sorted(p.classes.tolist()) == ["blue", "green", "red"]
    assert p.probabilities.shape == (4, 3) and p.predictions.shape == (4,)
    np.testing.assert_allclose(p.probabilities.sum(axis=1), 1, rtol=1e-5)
    assert p.predictions.tolist() == ["red", "green", "blue", "blue"]


def test_train_on_a_csv_file_and_predict_from_one(api):
    iris = ROOT / "examples" / "iris.csv"
    job = api.train(iris, "species", layers=[8], progress=False, **FAST)
    model = api.model(job["model_id"])
    assert model["name"] == "iris"  # named after the file
    job = api.train(iris, "species", layers=[8], name="client-iris", progress=False, **FAST)
    model = api.model("client-iris")
    assert model["id"] == job["model_id"]
    assert model["features"] == ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    p = api.predict("client-iris", iris)
    assert p.probabilities.shape == (150, 3) and p.predictions.shape == (150,)
    assert set(p.predictions.tolist()) <= set(p.classes.tolist())
    assert sorted(p.classes.tolist()) == ["setosa", "versicolor", "virginica"]
    text = api.predict_csv("client-iris", iris.read_bytes())
    assert text.splitlines()[0].endswith("p_setosa,p_versicolor,p_virginica,prediction")
    assert len(text.splitlines()) == 151

    uploaded = api.dataset(iris, name="flowers")
    assert uploaded["name"] == "flowers" and uploaded["n_rows"] == 150
    assert uploaded["id"] in {d["id"] for d in api.datasets()}
    api.delete_dataset(uploaded["id"])
    with pytest.raises(APIError) as caught:
        api.get_dataset(uploaded["id"])
    assert caught.value.code == 404


def test_a_table_trains_and_predicts_from_row_dicts(api, tmp_path):
    table, labels = mixed_table(60)
    data = tmp_path / "birds.csv"
    data.write_text(csv_text(table, labels))
    job = api.train(data, "species", features={"zip": "categorical"}, progress=False, **FAST)
    model = api.model(job["model_id"])
    zipcode = model["preparation"]["features"][3]
    assert zipcode["kind"] == "categorical" and zipcode["categories"] == ["10001", "60601", "94110"]
    by_rows = api.predict(job["model_id"], RAW_ROWS)
    encoded = [encode_row(model["preparation"], row) for row in RAW_ROWS]
    by_arrays = api.predict(job["model_id"], np.array(encoded))
    assert np.array_equal(by_rows.probabilities, by_arrays.probabilities)
    assert [(w["row"], w["column"]) for w in by_rows.warnings] == [(1, "island"), (3, "zip")]
    assert by_arrays.warnings == []


def test_a_bad_job_raises_api_error_with_its_fields(api):
    with pytest.raises(APIError) as caught:
        api.train([[0, 1], [1, 0]], [0, 1], layers=[0], activation="nope", wait=False)
    e = caught.value
    assert e.code == 422 and not isinstance(e, ServiceUnavailable)
    assert e.message
    fields = e.errors["json"]
    assert "activation" in fields
    assert any(line.startswith("activation: ") for line in e.field_errors)


def test_bad_inputs_are_refused_before_sending(api):
    with pytest.raises(ValueError, match="finite"):
        api.train([[0, float("nan")], [1, 0]], [0, 1], wait=False)
    with pytest.raises(ValueError, match="2 rows but y has 3"):
        api.train([[0, 1], [1, 0]], [0, 1, 1], wait=False)


def test_unknown_ids_are_404(api):
    with pytest.raises(APIError) as caught:
        api.job("0" * 32)
    assert caught.value.code == 404
    with pytest.raises(APIError) as caught:
        api.model("no-such-model@3")
    assert caught.value.code == 404


def test_cancel_while_waiting_ends_in_job_failed(api):
    X, y = nn.synthetic.make("spiral", n_samples=400, noise=0.1, seed=0)

    def cancel_once_running(job):
        if job["status"] == "running":
            assert api.cancel(job["id"])["status"] == "cancelled"

    with pytest.raises(JobFailed) as caught:
        api.train(
            X, y, layers=[64, 64], epochs=5000, early_stopping=False, progress=cancel_once_running
        )
    job = caught.value.job
    assert job["status"] == "cancelled" and job["model_id"] is None
    assert api.wait(job["id"], timeout=5)["status"] == "cancelled"
    assert job["id"] in {j["id"] for j in api.jobs(status="cancelled")}


def test_wait_times_out(api):
    X, y = nn.synthetic.make("spiral", n_samples=400, noise=0.1, seed=0)
    job = api.train(X, y, layers=[64, 64], epochs=5000, early_stopping=False, wait=False)
    try:
        with pytest.raises(TimeoutError):
            api.wait(job["id"], timeout=0.5)
    finally:
        api.cancel(job["id"])


def test_activations_come_from_the_service(api):
    found = api.activations()
    hidden = [n for a in found if "hidden" in a["usage"] for n in (a["name"], *a["aliases"])]
    assert sorted(hidden) == sorted(nn.hidden_activation_names())
    assert {a["name"] for a in found if "output" in a["usage"]} == set(nn.OUTPUTS)
    by_name = {a["name"]: a for a in found}
    assert [p["name"] for p in by_name["leaky_relu"]["params"]] == ["alpha"]
    assert [p["name"] for p in by_name["maxout"]["params"]] == ["pieces"]
    assert "max(0, x)" in by_name["relu"]["formula"]


# ---------------------------------------------------------------- transport


class Scripted(http.server.ThreadingHTTPServer):
    """A local HTTP server answering from a script of (status, headers, body, delay)."""

    def __init__(self, script):
        self.script = list(script)
        self.requests: list[tuple[str, str]] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(handler):
                length = int(handler.headers.get("Content-Length") or 0)
                handler.rfile.read(length)
                self.requests.append((handler.command, handler.path))
                status, headers, body, delay = (
                    self.script.pop(0) if len(self.script) > 1 else self.script[0]
                )
                time.sleep(delay)
                data = json.dumps(body).encode()
                handler.send_response(status)
                for key, value in {**headers, "Content-Type": "application/json"}.items():
                    handler.send_header(key, value)
                handler.send_header("Content-Length", str(len(data)))
                handler.end_headers()
                handler.wfile.write(data)

            do_GET = do_POST = do_DELETE = _answer

            def log_message(handler, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self.errors: list[str] = []
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def handle_error(self, request, client_address):
        # a client that gave up waiting (the timeout tests) leaves a broken pipe behind:
        # kept here rather than printed over the test run's output
        self.errors.append(str(sys.exc_info()[1]))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.shutdown()
        self.server_close()


UNAVAILABLE = {"code": 503, "status": "Service Unavailable", "message": "Redis is unreachable"}
PAGE = {"items": [{"id": "a"}], "total": 1, "page": 1, "page_size": 100}


def test_a_503_is_retried_after_its_retry_after():
    with Scripted([(503, {"Retry-After": "1"}, UNAVAILABLE, 0), (200, {}, PAGE, 0)]) as server:
        started = time.monotonic()
        assert Client(server.url).jobs() == [{"id": "a"}]
        assert time.monotonic() - started >= 1
        assert [method for method, _ in server.requests] == ["GET", "GET"]


def test_a_posted_job_is_retried_on_503_too():
    job = {"id": "j", "status": "queued"}
    with Scripted([(503, {"Retry-After": "0"}, UNAVAILABLE, 0), (202, {}, job, 0)]) as server:
        assert Client(server.url).submit({"data": {}}) == job
        assert [method for method, _ in server.requests] == ["POST", "POST"]


def test_retries_are_bounded():
    with Scripted([(503, {"Retry-After": "3600"}, UNAVAILABLE, 0)]) as server:
        client = Client(server.url, retries=2, max_retry_after=0.1)
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable) as caught:
            client.models()
        assert time.monotonic() - started < 5  # the hour asked for was capped
    assert caught.value.code == 503 and caught.value.message == "Redis is unreachable"
    assert len(server.requests) == 3


def test_connection_refused_is_service_unavailable():
    client = Client(f"http://127.0.0.1:{free_port()}", retries=1)
    with pytest.raises(ServiceUnavailable) as caught:
        client.jobs()
    assert caught.value.code is None and "cannot reach" in caught.value.message
    assert isinstance(caught.value, APIError)


def test_a_slow_answer_is_a_timeout():
    with Scripted([(200, {}, PAGE, 2)]) as server:
        with pytest.raises(Timeout):
            Client(server.url, timeout=0.3).jobs()
        assert len(server.requests) == 1  # a read timeout is not repeated


def job_state(status, epoch=0):
    return {"id": "j", "status": status, "progress": {"epoch": epoch, "epochs": 3}}


def test_wait_long_polls_and_reports_each_change():
    script = [(200, {}, job_state("running", e), 0) for e in (1, 2)]
    script.append((200, {}, job_state("succeeded", 3), 0))
    with Scripted(script) as server:
        seen = []
        job = Client(server.url).wait("j", on_progress=seen.append)
    assert job["status"] == "succeeded"
    assert [s["progress"]["epoch"] for s in seen] == [1, 2, 3]
    assert all("wait=10" in path for _, path in server.requests)


def test_wait_polls_a_server_that_refuses_long_polls():
    refusal = {
        "code": 422,
        "status": "Unprocessable Entity",
        "message": "wait: Must be less than or equal to 1.",
        "errors": {"query": {"wait": ["Must be less than or equal to 1."]}},
    }
    script = [(422, {}, refusal, 0), (200, {}, job_state("running", 1), 0)]
    script.append((200, {}, job_state("succeeded", 3), 0))
    with Scripted(script) as server:
        job = Client(server.url, poll_interval=0.05).wait("j")
    assert job["status"] == "succeeded"
    paths = [path for _, path in server.requests]
    assert "wait=" in paths[0] and not any("wait=" in p for p in paths[1:])


def followed_state(status, since, loss, attempts=1):
    """A job as ``GET /jobs/j?since=<since>`` answers it: its epochs after ``since``."""
    progress = {"epoch": since + len(loss), "epochs": 9}
    history = {"loss": loss, "first_epoch": since + 1}
    job = {"id": "j", "status": status, "attempts": attempts}
    return {**job, "progress": progress, "history": history}


def sinces(server) -> list[int]:
    return [int(parse_qs(urlparse(path).query)["since"][0]) for _, path in server.requests]


def test_wait_reads_each_epoch_once_and_returns_the_whole_history():
    script = [
        (200, {}, followed_state("running", 0, [0.9, 0.8]), 0),
        (200, {}, followed_state("running", 2, [0.7]), 0),
        (200, {}, followed_state("succeeded", 3, [0.6]), 0),
    ]
    with Scripted(script) as server:
        seen = []
        job = Client(server.url).wait("j", on_progress=seen.append)
    assert sinces(server) == [0, 2, 3]
    assert [state["history"]["loss"] for state in seen] == [
        [0.9, 0.8],
        [0.9, 0.8, 0.7],
        [0.9, 0.8, 0.7, 0.6],
    ]
    assert job["history"] == {"loss": [0.9, 0.8, 0.7, 0.6]}


def test_wait_reads_the_epochs_anew_when_another_attempt_starts_the_job_over():
    script = [
        (200, {}, followed_state("running", 0, [0.9, 0.8])),
        # the first attempt's worker died; the second has run one epoch
        (200, {}, followed_state("running", 2, [], attempts=2)),
        (200, {}, followed_state("running", 0, [0.5], attempts=2)),
        (200, {}, followed_state("succeeded", 1, [0.4], attempts=2)),
    ]
    with Scripted([(*answer, 0) for answer in script]) as server:
        job = Client(server.url).wait("j")
    assert sinces(server) == [0, 2, 0, 1]
    assert job["history"] == {"loss": [0.5, 0.4]}


def test_export_and_import_model_round_trip(api):
    X, y = nn.synthetic.make("circle", n_samples=60, noise=0.02, seed=2)
    job = api.train(X, y, layers=[4], name="client-export", progress=False, epochs=3)
    blob = api.export(job["model_id"], "nnjobs")
    model = api.import_model(blob, "client-imported")
    assert model["name"] == "client-imported" and model["job_id"] is None
    assert model["parity"]["labels_agree"] is True
    here, there = api.predict(job["model_id"], X[:9]), api.predict(model["id"], X[:9])
    assert there.raw["probabilities"] == here.raw["probabilities"]
    assert api.export("client-imported", "onnx")[:2] == api.export(job["model_id"], "onnx")[:2]
    with pytest.raises(APIError) as refused:
        api.export("client-export", "pickle")
    assert refused.value.code == 422 and "format" in str(refused.value)
