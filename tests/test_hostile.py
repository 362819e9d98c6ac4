"""Hostile and broken requests, in one table: each gets the right 4xx in the error shape,
names the offending field (where there is one) or the limit it hit, and leaves nothing
stored and nothing queued.

The app runs with small limits (body, values, compute budget) so that requests over them
stay small; a trained model and a job that is still running exist beforehand, for the
prediction cases.
"""

from __future__ import annotations

import json
import uuid

import pytest
import redis
from api_helpers import error, make_app, run_job, stored

XOR_X = [[0.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 0.0]] * 3
XOR_Y = [0, 0, 1, 1] * 3
GOOD = {"data": {"X": XOR_X, "y": XOR_Y}, "layers": [{"units": 4}], "training": {"epochs": 5}}
LIMITS = {"NNJOBS_MAX_BODY_MB": 1, "NNJOBS_MAX_VALUES": 1000, "NNJOBS_MAX_COMPUTE": 1e6}
SPIRAL = {"synthetic": {"name": "spiral", "n_samples": 400}}
JSON = "application/json"


def job(**changes) -> dict:
    """The good job with top-level keys replaced (``training`` is merged)."""
    out = json.loads(json.dumps(GOOD))
    for key, value in changes.items():
        out[key] = {**out[key], **value} if key == "training" else value
    return out


def xy(X, y) -> dict:
    return job(data={"X": X, "y": y})


def case(name, request, body, code, field=None, says="", ctype=JSON):
    """One row: ``request`` is "METHOD /path"; a dict body is sent as JSON, bytes as they
    are with ``ctype`` (None: no Content-Type); ``field`` is a dotted path in the body.
    ``{model}`` and ``{running}`` stand for the trained model's and the running job's ids."""
    method, path = request.split(" ", 1)
    field = tuple(field.split(".")) if field else None
    return pytest.param(method.lower(), path, body, ctype, code, field, says, id=name)


def text(body: str) -> bytes:
    return body.encode()


# fmt: off
CASES = [
    # -- the body is not JSON, or not readable -------------------------------------------
    case("text-plain", "POST /jobs", b"{}", 415, says=JSON, ctype="text/plain"),
    case("form", "POST /jobs", b"a=1", 415, says=JSON, ctype="application/x-www-form-urlencoded"),
    case("no-type", "POST /predict", b"{}", 415, says="no content type", ctype=None),
    case("malformed", "POST /jobs", b'{"data": ', 400, says="malformed JSON"),
    case("empty", "POST /jobs", b"", 400, says="empty"),
    case("bad-utf8", "POST /jobs", b'{"name": "caf\xe9"}', 400, says="UTF-8"),
    case("deep-arrays", "POST /jobs", b"[" * 100_000 + b"]" * 100_000, 400, says="deep"),
    case("deep-objects", "POST /jobs", b'{"a":' * 100_000 + b"1" + b"}" * 100_000, 400,
         says="deep"),
    case("nan-X", "POST /jobs", text('{"data": {"X": [[NaN, 1]], "y": [1]}}'), 400, says="NaN"),
    case("infinity-y", "POST /jobs", text('{"data": {"X": [[0, 1]], "y": [-Infinity]}}'), 400,
         says="Infinity"),
    case("nan-inputs", "POST /predict", text('{"model_id": "m", "inputs": [[NaN]]}'), 400,
         says="NaN"),
    case("too-big", "POST /jobs", b'{"name": "' + b"x" * (2 << 20) + b'"}', 413,
         says="NNJOBS_MAX_BODY_MB"),
    # -- numbers JSON can write but a float cannot hold ----------------------------------
    case("1e400-X", "POST /jobs", text('{"data": {"X": [[1, 1e400], [0, 1]], "y": [0, 1]}}'),
         422, "data.X", "non-finite"),
    case("1e400-y", "POST /jobs",
         text('{"data": {"X": [[1, 2], [0, 1]], "y": [1e400, 0.5]}, "output": "linear"}'),
         422, "data.y", "non-finite"),
    case("huge-int-X", "POST /jobs",
         text('{"data": {"X": [[1, 2], [3, %s]], "y": [0, 1]}}' % ("9" * 400)), 422, "data.X"),
    case("huge-int-epochs", "POST /jobs",
         text('{"data": {"synthetic": {"name": "xor"}}, "training": {"epochs": %s}}' % ("9" * 400)),
         422, "training.epochs", "NNJOBS_MAX_EPOCHS"),
    case("huge-int-units", "POST /jobs",
         text('{"data": {"synthetic": {"name": "xor"}}, "layers": [{"units": -%s}]}' % ("9" * 400)),
         422, "layers.0.units", "NNJOBS_MAX_UNITS"),
    case("huge-int-query", "GET /synthetic/xor?n_samples=" + "9" * 400, None, 422,
         says="n_samples"),
    # -- text that is no text, or names that could not be named again --------------------
    case("surrogate-label", "POST /jobs",
         text('{"data": {"X": [[0], [1]], "y": ["a", "\\udc00"]}}'), 422, "data.y.1",
         "surrogate"),
    case("name-newline", "POST /jobs", job(name="xor\n"), 422, "name"),
    case("long-label", "POST /jobs", xy([[0], [1]], ["a", "b" * 1001]), 413, "data.y",
         "NNJOBS_MAX_LABEL_LENGTH"),
    # -- X that is not a matrix of numbers -----------------------------------------------
    case("ragged-X", "POST /jobs", xy([[1, 2], [3]], [0, 1]), 422, "data.X", "same length"),
    case("empty-X", "POST /jobs", xy([], []), 422, "data.X", "no rows"),
    case("empty-rows", "POST /jobs", xy([[], []], [0, 1]), 422, "data.X", "no features"),
    case("3d-X", "POST /jobs", xy([[[1], [2]], [[3], [4]]], [0, 1]), 422, "data.X", "an array"),
    case("scalar-X", "POST /jobs", xy(5, [0, 1]), 422, "data.X", "array"),
    case("flat-X", "POST /jobs", xy([1, 2], [0, 1]), 422, "data.X", "rows"),
    case("string-feature", "POST /jobs", xy([[1, "2"], [3, 4]], [0, 1]), 422, "data.X",
         "a string"),
    case("bool-feature", "POST /jobs", xy([[1, True], [3, 4]], [0, 1]), 422, "data.X",
         "a boolean"),
    case("null-feature", "POST /jobs", xy([[1, None], [3, 4]], [0, 1]), 422, "data.X", "null"),
    case("too-many-values", "POST /jobs", xy([[0.5, 0.5]] * 600, [0, 1] * 300), 413, "data.X",
         "NNJOBS_MAX_VALUES"),
    # -- y that does not fit X or the output ---------------------------------------------
    case("len-mismatch", "POST /jobs", xy(XOR_X, XOR_Y[:-1]), 422, "data.y", "rows"),
    case("one-class", "POST /jobs", xy(XOR_X, [1] * len(XOR_X)), 422, "data.y", "one class"),
    case("float-labels", "POST /jobs",
         job(data={"X": [[1, 2], [3, 4], [5, 6]], "y": [0.5, 1.5, 2.5]}, output="softmax"),
         422, "data.y", "float labels"),
    case("mixed-labels", "POST /jobs", xy([[1, 2], [3, 4]], [0, "a"]), 422, "data.y",
         "one type"),
    case("null-labels", "POST /jobs", xy([[1, 2], [3, 4]], [None, 1]), 422, "data.y"),
    # -- fields and names ----------------------------------------------------------------
    case("unknown-field", "POST /jobs", job(surprise=1), 422, "surprise", "Unknown"),
    case("unknown-layer-field", "POST /jobs", job(layers=[{"units": 4, "colour": "red"}]), 422,
         "layers.0.colour", "Unknown"),
    case("unknown-training-field", "POST /jobs", job(training={"epoch": 5}), 422,
         "training.epoch", "Unknown"),
    case("unknown-activation", "POST /jobs", job(activation="swish9"), 422, "activation"),
    case("unknown-optimizer", "POST /jobs", job(training={"optimizer": "lbfgs"}), 422,
         "training.optimizer"),
    case("unknown-output", "POST /jobs", job(output="tanh"), 422, "output"),
    case("softmax-hidden", "POST /jobs", job(layers=[{"units": 4, "activation": "softmax"}]),
         422, "layers.0.activation"),
    case("bad-name", "POST /jobs", job(name="../etc"), 422, "name"),
    case("not-an-object", "POST /jobs", [1, 2], 422),
    # -- ranges and limits ---------------------------------------------------------------
    case("units-0", "POST /jobs", job(layers=[{"units": 0}]), 422, "layers.0.units",
         "NNJOBS_MAX_UNITS"),
    case("units-huge", "POST /jobs", job(layers=[{"units": 4}, {"units": 5000}]), 422,
         "layers.1.units", "4096"),
    case("units-float", "POST /jobs", job(layers=[{"units": 4.5}]), 422, "layers.0.units"),
    case("units-string", "POST /jobs", job(layers=[{"units": "4"}]), 422, "layers.0.units"),
    case("layers-33", "POST /jobs", job(layers=[{"units": 1}] * 33), 422, "layers",
         "NNJOBS_MAX_LAYERS"),
    case("epochs-0", "POST /jobs", job(training={"epochs": 0}), 422, "training.epochs",
         "NNJOBS_MAX_EPOCHS"),
    case("epochs-huge", "POST /jobs", job(training={"epochs": 10**6}), 422, "training.epochs",
         "100000"),
    case("batch-0", "POST /jobs", job(training={"batch_size": 0}), 422, "training.batch_size",
         "NNJOBS_MAX_BATCH_SIZE"),
    case("batch-huge", "POST /jobs", job(training={"batch_size": 10**6}), 422,
         "training.batch_size", "65536"),
    case("lr-0", "POST /jobs", job(training={"learning_rate": 0}), 422,
         "training.learning_rate", "(0, 10]"),
    case("lr-negative", "POST /jobs", job(training={"learning_rate": -0.1}), 422,
         "training.learning_rate"),
    case("lr-huge", "POST /jobs", job(training={"learning_rate": 1e3}), 422,
         "training.learning_rate"),
    case("lr-1e400", "POST /jobs",
         text('{"data": {"synthetic": {"name": "xor"}}, "training": {"learning_rate": 1e400}}'),
         422, "training.learning_rate"),
    case("compute-budget", "POST /jobs",
         job(data=SPIRAL, layers=[{"units": 64}, {"units": 64}], training={"epochs": 500}),
         413, "training", "NNJOBS_MAX_COMPUTE"),
    # 2 training rows, 10 validation rows: 4.8e5 weight updates for training alone
    case("validation-compute", "POST /jobs",
         job(training={"epochs": 20_000, "validation_split": 0.9}), 413, "training",
         "NNJOBS_MAX_COMPUTE"),
    case("parameters", "POST /jobs", job(layers=[{"units": 4096}] * 32), 413, "layers",
         "NNJOBS_MAX_PARAMETERS"),
    case("bad-query", "GET /jobs?status=done", None, 422, says="status"),
    case("unknown-query", "GET /models?colour=red", None, 422, says="colour"),
    # -- predictions ---------------------------------------------------------------------
    case("wrong-features", "POST /predict", {"model_id": "{model}", "inputs": [[1, 2, 3]]},
         422, "inputs", "feature"),
    case("string-input", "POST /models/{model}/predict", {"inputs": [[1, "x"]]}, 422, "inputs",
         "a string"),
    case("ragged-inputs", "POST /predict", {"model_id": "{model}", "inputs": [[1, 2], [1]]},
         422, "inputs", "same length"),
    case("unknown-model", "POST /predict", {"model_id": "nope", "inputs": [[1, 2]]}, 404,
         says="nope"),
    case("still-training", "POST /predict", {"model_id": "{running}", "inputs": [[1, 2]]}, 409,
         says="running"),
    case("still-training-path", "POST /models/{running}/predict", {"inputs": [[1, 2]]}, 409,
         says="not ready"),
    case("model-id-trick", "POST /predict", {"model_id": "../../etc/passwd", "inputs": [[1]]},
         422, "model_id"),
    # -- ids that try path tricks --------------------------------------------------------
    case("dotdot", "GET /jobs/..", None, 404),
    case("dotdot-encoded", "GET /jobs/%2e%2e", None, 404),
    case("slash-encoded", "GET /models/..%2F..%2Fetc%2Fpasswd", None, 404),
    case("backslash", "DELETE /models/..%5c..", None, 404),
    case("long-id", "GET /jobs/" + "a" * 5000, None, 404),
    case("unicode-id", "GET /models/%C3%A9t%C3%A9", None, 404),
    case("unicode-raw", "DELETE /jobs/\u202eabc", None, 404),
    case("nul-id", "DELETE /jobs/a%00b", None, 404),
    case("trick-predict", "POST /models/%2e%2e/predict", {"inputs": [[1, 2]]}, 404),
    case("bad-version", "GET /models/xor@-1", None, 404),
]
# fmt: on


@pytest.fixture(scope="module")
def world(redis_url):
    """An app with small limits, a trained model and a job that is still running."""
    prefix = f"nnjobs-test-{uuid.uuid4().hex[:10]}"
    app = make_app(redis_url, prefix, **LIMITS)
    client = app.test_client()
    registry = app.extensions["nnjobs"].registry
    r = redis.Redis.from_url(redis_url)
    done = client.post("/jobs", json=job(name="xor")).get_json()
    model = run_job(registry, done["id"])
    running = client.post("/jobs", json=job(name="slow")).get_json()
    registry.start_job(running["id"])
    yield {"client": client, "r": r, "prefix": prefix, "model": model["id"], "running": running}
    keys = list(r.scan_iter(f"{prefix}*"))
    if keys:
        r.delete(*keys)
    r.close()


def _fill(value, world):
    text = json.dumps(value) if not isinstance(value, str) else value
    text = text.replace("{model}", world["model"]).replace("{running}", world["running"]["id"])
    return json.loads(text) if not isinstance(value, str) else text


def test_the_table_is_big_enough():
    assert len(CASES) >= 30
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize(("method", "path", "body", "content_type", "code", "field", "says"), CASES)
def test_a_bad_request_is_refused_and_leaves_nothing(
    world, method, path, body, content_type, code, field, says
):
    client, r = world["client"], world["r"]
    path = _fill(path, world)
    kwargs = {}
    if isinstance(body, bytes):
        kwargs["data"] = body
        if content_type is not None:
            kwargs["headers"] = {"Content-Type": content_type}
    elif body is not None:
        kwargs["json"] = _fill(body, world)
    before = stored(r, world["prefix"])
    answer = error(getattr(client, method)(path, **kwargs), code)
    assert says in answer["message"], answer
    if field is not None:
        node = answer["errors"]["json"]
        for key in field:
            assert key in node, (field, answer)
            node = node[key]
        assert isinstance(node, list) and node and all(isinstance(m, str) for m in node)
        # the message alone tells what to fix
        assert answer["message"].startswith(".".join(field) + ": "), answer["message"]
    # the request's own bytes are not echoed back (no reflected input)
    assert "\u202e" not in answer["message"]
    assert stored(r, world["prefix"]) == before
    assert world["running"]["id"] in {
        k.decode().rsplit(":", 1)[-1] for k in r.scan_iter(f"{world['prefix']}:job:*")
    }
