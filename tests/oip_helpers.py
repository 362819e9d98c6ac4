"""What the tests of the Open Inference Protocol's routes share: a service with three
models on a socket, and the requests and error bodies of the protocol."""

from __future__ import annotations

import json
import threading
import uuid
from pathlib import Path

import numpy as np
import redis
from api_helpers import drop_keys, make_app, run_job
from werkzeug.serving import make_server

IRIS = (Path(__file__).resolve().parent.parent / "examples" / "iris.csv").read_bytes()
XOR_X = [[0.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 0.0]] * 5
FEW = {"epochs": 5, "validation_split": 0}
# float32 values, so that FP32 and /predict's float64 inputs are the same numbers
ROWS = np.array([[5.1, 3.5, 1.4, 0.2], [6.2, 2.9, 4.3, 1.3], [7.7, 3.0, 6.1, 2.3]], np.float32)


def serve(redis_url: str):
    """The app on a socket, with a binary, a multi-class (trained from a dataset, so its
    features have names) and a regression model."""
    prefix = f"nnjobs-test-{uuid.uuid4().hex[:10]}"
    app = make_app(redis_url, prefix)
    client = app.test_client()

    def train(name: str, data) -> None:
        if type(data) is bytes:  # a dataset's CSV, uploaded first
            resp = client.post("/datasets", data=data, headers={"Content-Type": "text/csv"})
            assert resp.status_code == 201, resp.get_json()
            data = {"dataset": resp.get_json()["id"], "target": "species"}
        job = {"name": name, "data": data, "layers": [{"units": 8}], "training": FEW}
        resp = client.post("/jobs", json=job)
        assert resp.status_code == 202, resp.get_json()
        run_job(app.extensions["nnjobs"].registry, resp.get_json()["id"])

    train("xor", {"X": XOR_X, "y": [0, 0, 1, 1] * 5})
    train("iris", IRIS)
    train("plane", {"X": XOR_X, "y": [x + 2 * y for x, y in XOR_X]})
    # a second version of xor, so that a version in the path matters
    train("xor", {"X": XOR_X, "y": [1, 1, 0, 0] * 5})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app, f"127.0.0.1:{server.server_port}", prefix
    server.shutdown()
    thread.join(5)
    r = redis.Redis.from_url(redis_url)
    drop_keys(r, prefix)
    r.close()


def infer(app, body, path="/v2/models/iris/infer", **kwargs):
    return app.test_client().post(path, data=json.dumps(body), **kwargs)


def v2_error(resp, code: int) -> str:
    assert resp.status_code == code, resp.get_data(as_text=True)[:500]
    body = resp.get_json()
    assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"]
    return body["error"]


def one(shape, data, datatype="FP64", name="input", **more) -> dict:
    return {"inputs": [{"name": name, "shape": shape, "datatype": datatype, "data": data}], **more}


FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def columns(names=FEATURES, rows=2, shape=None) -> dict:
    return {
        "inputs": [
            {"name": n, "shape": shape or [rows], "datatype": "FP64", "data": [1.0] * rows}
            for n in names
        ]
    }


def nested_column() -> dict:
    body = columns()
    body["inputs"][0]["data"] = [[1.0], [1.0]]
    return body
