"""CSV datasets: parsing, upload, jobs on a dataset's columns, CSV predictions, and every
refusal naming the column or row at fault while leaving nothing stored."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest
import redis
from api_helpers import drop_keys, error, make_app, run_job, stored, wait_for_job, worker_thread

from domain import tables

IRIS = (Path(__file__).resolve().parent.parent / "examples" / "iris.csv").read_bytes()


def read(
    text: str | bytes, max_rows: int = 1000, columns: int = 100, cell: int = 100
) -> tables.Table:
    bounds = tables.Bounds(max_rows, columns, cell)
    return tables.read(text.encode() if isinstance(text, str) else text, bounds)


def kinds(text: str) -> dict:
    return {c.name: c.describe() for c in tables.columns(read(text))}


# -- parsing ------------------------------------------------------------------------------


def test_quoted_fields_hold_commas_quotes_and_line_breaks():
    table = read('id,note,x\n1,"a, b",2\n2,"say ""hi""\nthen go",3\n')
    assert table.header == ["id", "note", "x"] and table.n_rows == 2
    assert table.cells[1] == ("a, b", 'say "hi"\nthen go')


def test_a_byte_order_mark_and_crlf_line_ends_are_read():
    table = read(b"\xef\xbb\xbfa,b\r\n1,2\r\n3,4\r\n")
    assert table.header == ["a", "b"] and table.cells == [("1", "3"), ("2", "4")]


def test_blank_lines_are_skipped():
    table = read("a,b\n\n1,2\n   \n\n3,4\n\n")
    assert table.n_rows == 2 and table.cells[0] == ("1", "3")


def test_missing_values_are_the_documented_tokens():
    cells = (*tables.MISSING, " NA ", "1.5")
    col = tables.column("x", cells)
    assert col.kind == "numeric"
    assert col.missing.tolist() == [True] * (len(cells) - 1) + [False]
    assert np.isnan(col.values[:-1]).all() and col.values[-1] == 1.5
    text = tables.column("t", ("a", "NA", "", "none"))
    assert text.kind == "text" and text.values.tolist() == ["a", None, None, "none"]


def test_column_kinds_and_their_description():
    found = kinds("n,b,t,e\n1,true,x,\n2.5,FALSE,y,NA\n-3e2,,x,\n")
    assert found["n"] == {"name": "n", "kind": "numeric", "missing": 0, "min": -300.0, "max": 2.5}
    assert found["b"] == {
        "name": "b",
        "kind": "boolean",
        "missing": 1,
        "n_distinct": 2,
        "values": [False, True],
    }
    assert found["t"]["kind"] == "text" and found["t"]["values"] == ["x", "y"]
    assert found["e"] == {"name": "e", "kind": "numeric", "missing": 3, "min": None, "max": None}


def test_many_distinct_values_are_counted_not_listed():
    rows = "\n".join(f"v{i}" for i in range(tables.MAX_LISTED + 1))
    [col] = tables.columns(read("t\n" + rows + "\n"))
    assert col.describe()["n_distinct"] == tables.MAX_LISTED + 1
    assert col.describe()["values"] is None


def test_columns_survive_storage_with_their_missing_values():
    for col in tables.columns(read("n,b,t\n1,true,x\nNA,,\n")):
        back = tables.Column.from_bytes(col.name, col.kind, col.to_bytes())
        assert back.missing.tolist() == [False, True]
        assert back.values[0] == col.values[0]
    assert tables.columns(read("n\n1\n"))[0].to_bytes().startswith(b"\x93NUMPY")


def test_a_ragged_row_is_named_by_data_row_and_line():
    with pytest.raises(tables.TableError) as e:
        read('a,b\n1,"x\ny"\n\n2,3,4\n')
    assert e.value.status == 422
    assert "data row 2 (line 5) has 3 fields; the header has 2" in e.value.message


# -- the API ------------------------------------------------------------------------------


@pytest.fixture
def store(redis_url, key_prefix):
    r = redis.Redis.from_url(redis_url)
    yield lambda: stored(r, key_prefix)
    r.close()


def upload(client, data: bytes | str, name: str | None = None):
    path = "/datasets" + (f"?name={name}" if name else "")
    return client.post(path, data=data, headers={"Content-Type": "text/csv"})


def test_upload_as_the_body_and_as_a_multipart_file(client):
    r = upload(client, IRIS, name="iris")
    assert r.status_code == 201, r.json
    dataset = r.json
    assert r.headers["Location"] == f"/datasets/{dataset['id']}"
    assert dataset["name"] == "iris" and dataset["n_rows"] == 150 and dataset["n_columns"] == 5
    assert dataset["size_bytes"] == len(IRIS)
    assert [c["kind"] for c in dataset["columns"]] == ["numeric"] * 4 + ["text"]
    assert dataset["columns"][4]["values"] == ["setosa", "versicolor", "virginica"]
    assert client.get(r.headers["Location"]).json == dataset
    assert client.get("/datasets/iris").json == dataset  # by name: the newest of that name

    r = client.post(
        "/datasets",
        data={"file": (io.BytesIO(IRIS), "flowers 2024.csv")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 201 and r.json["name"] == "flowers_2024"
    assert r.json["columns"] == dataset["columns"]
    r = client.post(
        "/datasets",
        data={"file": (io.BytesIO(IRIS), "x.csv"), "name": "named"},
        content_type="multipart/form-data",
    )
    assert r.status_code == 201 and r.json["name"] == "named"
    assert upload(client, "a\n1\n").json["name"] == "dataset"

    listing = client.get("/datasets?page_size=2").json
    assert listing["total"] == 4 and listing["page_size"] == 2 and len(listing["items"]) == 2
    assert listing["items"][0]["name"] == "dataset"  # newest first

    assert client.delete(f"/datasets/{dataset['id']}").status_code == 204
    error(client.get(f"/datasets/{dataset['id']}"), 404)
    error(client.get("/datasets/iris"), 404)
    error(client.delete(f"/datasets/{dataset['id']}"), 404)
    assert client.delete("/datasets/named").status_code == 204
    assert client.get("/datasets").json["total"] == 2


UPLOAD_REFUSALS = [
    ("empty", b"", 422, "is empty"),
    ("blank lines only", b"\n\n\r\n", 422, "is empty"),
    ("header only", b"a,b\n", 422, "has a header but no data rows"),
    ("semicolons", b"a;b;c\n1;2;3\n", 422, "separated by semicolons"),
    ("tabs", b"a\tb\n1\t2\n", 422, "separated by tabs"),
    ("ragged row", b"a,b\n1,2\n3\n", 422, "data row 2 (line 3) has 1 fields"),
    ("duplicate header", b"a,b,a\n1,2,3\n", 422, "column 'a' appears twice"),
    ("empty header name", b"a,,c\n1,2,3\n", 422, "column 2 of the header has no name"),
    ("bad UTF-8", b"a,b\n1,\xff\n", 400, "not valid UTF-8 (byte 6"),
    ("unclosed quote", b'a,b\n1,"x\n2,3\n', 422, "line 3 of the file is not CSV"),
    ("text after a quote", b'a,b\n1,"x"y\n', 422, "line 2 of the file is not CSV"),
    ("huge field", b"a,b\n1," + b"x" * 200_000 + b"\n", 422, "field larger than field limit"),
    ("Latin-1", "a,b\n1,caf\u00e9\n".encode("latin-1"), 400, "not valid UTF-8"),
    ("infinity", b"a,b\n1,2\n3,inf\n", 422, "column 'b', data row 2: 'inf' is not a finite"),
    ("-Infinity", b"a,b\n-Infinity,2\n", 422, "column 'a', data row 1: '-Infinity' is not"),
    ("beyond float", b"a,b\n1,NA\n2,1e400\n", 422, "data row 2: '1e400' is not a finite"),
]


@pytest.mark.parametrize(
    ("data", "code", "says"),
    [case[1:] for case in UPLOAD_REFUSALS],
    ids=[case[0] for case in UPLOAD_REFUSALS],
)
def test_a_bad_file_is_refused_saying_why_and_nothing_is_stored(client, store, data, code, says):
    before = store()
    body = error(upload(client, data), code)
    assert says in body["message"], body
    assert store() == before


def test_where_a_refusal_points_is_in_its_errors(client):
    assert error(upload(client, b"a,b,a\n1,2,3\n"), 422)["errors"] == {
        "csv": {"a": ["column 'a' appears twice in the header (columns 1 and 3)"]}
    }
    assert list(error(upload(client, b"a,b\n1,2\n3\n"), 422)["errors"]["csv"]) == ["row 2"]


def test_the_row_and_size_limits_are_named_with_their_values(redis_url, key_prefix, store):
    client = make_app(
        redis_url, key_prefix, NNJOBS_MAX_DATASET_ROWS=100, NNJOBS_MAX_DATASET_MB=0.001
    ).test_client()
    before = store()
    body = error(upload(client, IRIS), 413)
    assert "NNJOBS_MAX_DATASET_MB" in body["message"]
    assert "0.001 MiB" in body["message"]
    multipart = client.post(
        "/datasets",
        data={"file": (io.BytesIO(IRIS), "iris.csv")},
        content_type="multipart/form-data",
    )
    assert "NNJOBS_MAX_DATASET_MB" in error(multipart, 413)["message"]
    client = make_app(redis_url, key_prefix, NNJOBS_MAX_DATASET_ROWS=100).test_client()
    body = error(upload(client, IRIS), 413)
    assert "more than 100 data rows" in body["message"]
    assert "NNJOBS_MAX_DATASET_ROWS" in body["message"]
    assert upload(client, b"a\n" + b"1\n" * 100).status_code == 201  # at the limit
    r = redis.Redis.from_url(redis_url)
    drop_keys(r, key_prefix)
    r.close()
    assert store() == before


def test_the_request_body_limit_applies_too(redis_url, key_prefix):
    client = make_app(redis_url, key_prefix, NNJOBS_MAX_BODY_MB=0.001).test_client()
    assert "NNJOBS_MAX_BODY_MB" in error(upload(client, IRIS), 413)["message"]


def test_other_bodies_are_refused(client):
    r = client.post("/datasets", json={"a": 1})
    assert "text/csv" in error(r, 415)["message"]
    r = client.post(
        "/datasets", data={"other": (io.BytesIO(IRIS), "x.csv")}, content_type="multipart/form-data"
    )
    assert "file" in error(r, 422)["errors"]["files"]
    r = client.post(
        "/datasets",
        data={"file": (io.BytesIO(IRIS), "x.csv"), "name": "no spaces"},
        content_type="multipart/form-data",
    )
    assert "name" in error(r, 422)["errors"]["form"]
    assert "name" in error(upload(client, IRIS, name="a%20b"), 422)["errors"]["query"]


# -- jobs on a dataset --------------------------------------------------------------------

MIXED = (
    "id,x1,x2,flag,label,score,a,b\n"
    "r1,0.1,1,true,cat,1.5,1,0\n"
    "r2,0.2,2,false,dog,2.5,0,1\n"
    "r3,0.3,NA,true,cat,,1,1\n"
    "r4,0.4,4,false,,4.5,0,0\n"
    "r5,0.5,5,true,dog,5.5,1,0\n"
)

JOB_REFUSALS = [
    # (data beyond the dataset id, field, words of the message)
    (
        {"target": "flag", "features": ["x1", "x2"], "missing": "refuse"},
        "features",
        "'x2' has a missing value in data row 3",
    ),
    (
        {
            "target": "flag",
            "features": ["x1", "id"],
            "max_categories": 4,
            "high_cardinality": "refuse",
        },
        "features",
        "column 'id' has 5 distinct values, over the cap of 4 categories",
    ),
    ({"target": "flag", "features": {"id": "numeric"}}, "features", "'r1' is not a number"),
    ({"target": "flag", "features": {"nope": "drop"}}, "features", "no column 'nope'"),
    (
        {"target": "label", "features": ["x1"]},
        "target",
        "'label' has a missing value in data row 4",
    ),
    (
        {"target": "score", "features": ["x1"]},
        "target",
        "'score' has a missing value in data row 3",
    ),
    ({"target": "species", "features": ["x1"]}, "target", "no column 'species'"),
    ({"target": "flag", "features": ["x1", "nope"]}, "features", "no column 'nope'"),
    ({"target": ["a", "label"], "features": ["x1"]}, "target", "'label' is text"),
    ({"target": "flag", "features": ["x1", "flag"]}, "features", "'flag' is the target"),
    ({"target": "flag", "features": ["x1", "x1"]}, "features", "'x1' is named twice"),
]


@pytest.fixture
def mixed(client):
    r = upload(client, MIXED, name="mixed")
    assert r.status_code == 201, r.json
    return r.json["id"]


@pytest.mark.parametrize(
    ("data", "field", "says"), JOB_REFUSALS, ids=[f"{c[1]}: {c[2]}" for c in JOB_REFUSALS]
)
def test_a_job_on_bad_columns_is_refused_naming_them(client, store, mixed, data, field, says):
    before = store()
    body = error(client.post("/jobs", json={"data": {"dataset": mixed, **data}}), 422)
    assert says in body["message"] and body["message"].startswith(f"data.{field}: ")
    assert field in body["errors"]["json"]["data"]
    assert store() == before


def test_a_job_on_an_unknown_dataset_is_refused(client, store):
    before = store()
    body = error(client.post("/jobs", json={"data": {"dataset": "nope", "target": "y"}}), 422)
    assert body["message"] == "data.dataset: no dataset 'nope'"
    assert store() == before


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"dataset": "d"}, "target"),
        ({"dataset": "d", "target": "y", "X": [[1]]}, "X"),
        ({"X": [[1]], "y": [1], "target": "y"}, "target"),
        ({"dataset": "d", "target": []}, "target"),
        ({"dataset": "d", "target": ["a", "a"]}, "target"),
        ({"dataset": "d", "target": "y", "features": []}, "features"),
    ],
)
def test_the_dataset_form_is_checked_like_the_others(client, data, field):
    body = error(client.post("/jobs", json={"data": data}), 422)
    assert field in body["errors"]["json"]["data"], body


def test_targets_of_every_kind(app, mixed):
    client, registry = app.test_client(), app.extensions["nnjobs"].registry
    training = {"epochs": 2, "validation_split": 0}
    cases = [
        ("flag", ["x1"], "binary", [False, True]),
        (["a", "b"], ["x1", "flag"], "multilabel", [0, 1]),
        ("a", ["x1"], "binary", [0, 1]),
    ]
    for target, features, kind, classes in cases:
        job = {
            "name": "m",
            "data": {"dataset": mixed, "target": target, "features": features},
            "training": training,
        }
        r = client.post("/jobs", json=job)
        assert r.status_code == 202, r.json
        assert r.json["data"]["kind"] == kind and r.json["data"]["classes"] == classes
        assert r.json["data"]["features"] == features and r.json["data"]["dataset"] == mixed
        recorded = {k: v for k, v in r.json["spec"]["data"].items() if k != "preparation"}
        assert recorded == {"dataset": mixed, "target": target, "features": features}
        assert r.json["spec"]["data"]["preparation"]["features"][0]["name"] == "x1"
        model = run_job(registry, r.json["id"])
        assert model["features"] == features and model["target"] == target

    job = {"data": {"dataset": mixed, "target": "a", "features": ["x1"]}, "output": "linear"}
    r = client.post("/jobs", json={**job, "training": training})
    assert r.status_code == 202 and r.json["data"]["kind"] == "regression"


def csv_rows(response) -> list[dict]:
    assert response.status_code == 200, response.data[:500]
    assert response.mimetype == "text/csv"
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


CSV_KINDS = {
    # name: (target, features, output, the answer's columns after the copied ones)
    "binary": ("flag", ["x1"], None, ["p_false", "p_true", "prediction"]),
    "multilabel": (
        ["a", "b"],
        ["x1", "flag"],
        None,
        ["p_a", "p_b", "prediction_a", "prediction_b"],
    ),
    "regression": ("a", ["x1", "flag"], "linear", ["prediction"]),
    "targets": (["a", "b"], ["x1", "flag"], "linear", ["prediction_a", "prediction_b"]),
}


@pytest.mark.parametrize("name", list(CSV_KINDS))
def test_csv_answers_for_every_kind_of_model(app, mixed, name):
    client, registry = app.test_client(), app.extensions["nnjobs"].registry
    target, features, output, columns = CSV_KINDS[name]
    job = {
        "name": name,
        "data": {"dataset": mixed, "target": target, "features": features},
        "output": output,
        "training": {"epochs": 2, "validation_split": 0},
    }
    r = client.post("/jobs", json=job)
    assert r.status_code == 202, r.json
    run_job(registry, r.json["id"])
    body = "id,flag,x1,extra\nk1,true,0.1,z\nk2,false,0.9,w\n"
    headers = {"Content-Type": "text/csv", "Accept": "text/csv"}
    rows = csv_rows(client.post(f"/models/{name}/predict", data=body, headers=headers))
    copied = [c for c in ("id", "flag", "x1", "extra") if c not in features]
    assert list(rows[0]) == [*copied, *columns]
    assert [(row["id"], row["extra"]) for row in rows] == [("k1", "z"), ("k2", "w")]
    as_json = client.post(
        f"/models/{name}/predict", data=body, headers={"Content-Type": "text/csv"}
    )
    predictions = as_json.json["predictions"]
    if name == "binary":
        for row, prediction in zip(rows, predictions, strict=True):
            assert float(row["p_false"]) + float(row["p_true"]) == pytest.approx(1)
            assert row["prediction"] == ("true" if prediction else "false")
    elif name == "multilabel":
        assert [[int(row["prediction_a"]), int(row["prediction_b"])] for row in rows] == predictions
    elif name == "regression":
        assert [float(row["prediction"]) for row in rows] == predictions
    else:
        assert [[float(row[c]) for c in columns] for row in rows] == predictions


def test_csv_prediction_refusals(app, mixed):
    client, registry = app.test_client(), app.extensions["nnjobs"].registry
    job = {
        "name": "m",
        "data": {"dataset": mixed, "target": "flag", "features": ["x1", "a"], "missing": "refuse"},
        "training": {"epochs": 2, "validation_split": 0},
    }
    run_job(registry, client.post("/jobs", json=job).json["id"])
    headers = {"Content-Type": "text/csv"}

    def refused(body: str, code: int = 422) -> dict:
        return error(client.post("/models/m/predict", data=body, headers=headers), code)

    body = refused("x1,b\n1,2\n")
    assert body["message"] == "no column 'a': the model's features are x1, a"
    assert body["errors"] == {"csv": {"a": ["Missing column."]}}
    assert refused("x1,a\n1,z\n")["message"] == "column 'a', row 1: 'z' is not a number"
    assert refused("x1,a\n1,2\nNA,3\n")["message"] == (
        "column 'x1' has a missing value in row 2; the model was trained with missing 'refuse'"
    )
    assert "header but no data rows" in refused("x1,a\n")["message"]
    body = refused("x1,a\n1,2\n3,-inf\n")
    says = "column 'a', data row 2: '-inf' is not a finite number"
    assert body["errors"] == {"csv": {"a": [says]}}
    assert "not valid UTF-8" in refused(b"x1,a\n1,\xff\n", 400)["message"]
    r = client.post(
        "/models/m/predict",
        data="prediction,x1,a\n1,2,3\n",
        headers={**headers, "Accept": "text/csv"},
    )
    assert "'prediction'" in error(r, 422)["message"]
    error(client.post("/models/nope/predict", data="x1,a\n1,2\n", headers=headers), 404)


def test_a_model_trained_on_arrays_takes_every_column_in_order(app):
    client, registry = app.test_client(), app.extensions["nnjobs"].registry
    job = {
        "name": "xy",
        "data": {"X": [[0, 0], [1, 1], [0, 1], [1, 0]], "y": [0, 0, 1, 1]},
        "training": {"epochs": 2, "validation_split": 0},
    }
    run_job(registry, client.post("/jobs", json=job).json["id"])
    model = client.get("/models/xy").json
    assert model["features"] is None and model["target"] is None
    headers = {"Content-Type": "text/csv"}
    r = client.post("/models/xy/predict", data="u,v\n0,0\n1,0\n", headers=headers)
    inputs = {"inputs": [[0, 0], [1, 0]]}
    assert r.status_code == 200 and r.json == client.post("/models/xy/predict", json=inputs).json
    r = client.post("/models/xy/predict", data="u,v,w\n0,0,0\n", headers=headers)
    assert "the model takes 2 features" in error(r, 422)["message"]
    rows = csv_rows(
        client.post("/predict", json={"model_id": "xy", **inputs}, headers={"Accept": "text/csv"})
    )
    assert list(rows[0]) == ["p_0", "p_1", "prediction"]


# -- end to end ---------------------------------------------------------------------------


def test_iris_from_upload_to_csv_predictions(redis_url, key_prefix, app):
    client = app.test_client()
    dataset = upload(client, IRIS, name="iris").json
    job = {
        "name": "iris",
        "data": {"dataset": "iris", "target": "species"},
        "layers": [{"units": 16, "activation": "tanh"}],
        "training": {"epochs": 150, "learning_rate": 0.02, "batch_size": 16},
    }
    with worker_thread(redis_url, key_prefix):
        r = client.post("/jobs", json=job)
        assert r.status_code == 202, r.json
        done = wait_for_job(client, r.json["id"])
    assert done["status"] == "succeeded", done["error"]
    features = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    assert done["data"]["features"] == features and done["data"]["target"] == "species"
    assert done["data"]["dataset"] == dataset["id"]
    model = client.get("/models/iris").json
    assert model["features"] == features and model["target"] == "species"
    assert model["classes"] == ["setosa", "versicolor", "virginica"]

    # columns shuffled, an id column added, the target left in: both are copied back
    source = list(csv.DictReader(io.StringIO(IRIS.decode())))
    order = ["species", "petal_width", "id", "sepal_length", "petal_length", "sepal_width"]
    out = io.StringIO()
    writer = csv.DictWriter(out, order, lineterminator="\n")
    writer.writeheader()
    writer.writerows({**row, "id": f"flower-{i}"} for i, row in enumerate(source))
    r = client.post(
        "/models/iris/predict",
        data=out.getvalue(),
        headers={"Content-Type": "text/csv", "Accept": "text/csv"},
    )
    rows = csv_rows(r)
    classes = model["classes"]
    assert list(rows[0]) == ["species", "id", *(f"p_{c}" for c in classes), "prediction"]
    assert [row["id"] for row in rows] == [f"flower-{i}" for i in range(150)]
    probs = np.array([[float(row[f"p_{c}"]) for c in classes] for row in rows])
    assert np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    predicted = [row["prediction"] for row in rows]
    assert predicted == [classes[i] for i in probs.argmax(axis=1)]
    assert np.mean([p == row["species"] for p, row in zip(predicted, rows, strict=True)]) >= 0.9

    # the same rows as JSON, by default, and the same answer as JSON inputs give
    r = client.post(
        "/models/iris/predict", data=out.getvalue(), headers={"Content-Type": "text/csv"}
    )
    assert r.status_code == 200 and r.mimetype == "application/json"
    inputs = [[float(row[f]) for f in features] for row in source]
    assert r.json == client.post("/models/iris/predict", json={"inputs": inputs}).json


def test_a_sweep_trains_on_a_dataset(client, store, mixed):
    job = {"data": {"dataset": "mixed", "target": "flag", "features": ["x1"]}}
    r = client.post("/sweeps", json={"job": job, "vary": {"learning_rate": [0.01, 0.1]}})
    assert r.status_code == 202, r.json
    jobs = client.get("/jobs").json["items"]
    assert len(jobs) == 2
    for each in jobs:
        assert each["data"]["features"] == ["x1"] and each["data"]["dataset"] == mixed

    before = store()
    job = {
        "data": {"dataset": mixed, "target": "flag", "features": ["x1", "x2"], "missing": "refuse"}
    }
    r = client.post("/sweeps", json={"job": job, "vary": {"learning_rate": [0.01, 0.1]}})
    body = error(r, 422)
    assert body["message"].startswith("job.data.features: column 'x2' has a missing value")
    assert store() == before
