"""Small bodies that would cost much: long labels and cells, many columns, integers of
hundreds of digits, names with a trailing newline, lone surrogates, and the paths that were
quadratic in the number of columns. Each is refused naming its field or setting, leaving
nothing stored, or served at a cost proportional to its size.

The memory cases run through the real service (gunicorn, a Celery worker, Redis) and read
the API worker's peak resident memory (``VmHWM``) before and after one request, on a
service of their own so that the peak is that request's.
"""

from __future__ import annotations

import io
import json
import re
import time
from pathlib import Path

import pytest
import redis
import requests
from api_helpers import drop_keys, error, make_app, post_raw, run_job, stored
from live_service import LiveService, descendants

from domain import tables

MB = 2**20
#: what a request may cost the API beyond this many times its body: Python's own parse
#: of JSON or CSV costs about 20 times the bytes it reads (an object per value)
BODY_MULTIPLE = 40
BASELINE = 40 * MB
XOR = {"X": [[0, 0], [1, 1], [0, 1], [1, 0]] * 3, "y": [0, 0, 1, 1] * 3}
CSV = {"Content-Type": "text/csv"}


@pytest.fixture
def world(redis_url, key_prefix):
    r = redis.Redis.from_url(redis_url)

    def app(**limits):
        return make_app(redis_url, key_prefix, **limits)

    yield {"app": app, "stored": lambda: stored(r, key_prefix), "r": r, "prefix": key_prefix}
    drop_keys(r, key_prefix)
    r.close()


# -- memory from small bodies, measured in the real service -------------------------------


def _peak(pid: int) -> int:
    """The peak resident memory of a process, in bytes."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) * 1024


def _api_peaks(service: LiveService) -> dict[int, int]:
    return {pid: _peak(pid) for pid in descendants(service.api.pid)}


def _growth(service: LiveService, send) -> tuple[requests.Response, int]:
    """The answer of ``send()`` and how far it raised the API worker's peak memory."""
    before = _api_peaks(service)
    answer = send()
    after = _api_peaks(service)
    return answer, max(after[pid] - before.get(pid, 0) for pid in after)


@pytest.fixture
def live(redis_url, key_prefix):
    """A service of this test's own (one API worker), whose limits let long text through:
    what is measured is the cost of what is accepted."""
    with LiveService(
        redis_url,
        key_prefix,
        workers=1,
        NNJOBS_MAX_LABEL_LENGTH="1000000",
        NNJOBS_MAX_CELL_LENGTH="1000000",
    ) as service:
        yield service
    r = redis.Redis.from_url(redis_url)
    drop_keys(r, key_prefix)
    r.close()


def test_one_long_label_among_many_costs_its_size_not_rows_times_its_length(live):
    # as a fixed-width string array: 2,000 rows x 200,000 characters x 4 bytes, 1.6 GB
    long = "z" * 200_000
    y = ["a", "b"] * 1000 + [long]
    X = [[i % 7, i % 5] for i in range(len(y))]
    body = json.dumps({"data": {"X": X, "y": y}, "training": {"epochs": 2}}).encode()
    answer, growth = _growth(
        live,
        lambda: requests.post(
            f"{live.url}/jobs", data=body, headers={"Content-Type": "application/json"}
        ),
    )
    assert answer.status_code == 202, answer.text[:300]
    assert growth < BODY_MULTIPLE * len(body) + BASELINE, (growth, len(body))
    # the worker trains on the labels as stored, and the model names the long one
    job_id = answer.json()["id"]
    deadline = time.monotonic() + 60
    while (job := requests.get(f"{live.url}/jobs/{job_id}").json())["status"] in (
        "queued",
        "running",
    ):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert job["status"] == "succeeded", job["error"]
    model = requests.get(f"{live.url}/models/{job['model_id']}").json()
    assert model["classes"] == ["a", "b", long]


def test_many_classes_cost_no_one_hot_rows_when_a_job_is_checked(live):
    # one-hot targets of 100,000 rows x 500 classes: 400 MB of float64, and the split's
    # float32 copies on top, for a body of about 1 MB
    y = [i % 500 for i in range(100_000)]
    body = json.dumps(
        {
            "data": {"X": [[i % 7] for i in range(len(y))], "y": y},
            "layers": [],
            "training": {"epochs": 1},
        }
    ).encode()
    answer, growth = _growth(
        live,
        lambda: requests.post(
            f"{live.url}/jobs", data=body, headers={"Content-Type": "application/json"}
        ),
    )
    assert answer.status_code == 202, answer.text[:300]
    requests.delete(f"{live.url}/jobs/{answer.json()['id']}")
    assert answer.json()["data"]["classes"] == list(range(500))
    assert growth < BODY_MULTIPLE * len(body) + BASELINE, (growth, len(body))


def test_one_long_csv_cell_among_many_costs_its_size(live):
    # as a fixed-width string array: 4,000 cells x 120,000 characters x 4 bytes, 1.9 GB
    rows = [f"{i},{'a' if i % 2 else 'b'}" for i in range(2000)]
    rows[7] = "7," + "x" * 120_000
    body = ("n,t\n" + "\n".join(rows) + "\n").encode()
    answer, growth = _growth(
        live, lambda: requests.post(f"{live.url}/datasets", data=body, headers=CSV)
    )
    assert answer.status_code == 201, answer.text[:300]
    assert growth < BODY_MULTIPLE * len(body) + BASELINE, (growth, len(body))
    [_, text] = answer.json()["columns"]
    assert text["kind"] == "text" and text["n_distinct"] == 3


# -- the limits on labels, cells and columns ----------------------------------------------


def test_a_long_label_is_refused_naming_the_setting(world):
    client, before = world["app"]().test_client(), world["stored"]()
    y = ["a", "b"] * 6
    y[3] = "z" * 1001
    body = error(client.post("/jobs", json={"data": {"X": XOR["X"], "y": y}}), 413)
    assert body["message"].startswith("data.y: label 3 has 1001 characters")
    assert "NNJOBS_MAX_LABEL_LENGTH" in body["message"]
    assert world["stored"]() == before


def test_a_long_label_in_a_dataset_target_is_refused_naming_the_setting(world):
    client = world["app"](NNJOBS_MAX_LABEL_LENGTH=5).test_client()
    text = "x,label\n" + "".join(f"{i},{'short' if i % 2 else 'longer'}\n" for i in range(6))
    assert client.post("/datasets?name=d", data=text, headers=CSV).status_code == 201
    before = world["stored"]()
    body = error(client.post("/jobs", json={"data": {"dataset": "d", "target": "label"}}), 413)
    assert body["message"].startswith("data.target: column 'label': label 0 has 6 characters")
    assert "NNJOBS_MAX_LABEL_LENGTH" in body["message"]
    assert world["stored"]() == before


@pytest.mark.parametrize(
    ("limits", "text", "says"),
    [
        ({"NNJOBS_MAX_CELL_LENGTH": 10}, "a,b\n1," + "x" * 11 + "\n", "NNJOBS_MAX_CELL_LENGTH"),
        ({"NNJOBS_MAX_CELL_LENGTH": 10}, "a," + "b" * 11 + "\n1,2\n", "NNJOBS_MAX_CELL_LENGTH"),
        ({"NNJOBS_MAX_DATASET_COLUMNS": 3}, "a,b,c,d\n1,2,3,4\n", "NNJOBS_MAX_DATASET_COLUMNS"),
    ],
    ids=["cell", "header-name", "columns"],
)
def test_cells_and_columns_over_their_limits_are_refused(world, limits, text, says):
    client, before = world["app"](**limits).test_client(), world["stored"]()
    body = error(client.post("/datasets", data=text, headers=CSV), 413)
    assert says in body["message"], body
    assert world["stored"]() == before


def test_the_columns_are_counted_on_the_header_before_the_rows_are_read(world):
    client, before = world["app"](NNJOBS_MAX_DATASET_COLUMNS=100).test_client(), world["stored"]()
    header = ",".join(f"c{j}" for j in range(101))
    # the rows are not CSV (a quote never closed): only the header was read
    body = error(client.post("/datasets", data=header + '\n"1,2\n', headers=CSV), 413)
    assert "101 columns, over the limit of 100 (NNJOBS_MAX_DATASET_COLUMNS)" in body["message"]
    assert world["stored"]() == before


def test_the_column_limit_applies_to_csv_prediction_bodies(world):
    app = world["app"](NNJOBS_MAX_DATASET_COLUMNS=3)
    client = app.test_client()
    job = client.post("/jobs", json={"name": "xor", "data": XOR, "training": {"epochs": 2}})
    run_job(app.extensions["nnjobs"].registry, job.json["id"])
    before = world["stored"]()
    body = error(client.post("/models/xor/predict", data="a,b,c,d\n1,2,3,4\n", headers=CSV), 413)
    assert "NNJOBS_MAX_DATASET_COLUMNS" in body["message"]
    assert world["stored"]() == before


def test_text_columns_stay_object_arrays():
    bounds = tables.Bounds(10, 10, 1000)
    table = tables.read(b"t\n" + b"x" * 900 + b"\nb\n  a \nNA\n", bounds)
    [col] = tables.columns(table)
    assert col.values.dtype == object and col.values.tolist() == ["x" * 900, "b", "a", None]
    assert col.describe()["values"] == ["a", "b", "x" * 900]


# -- numbers and text ---------------------------------------------------------------------

HUGE = "9" * 400  # beyond a float, so the body is parsed by json, which keeps it an int


def _job_text(**fields: str) -> str:
    """A job's JSON with the given dotted fields set to raw JSON text."""
    job = {"data": {"X": XOR["X"], "y": XOR["y"]}, "layers": [{"units": 2}], "training": {}}
    for dotted in fields:
        *parents, last = dotted.split(".")
        node = job
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[last] = f"@@{last}@@"
    text = json.dumps(job)
    for dotted, raw in fields.items():
        text = text.replace(f'"@@{dotted.rsplit(".", 1)[-1]}@@"', raw)
    return text


@pytest.mark.parametrize(
    "field",
    [
        "training.epochs",
        "training.batch_size",
        "training.seed",
        "layers.0.units",
        "layers.0.pieces",
        "training.early_stopping",
    ],
)
@pytest.mark.parametrize("number", [HUGE, "-" + HUGE, str(2**64)])
def test_an_integer_beyond_64_bits_in_a_body_is_refused_naming_its_field(world, field, number):
    client, before = world["app"]().test_client(), world["stored"]()
    text = _job_text(**{field: number})
    if field == "training.early_stopping":
        text = _job_text(**{field: f'{{"patience": {number}}}'})
        field += ".patience"
    if field == "layers.0.pieces":
        text = text.replace('"units": 2', '"units": 2, "activation": "maxout"')
    body = error(post_raw(client, "/jobs", text.encode()), 422)
    assert body["message"].startswith(f"{field}: must be"), body["message"]
    assert world["stored"]() == before


def test_a_synthetic_set_with_huge_integers_is_refused(world):
    client = world["app"]().test_client()
    for name in ("n_samples", "seed"):
        text = json.dumps({"data": {"synthetic": {"name": "xor", name: 0}}})
        text = text.replace(f'"{name}": 0', f'"{name}": {HUGE}')
        body = error(post_raw(client, "/jobs", text.encode()), 422)
        assert body["message"].startswith(f"data.synthetic.{name}: must be in [")


def _operations(spec: dict):
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            if isinstance(op, dict):
                yield path, method, op


def test_every_integer_query_parameter_is_bounded_and_refuses_huge_values(world):
    client = world["app"]().test_client()
    spec = client.get("/openapi.json").json
    seen = set()
    for path, method, op in _operations(spec):
        for param in op.get("parameters", []):
            if param["in"] != "query" or param["schema"].get("type") != "integer":
                continue
            assert {"minimum", "maximum"} <= param["schema"].keys(), (path, param)
            url = re.sub(r"\{[^}]+\}", "maxout", path) + f"?{param['name']}={HUGE}"
            body = error(getattr(client, method)(url), 422)
            assert body["message"].startswith(f"{param['name']}: "), (url, body)
            seen.add(param["name"])
    assert {"page", "page_size", "n_samples", "seed", "pieces", "points"} <= seen


def _refs(node) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"].rsplit("/", 1)[-1]} if "$ref" in node else set()
        return found.union(*map(_refs, node.values()))
    if isinstance(node, list):
        return set().union(*map(_refs, node))
    return set()


def test_every_integer_field_of_a_request_body_shows_its_bounds(world):
    spec = world["app"]().test_client().get("/openapi.json").json
    schemas = spec["components"]["schemas"]
    todo = _refs([op.get("requestBody", {}) for _, _, op in _operations(spec)])
    reached: set[str] = set()
    while todo:
        name = todo.pop()
        reached.add(name)
        todo |= _refs(schemas[name]) - reached
    found = set()
    for name in reached:
        for prop, value in schemas[name].get("properties", {}).items():
            if value.get("type") == "integer":
                assert {"minimum", "maximum"} <= value.keys(), (name, prop, value)
                found.add(f"{name}.{prop}")
    assert {"Layer.units", "Training.epochs", "Training.seed", "Synthetic.n_samples"} <= found


def test_bounds_set_by_a_setting_are_shown_as_configured(world):
    spec = world["app"](NNJOBS_MAX_UNITS=64).test_client().get("/openapi.json").json
    units = spec["components"]["schemas"]["Layer"]["properties"]["units"]
    assert (units["minimum"], units["maximum"], units["x-limit"]) == (1, 64, "NNJOBS_MAX_UNITS")


@pytest.mark.parametrize(
    ("request_line", "body", "field"),
    [
        ("POST /jobs", {"name": "spirals\n", "data": XOR}, "name"),
        ("POST /jobs", {"data": {"dataset": "iris\n", "target": "y"}}, "data.dataset"),
        ("POST /predict", {"model_id": "xor\n", "inputs": [[1, 2]]}, "model_id"),
        ("POST /sweeps", {"name": "s\n", "job": {"data": XOR}, "vary": {"l2": [0]}}, "name"),
        ("GET /models?name=xor%0A", None, "name"),
        ("POST /datasets?name=iris%0A", "a,b\n1,2\n", "name"),
    ],
)
def test_a_name_with_a_trailing_newline_is_refused(world, request_line, body, field):
    client, before = world["app"]().test_client(), world["stored"]()
    method, path = request_line.split(" ")
    kwargs = {"data": body, "headers": CSV} if isinstance(body, str) else {"json": body}
    answer = error(getattr(client, method.lower())(path, **kwargs), 422)
    assert answer["message"].startswith(f"{field}: "), answer
    assert world["stored"]() == before


def test_a_name_with_a_trailing_newline_is_refused_in_a_multipart_upload(world):
    client, before = world["app"]().test_client(), world["stored"]()
    answer = client.post(
        "/datasets",
        data={"file": (io.BytesIO(b"a,b\n1,2\n"), "d.csv"), "name": "d\n"},
        content_type="multipart/form-data",
    )
    assert error(answer, 422)["message"].startswith("name: ")
    assert world["stored"]() == before


def test_the_documented_name_patterns_are_anchored_at_both_ends(world):
    text = world["app"]().test_client().get("/openapi.json").get_data(as_text=True)
    patterns = re.findall(r'"pattern":\s*"((?:[^"\\]|\\.)*)"', text)
    assert patterns
    # ECMAScript's $ (no multiline flag) matches at the end only, as fullmatch does
    assert all(p.startswith("^") and p.endswith("$") for p in patterns), patterns


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('{"data": {"X": [[0], [1]], "y": ["a", "\\ud800"]}}', "data.y.1"),
        ('{"name": "\\udc00x", "data": {"synthetic": {"name": "xor"}}}', "name"),
        ('{"data": {"dataset": "d", "target": "\\ud83d"}}', "data.target"),
        (
            '{"data": {"synthetic": {"name": "xor"}}, "layers": [{"units": 2, "activation": '
            '"relu\\udfff"}]}',
            "layers.0.activation",
        ),
    ],
)
def test_a_lone_surrogate_is_refused_at_the_edge(world, text, field):
    client, before = world["app"]().test_client(), world["stored"]()
    body = error(post_raw(client, "/jobs", text.encode()), 422)
    assert body["message"].startswith(f"{field}: holds a lone surrogate"), body
    node = body["errors"]["json"]
    for key in field.split("."):
        node = node[key]
    assert isinstance(node, list)
    assert world["stored"]() == before


def test_a_surrogate_pair_is_text(world):
    client = world["app"]().test_client()
    text = (
        '{"data": {"X": [[0], [1], [2], [3]], "y": ["\\ud83d\\ude00", "b", "\\ud83d\\ude00", "b"]}}'
    )
    job = post_raw(client, "/jobs", text.encode())
    assert job.status_code == 202 and job.json["data"]["classes"] == ["b", "\U0001f600"]


# -- linear in the number of columns ------------------------------------------------------


def _fastest(send, repeats: int = 3) -> float:
    # this process's CPU time (the app runs in it, in this thread): other processes busy
    # on the same cores stretch wall time, not the work done
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        send()
        best = min(best, time.process_time() - started)
    return best


def _ratio(cost, small: int) -> float:
    """How much more 10 times the columns cost (linear: about 10; quadratic: about 100)."""
    cost(small)  # warm: the model cache, imports
    return _fastest(lambda: cost(10 * small)) / _fastest(lambda: cost(small))


def test_a_csv_prediction_costs_linear_time_in_its_columns(world):
    app = world["app"](NNJOBS_MAX_DATASET_COLUMNS=100_000)
    client = app.test_client()
    # a model trained on a dataset's columns a and b, which a CSV body's header names
    text = "a,b,y\n" + "".join(f"{i % 2},{i // 2 % 2},{i % 2}\n" for i in range(8))
    assert client.post("/datasets?name=ab", data=text, headers=CSV).status_code == 201
    job = client.post(
        "/jobs", json={"name": "xor", "data": {"dataset": "ab", "target": "y"}, "training": {}}
    )
    run_job(app.extensions["nnjobs"].registry, job.json["id"])

    def predict(n_columns: int):
        # the model takes the first two; the others are copied to the answer
        header = "a,b," + ",".join(f"k{j}" for j in range(n_columns - 2))
        row = "1,0," + ",".join("x" for _ in range(n_columns - 2))
        answer = client.post(
            "/models/xor/predict",
            data=f"{header}\n{row}\n",
            headers={**CSV, "Accept": "text/csv"},
        )
        assert answer.status_code == 200, answer.data[:300]

    assert _ratio(predict, 2_000) < 30


def test_a_job_naming_many_features_costs_linear_time(world):
    app = world["app"](NNJOBS_MAX_DATASET_COLUMNS=100_000)
    client = app.test_client()
    for n in (1_500, 15_000):
        header = ",".join(f"f{j}" for j in range(n)) + ",y"
        text = header + "\n" + "1," * n + "0\n" + "0," * n + "1\n"
        assert client.post(f"/datasets?name=wide{n}", data=text, headers=CSV).status_code == 201

    def submit(n: int):
        features = [f"f{j}" for j in range(n)]
        # one named twice: refused once every list has been scanned, before any column
        # is loaded
        data = {"dataset": f"wide{n}", "target": "y", "features": [*features, features[-1]]}
        answer = client.post("/jobs", json={"data": data})
        assert "is named twice" in error(answer, 422)["message"]

    assert _ratio(submit, 1_500) < 30
