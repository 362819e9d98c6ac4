"""What one prediction or upload may cost the API: the values of an answer, the bytes of
the model cache and the time of a request are bounded by settings, checked before the
cost is paid; and a CSV answer never hands a spreadsheet a formula."""

from __future__ import annotations

import csv
import io
import tracemalloc

import pytest
import redis
import requests
from api_helpers import drop_keys, error, make_app, run_job, stored
from live_service import LiveService

import nn
from domain import prediction, tables
from domain.cache import footprint

XOR_X = [[0.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 0.0]] * 5
CSV = {"Content-Type": "text/csv"}
AS_CSV = {**CSV, "Accept": "text/csv"}


@pytest.fixture
def make(redis_url, key_prefix):
    """An app under the test's prefix with the settings given; its keys removed after."""
    made = []

    def build(**settings):
        app = make_app(redis_url, key_prefix, **settings)
        made.append(app)
        return app

    yield build
    r = redis.Redis.from_url(redis_url)
    drop_keys(r, key_prefix)
    r.close()


def train(app, name: str, units: int = 4, y=None, x=None, **job) -> dict:
    client, registry = app.test_client(), app.extensions["nnjobs"].registry
    body = {
        "name": name,
        "data": {"X": x or XOR_X, "y": y or [0, 0, 1, 1] * 5},
        "layers": [{"units": units}],
        "training": {"epochs": 2, "validation_split": 0},
        **job,
    }
    resp = client.post("/jobs", json=body)
    assert resp.status_code == 202, resp.get_json()
    return run_job(registry, resp.get_json()["id"])


def csv_body(rows: int) -> str:
    return "a,b\n" + "0,1\n" * rows


# -- the values of one answer -------------------------------------------------------------

TEN_CLASSES = {"x": [[float(i), float(i % 3)] for i in range(20)], "y": list(range(10)) * 2}


@pytest.fixture
def ten(make):
    """An app whose answers hold at most 50 values, and a 10-class (softmax) model."""
    app = make(NNJOBS_MAX_ANSWER_VALUES=50)
    train(app, "ten", **TEN_CLASSES)
    return app


@pytest.mark.parametrize("accept", ["application/json", "text/csv"])
@pytest.mark.parametrize("route", ["/predict", "/models/ten/predict"])
def test_an_answer_over_the_limit_is_refused_before_predicting(ten, monkeypatch, route, accept):
    client = ten.test_client()
    body = {"inputs": [[0.0, 1.0]] * 5} | ({"model_id": "ten"} if route == "/predict" else {})
    assert client.post(route, json=body, headers={"Accept": accept}).status_code == 200
    predicted = []
    monkeypatch.setattr(nn.Model, "predict", lambda *a, **k: predicted.append(1))
    body["inputs"] = [[0.0, 1.0]] * 6  # 6 rows x 10 classes: 60 values
    found = error(client.post(route, json=body, headers={"Accept": accept}), 413)
    assert "NNJOBS_MAX_ANSWER_VALUES" in found["message"]
    assert "60 values" in found["message"] and "at most 5 rows" in found["message"]
    assert "NNJOBS_MAX_ANSWER_VALUES" in found["errors"]["json"]["inputs"][0]
    assert predicted == []


@pytest.mark.parametrize("headers", [CSV, AS_CSV])
def test_a_csv_body_whose_answer_is_over_the_limit_is_refused(ten, headers):
    client = ten.test_client()
    assert client.post("/models/ten/predict", data=csv_body(5), headers=headers).status_code == 200
    found = error(client.post("/models/ten/predict", data=csv_body(6), headers=headers), 413)
    assert "NNJOBS_MAX_ANSWER_VALUES" in found["errors"]["csv"]["body"][0]


def test_the_limit_counts_the_models_outputs_not_its_classes_twice(make):
    # a binary model answers one probability per row: 50 rows fit in 50 values
    app = make(NNJOBS_MAX_ANSWER_VALUES=50)
    train(app, "xor")
    client = app.test_client()
    ok = client.post("/predict", json={"model_id": "xor", "inputs": [[0, 1]] * 50})
    assert ok.status_code == 200 and len(ok.get_json()["predictions"]) == 50
    error(client.post("/predict", json={"model_id": "xor", "inputs": [[0, 1]] * 51}), 413)


def test_the_openapi_document_states_the_answer_limit(client):
    spec = client.get("/openapi.json").get_json()
    for path in ("/predict", "/models/{ref}/predict"):
        post = spec["paths"][path]["post"]
        assert "413" in post["responses"] and "503" in post["responses"]
    inputs = spec["components"]["schemas"]["Inputs"]["properties"]["inputs"]
    assert "NNJOBS_MAX_ANSWER_VALUES" in inputs["description"]
    csv_input = spec["paths"]["/models/{ref}/predict"]["post"]["requestBody"]["content"]
    assert "NNJOBS_MAX_ANSWER_VALUES" in csv_input["text/csv"]["schema"]["description"]


# -- the model cache, bounded by bytes ------------------------------------------------------


def expected_bytes(units: int) -> int:
    """A loaded 2-feature, one-output model of one hidden layer: its parameters and
    gradient buffer in float32, and the float64 mean and scale of its 2 features."""
    params = 2 * units + units + units * 1 + 1
    return params * 4 * 2 + 2 * 2 * 8


def test_a_models_footprint_is_its_arrays_measured(make):
    app = make()
    stored_model = train(app, "wide", units=4096)
    blob, _ = app.extensions["nnjobs"].registry.model_blob_and_name(stored_model["id"])
    tracemalloc.start()
    try:
        model = nn.load(blob)
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert footprint(model) == expected_bytes(4096)
    # what loading it keeps is its arrays, give or take its spec and metadata
    assert footprint(model) <= held < footprint(model) * 1.2


def test_a_models_footprint_counts_its_preparations_categories():
    n = 3000
    table = {"c": [f"category-{i:05}" for i in range(n)], "x": list(range(n))}
    spec = {"layers": [{"units": 4}], "training": {"epochs": 1}, "data": {"max_categories": 2}}
    blob = nn.fit(spec, table, [i % 2 for i in range(n)])[0].to_bytes()
    tracemalloc.start()
    try:
        model = nn.load(blob)
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(model.preparation.features[0].folded) == 1000  # most of what it holds
    assert footprint(model) <= held < footprint(model) * 1.5


def test_the_cache_evicts_by_bytes_and_serves_a_model_too_large_without_keeping_it(make):
    small, large = expected_bytes(64), expected_bytes(1024)
    budget = 2.5 * small
    assert large > budget
    app = make(NNJOBS_MODEL_CACHE=10, NNJOBS_MODEL_CACHE_MB=budget / 2**20)
    ids = [train(app, f"m{i}", units=64)["id"] for i in range(3)]
    big = train(app, "big", units=1024)["id"]
    client, cache = app.test_client(), app.extensions["nnjobs"].cache
    for model_id in ids:
        assert (
            client.post("/predict", json={"model_id": model_id, "inputs": [[0, 1]]}).status_code
            == 200
        )
    # room for two: the least recently used went first, though the count allows ten
    assert cache.ids() == ids[1:] and cache.nbytes == 2 * small
    assert client.post("/predict", json={"model_id": ids[1], "inputs": [[0, 1]]}).status_code == 200
    assert client.post("/predict", json={"model_id": big, "inputs": [[0, 1]]}).status_code == 200
    assert cache.ids() == [ids[2], ids[1]] and cache.nbytes == 2 * small
    cache.discard(ids[2])
    assert cache.nbytes == small
    cache.clear()
    assert cache.nbytes == 0 and len(cache) == 0


# -- CSV answers and spreadsheets -----------------------------------------------------------

FORMULAS = ["=1+1", "+cmd", "-x", "@SUM(A1)", "\tx", "\rx"]


def test_text_cells_that_start_a_formula_are_led_by_a_quote(make):
    app = make()
    client, registry = app.test_client(), app.extensions["nnjobs"].registry
    rows = [f"{x},{x % 3},{label}" for x, label in enumerate(["=1+1", "-2", "@go"] * 6)]
    upload = client.post("/datasets?name=f", data="x,z,label\n" + "\n".join(rows), headers=CSV)
    assert upload.status_code == 201, upload.get_json()
    job = {
        "name": "formulas",
        "data": {"dataset": "f", "target": "label", "features": ["x"]},
        "training": {"epochs": 30, "learning_rate": 0.1, "validation_split": 0},
    }
    run_job(registry, client.post("/jobs", json=job).get_json()["id"])
    notes = [*FORMULAS, "-3.5", "+2e3", "-inf", "plain"]
    body = "x,note,=z\n" + "".join(f'{i},"{note}",{i}\n' for i, note in enumerate(notes))
    answer = client.post("/models/formulas/predict", data=body, headers=AS_CSV)
    assert answer.status_code == 200, answer.data[:300]
    got = list(csv.reader(io.StringIO(answer.get_data(as_text=True), newline="")))
    header, cells = got[0], got[1:]
    assert header[:2] == ["note", "'=z"]
    assert [row[0] for row in cells] == [
        *("'" + f for f in FORMULAS),
        "-3.5",  # numbers, a negative one too, are not text
        "+2e3",
        "'-inf",
        "plain",
    ]
    as_json = client.post("/models/formulas/predict", data=body, headers=CSV).get_json()
    labels = {"=1+1": "'=1+1", "-2": "-2", "@go": "'@go"}
    assert [row[-1] for row in cells] == [labels[p] for p in as_json["predictions"]]
    assert set(as_json["classes"]) == set(labels)  # JSON answers keep the labels as they are


def test_negative_predictions_stay_numbers(make):
    app = make()
    train(app, "neg", output="linear", y=[-100.0, -101.0, -102.0, -103.0] * 5)
    answer = app.test_client().post("/models/neg/predict", data=csv_body(2), headers=AS_CSV)
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    assert all(float(row["prediction"]) < 0 for row in rows)


# -- the deadline of a request --------------------------------------------------------------

TINY_DEADLINE = 1e-9


def test_a_prediction_that_outlives_its_deadline_is_answered_503(make):
    app = make(NNJOBS_REQUEST_DEADLINE=TINY_DEADLINE)
    train(app, "xor")
    client = app.test_client()
    # a request of one chunk is done whatever the deadline; the next chunk is not begun
    one_chunk = [[0, 1]] * prediction.ROWS_PER_CHECK
    assert client.post("/predict", json={"model_id": "xor", "inputs": one_chunk}).status_code == 200
    resp = client.post("/predict", json={"model_id": "xor", "inputs": [*one_chunk, [1, 0]]})
    found = error(resp, 503)
    assert resp.headers["Retry-After"].isdigit()
    assert "NNJOBS_REQUEST_DEADLINE" in found["message"]
    assert (
        f"{prediction.ROWS_PER_CHECK} of {prediction.ROWS_PER_CHECK + 1} rows" in (found["message"])
    )
    rows = prediction.ROWS_PER_CHECK
    assert client.post("/models/xor/predict", data=csv_body(rows), headers=CSV).status_code == 200
    error(client.post("/models/xor/predict", data=csv_body(rows + 1), headers=AS_CSV), 503)


def test_with_the_default_deadline_the_same_requests_are_answered_whole(make):
    app = make()
    model_id = train(app, "ten", **TEN_CLASSES)["id"]
    rows = [[float(i % 7), float(i % 3)] for i in range(prediction.ROWS_PER_CHECK * 2 + 1)]
    resp = app.test_client().post("/predict", json={"model_id": "ten", "inputs": rows})
    assert resp.status_code == 200
    blob, _ = app.extensions["nnjobs"].registry.model_blob_and_name(model_id)
    # predicted chunk by chunk, answered as one
    assert resp.get_json() == {"model_id": model_id, **nn.load(blob).predict(rows)}


@pytest.mark.parametrize(
    "body",
    [
        "a,b\n" + "1,2\n" * (tables.ROWS_PER_CHECK + 1),  # rows parsed
        # 500 rows of 101 columns: typed 100 columns at a time
        ",".join(f"c{j}" for j in range(101)) + "\n" + (("1," * 101)[:-1] + "\n") * 500,
    ],
    ids=["rows", "columns"],
)
def test_an_upload_that_outlives_its_deadline_stores_nothing(make, key_prefix, body):
    app = make(NNJOBS_REQUEST_DEADLINE=TINY_DEADLINE)
    client = app.test_client()
    r = app.extensions["nnjobs"].registry.r
    assert client.post("/datasets", data="a,b\n1,2\n", headers=CSV).status_code == 201
    before = stored(r, key_prefix)
    resp = client.post("/datasets", data=body, headers=CSV)
    found = error(resp, 503)
    assert "NNJOBS_REQUEST_DEADLINE" in found["message"] and resp.headers["Retry-After"]
    assert stored(r, key_prefix) == before
    assert client.get("/datasets").get_json()["total"] == 1


def test_a_deadline_must_be_positive(redis_url, key_prefix):
    from registry.settings import SettingsError

    with pytest.raises(SettingsError, match="NNJOBS_REQUEST_DEADLINE must be positive"):
        make_app(redis_url, key_prefix, NNJOBS_REQUEST_DEADLINE=0)


@pytest.mark.slow
def test_under_gunicorn_an_upload_out_of_time_is_answered_not_dropped(redis_url, key_prefix):
    body = "a,b\n" + "1,2\n" * (tables.ROWS_PER_CHECK + 1)
    r = redis.Redis.from_url(redis_url)
    try:
        with LiveService(
            redis_url, key_prefix, workers=1, NNJOBS_REQUEST_DEADLINE=str(TINY_DEADLINE)
        ) as live:
            resp = requests.post(f"{live.url}/datasets", data=body, headers=CSV, timeout=30)
            assert resp.status_code == 503, resp.text[:300]
            assert resp.headers["Retry-After"].isdigit()
            assert "NNJOBS_REQUEST_DEADLINE" in resp.json()["message"]
            assert requests.get(f"{live.url}/datasets", timeout=10).json()["total"] == 0
            assert "WORKER TIMEOUT" not in live.api.output
    finally:
        drop_keys(r, key_prefix)
        r.close()
