"""Real tables: column kinds inferred and named, categorical one-hot with its cap and
<other> level, missing values imputed, refused or dropped, the preparation kept with the
model (exact on reload, shown by the API), and predictions from raw rows as JSON objects
or CSV equal to those from the rows encoded by hand."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
import redis
from api_helpers import error, make_app, run_job, stored, wait_for_job, worker_thread
from table_helpers import RAW_ROWS, csv_text, encode_row, mixed_table

import nn
from nn.preparation import FOLDED_LISTED, Options, Preparation, columns_of

EPOCHS = {"epochs": 15, "batch_size": 16}


# -- nn -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained():
    table, labels = mixed_table()
    spec = {"training": EPOCHS, "data": {"features": {"zip": "categorical"}}}
    return nn.fit(spec, table, labels)[0]


def test_kinds_are_inferred_and_named_and_missing_values_imputed(trained):
    prep = trained.preparation.as_dict()
    kinds = {f["name"]: f["kind"] for f in prep["features"]}
    assert kinds == {
        "length": "numeric",
        "island": "categorical",
        "tagged": "categorical",
        "zip": "categorical",
    }
    length, island, tagged, zipcode = prep["features"]
    table, _ = mixed_table()
    assert length["median"] == float(np.median([v for v in table["length"] if v is not None]))
    assert length["indicator"] and island["missing_level"] and not tagged["missing_level"]
    assert island["categories"] == ["Biscoe", "Dream", "Torgersen"]
    assert tagged["categories"] == ["false", "true"]
    assert zipcode["categories"] == ["10001", "60601", "94110"]
    assert prep["encoded"][:2] == ["length", "length=<missing>"]
    assert trained.n_features == len(prep["encoded"]) == 2 + 5 + 3 + 4
    groups = trained.preparation.groups()
    assert list(groups) == ["length", "island", "tagged", "zip"]
    assert [j for g in groups.values() for j in g] == list(range(trained.n_features))
    assert [prep["encoded"][j] for j in groups["tagged"]] == [
        "tagged=false",
        "tagged=true",
        "tagged=<other>",
    ]


def test_raw_rows_predict_as_the_rows_encoded_by_hand(trained):
    prep = trained.preparation.as_dict()
    encoded = np.array([encode_row(prep, row) for row in RAW_ROWS])
    by_hand = trained.predict_proba(encoded)
    assert np.array_equal(trained.predict_proba(RAW_ROWS), by_hand)
    result = trained.predict(RAW_ROWS)
    assert result["probabilities"] == by_hand[:, 0].astype(np.float64).tolist()
    assert [(w["row"], w["column"], w["value"]) for w in result["warnings"]] == [
        (1, "island", "Atlantis"),
        (3, "zip", "12345"),
    ]
    columns = {name: [row.get(name) for row in RAW_ROWS] for name in ("island", "length")}
    columns |= {"tagged": [r["tagged"] for r in RAW_ROWS], "zip": [r["zip"] for r in RAW_ROWS]}
    assert np.array_equal(trained.predict_proba(columns), by_hand)


def test_reload_is_exact(trained):
    back = nn.load(trained.to_bytes())
    assert back.preparation.as_dict() == trained.preparation.as_dict()
    assert back.describe() == trained.describe()
    assert np.array_equal(back.predict_proba(RAW_ROWS), trained.predict_proba(RAW_ROWS))
    assert Preparation.from_dict(trained.preparation.as_dict()) == trained.preparation


def test_the_cap_folds_rare_categories_into_other_or_refuses_them():
    values = ["a"] * 5 + ["b"] * 4 + ["c"] * 3 + ["d", "e"]
    cols = {"c": np.array(values, dtype=object)}
    prep = Preparation.fit(cols, Options(max_categories=2))
    assert prep.features[0].categories == ["a", "b"]
    assert prep.features[0].folded == ["c", "d", "e"] and prep.features[0].n_folded == 3
    x, warnings = prep.transform(cols, training=True)
    assert x[:, 2].sum() == 5 and warnings == []  # c, d and e: <other>
    later = {"c": np.array(["e", "b", "z"], dtype=object)}
    x, warnings = prep.transform(later)  # e was seen, folded: no surprise; z never was
    assert x.tolist() == [[0, 0, 1], [0, 1, 0], [0, 0, 1]]
    assert [(w["row"], w["value"]) for w in warnings] == [(2, "z")]
    many = {"c": np.array(["a"] * 3 + [f"v{i:04}" for i in range(FOLDED_LISTED + 2)], dtype=object)}
    prep = Preparation.fit(many, Options(max_categories=1))
    assert len(prep.features[0].folded) == FOLDED_LISTED and prep.features[0].n_folded == 1002
    assert prep.features[0].folded[-1] == f"v{FOLDED_LISTED - 1:04}"  # ties: by value
    _, warnings = prep.transform({"c": np.array(["v1001"], dtype=object)})
    assert "(or was among its rarest)" in warnings[0]["message"]
    assert Preparation.from_dict(prep.as_dict()) == prep
    with pytest.raises(nn.SpecError) as e:
        Preparation.fit(cols, Options.of({"max_categories": 2, "high_cardinality": "refuse"}))
    assert e.value.field == "X" and e.value.limit is None
    says = "column 'c' has 5 distinct values, over the cap of 2 categories (data.max_categories)"
    assert says in e.value.reason
    with pytest.raises(nn.SpecError) as e:
        limits = nn.Limits(max_categories=3)
        Preparation.fit(cols, Options.of({"high_cardinality": "refuse"}, limits))
    assert e.value.limit == "max_categories" and "over the cap of 3 categories (the limit)" in (
        e.value.reason
    )


def test_missing_values_refused_or_rows_dropped():
    table, labels = mixed_table(40)
    with pytest.raises(nn.SpecError, match="column 'length' has a missing value in data row 1"):
        nn.fit({"data": {"missing": "refuse"}}, table, labels)
    prep, X, y = nn.encode_table(table, labels, {"missing": "drop_rows"})
    kept = [
        i for i in range(40) if table["length"][i] is not None and table["island"][i] is not None
    ]
    assert len(X) == len(y) == len(kept) and list(y) == [labels[i] for i in kept]
    assert "length=<missing>" not in prep.encoded and "island=<missing>" not in prep.encoded
    two = columns_of({name: values[:2] for name, values in table.items()})
    with pytest.raises(nn.SpecError, match=r"column 'length' has a missing value in row 1"):
        prep.transform(two)


def test_unknown_refuse_names_the_column_and_row():
    table, labels = mixed_table(40)
    spec = {"training": {"epochs": 1}, "data": {"unknown": "refuse"}}
    model = nn.fit(spec, table, labels)[0]
    with pytest.raises(nn.SpecError) as e:
        model.predict([RAW_ROWS[0], RAW_ROWS[1]], field="inputs")
    assert e.value.field == "inputs"
    assert e.value.reason.startswith("column 'island', row 2: category 'Atlantis' was not seen")


@pytest.mark.parametrize(
    ("data", "field", "says"),
    [
        ({"missing": "guess"}, "data.missing", "must be one of impute, refuse, drop_rows"),
        ({"unknown": "keep"}, "data.unknown", "must be one of other, refuse"),
        ({"high_cardinality": "x"}, "data.high_cardinality", "must be one of fold, refuse"),
        ({"max_categories": 0}, "data.max_categories", "from 1 to 50"),
        ({"max_categories": 51}, "data.max_categories", "from 1 to 50"),
        ({"features": {"zip": "date"}}, "data.features.zip", "'date' is not one of"),
        ({"features": ["nope"]}, "data.features", "no column 'nope'"),
        (
            {"features": {"length": "drop", "island": "drop", "tagged": "drop", "zip": "drop"}},
            "data.features",
            "no column left",
        ),
        ({"features": {"island": "numeric"}}, "X", "column 'island', row 2: 'Dream' is not"),
    ],
)
def test_bad_options_are_refused_by_name(data, field, says):
    table, labels = mixed_table(12)
    with pytest.raises(nn.SpecError) as e:
        nn.fit({"data": data}, table, labels)
    assert e.value.field == field and says in e.value.reason


def test_a_table_that_is_not_one_is_refused():
    for table, says in (
        ({"a": [1, 2], "b": [1]}, "same number of values"),
        ([{"a": 1}, [1]], "row 1 is not an object"),
        ({"": [1]}, "non-empty text"),
        ({"a": []}, "has no rows"),
    ):
        with pytest.raises(nn.SpecError, match=says):
            nn.fit(None, table, [0, 1])
    with pytest.raises(nn.SpecError, match="rows of numbers"):
        spec = {"training": {"epochs": 1, "validation_split": 0}}
        nn.fit(spec, [[0.0], [1.0]], [0, 1])[0].predict([{"a": 1}])


# -- the API --------------------------------------------------------------------------------


def upload(client, text: str, name: str) -> str:
    r = client.post(f"/datasets?name={name}", data=text, headers={"Content-Type": "text/csv"})
    assert r.status_code == 201, r.json
    return r.json["id"]


def test_a_mixed_dataset_trains_with_no_flags_and_predicts_from_raw_rows(
    redis_url, key_prefix, app
):
    client = app.test_client()
    table, labels = mixed_table()
    upload(client, csv_text(table, labels), "penguins")
    job = {"name": "pen", "data": {"dataset": "penguins", "target": "species"}, "training": EPOCHS}
    r = client.post("/jobs", json=job)
    assert r.status_code == 202, r.json
    assert r.json["data"]["features"] == ["length", "island", "tagged", "zip"]
    with worker_thread(redis_url, key_prefix):
        assert wait_for_job(client, r.json["id"])["status"] == "succeeded"

    model = client.get("/models/pen").json
    prep = model["preparation"]
    assert [f["kind"] for f in prep["features"]] == [
        "numeric",
        "categorical",
        "categorical",
        "numeric",
    ]
    assert model["n_features"] == len(prep["encoded"])
    # the worker's certificate fed the graph the raw values of the validation rows
    parity = model["parity"]
    assert parity["exportable"] and parity["fed"] == "raw columns", parity
    assert parity["max_abs_difference"] < 1e-5 and parity["labels_agree"] is True

    encoded = [encode_row(prep, row) for row in RAW_ROWS]
    by_arrays = client.post("/predict", json={"model_id": "pen", "inputs": encoded}).json
    by_rows = client.post("/models/pen/predict", json={"inputs": RAW_ROWS}).json
    assert by_rows["probabilities"] == by_arrays["probabilities"]
    assert [(w["row"], w["column"]) for w in by_rows["warnings"]] == [(1, "island")]
    assert "warnings" not in by_arrays

    body = "extra,zip,island,tagged,length\nq,10001,Dream,true,44.5\nq,94110,Atlantis,false,38\n"
    body += "q,60601,,true,\nq,12345,NA,false,41.5\n"
    headers = {"Content-Type": "text/csv"}
    by_csv = client.post("/models/pen/predict", data=body, headers=headers).json
    # the same number of rows: BLAS may round another batch's shape otherwise
    assert by_csv["probabilities"] == by_arrays["probabilities"]
    assert [(w["row"], w["column"], w["value"]) for w in by_csv["warnings"]] == [
        (1, "island", "Atlantis")
    ]
    answer = client.post(
        "/models/pen/predict", data=body, headers={**headers, "Accept": "text/csv"}
    )
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    assert [row["extra"] for row in rows] == ["q"] * 4
    assert rows[1]["warnings"].startswith("category 'Atlantis' of column 'island'")
    assert rows[0]["warnings"] == ""


def test_the_api_refuses_what_the_preparation_cannot_take(app):
    client, registry = app.test_client(), app.extensions["nnjobs"].registry
    table, labels = mixed_table(30)
    upload(client, csv_text(table, labels), "small")
    data = {"dataset": "small", "target": "species", "unknown": "refuse", "missing": "drop_rows"}
    r = client.post("/jobs", json={"name": "strict", "data": data, "training": {"epochs": 1}})
    assert r.status_code == 202, r.json
    assert r.json["data"]["n_samples"] == sum(
        table["length"][i] is not None and table["island"][i] is not None for i in range(30)
    )
    run_job(registry, r.json["id"])

    def refused(inputs, model="strict", code=422) -> str:
        return error(client.post(f"/models/{model}/predict", json={"inputs": inputs}), code)[
            "message"
        ]

    assert refused([RAW_ROWS[1]]).startswith("inputs: column 'island', row 1: category 'Atlantis'")
    assert "missing value in row 1" in refused([RAW_ROWS[2]])
    assert "no row has column 'length'" in refused([{"island": "Dream"}])
    assert "rows must all be objects" in refused([RAW_ROWS[0], [1.0]])
    assert "a row holds list" in refused([{**RAW_ROWS[0], "island": ["Dream"]}])
    huge = client.post(
        "/models/strict/predict", json={"inputs": [{**RAW_ROWS[0], "length": 10**400}]}
    )
    assert huge.status_code in (400, 422) and "Traceback" not in huge.get_data(as_text=True)
    assert "'length', row 1" in refused([{**RAW_ROWS[0], "length": "1e400"}])
    assert "'length', row 1: True is not a number" in refused([{**RAW_ROWS[0], "length": True}])
    arrays = {"X": [[0], [1]], "y": [0, 1]}
    training = {"epochs": 1, "validation_split": 0}
    r = client.post("/jobs", json={"name": "arrays", "data": arrays, "training": training})
    run_job(registry, r.json["id"])
    assert "trained on rows of numbers" in refused([{"a": 1}], "arrays")
    body = {"name": "capped", "data": {**data, "max_categories": 2, "high_cardinality": "refuse"}}
    message = error(client.post("/jobs", json=body), 422)["message"]
    assert message.startswith("data.features: column 'island' has 3 distinct values")
    body = {"data": {**data, "max_categories": 51}}
    assert "NNJOBS_MAX_CATEGORIES" in error(client.post("/jobs", json=body), 422)["message"]
    upload(client, "x,y\n1,\n2,\n", "blank")
    body = {"data": {"dataset": "blank", "target": "y", "missing": "drop_rows"}}
    message = error(client.post("/jobs", json=body), 422)["message"]
    assert message == "data.target: every row misses the target: drop_rows leaves none"


def test_arrays_keep_working_for_a_numeric_model_with_an_indicator_column(app):
    client, registry = app.test_client(), app.extensions["nnjobs"].registry
    table, labels = mixed_table(30)
    upload(client, csv_text(table, labels), "numbers")
    data = {"dataset": "numbers", "target": "species", "features": ["length", "zip"]}
    r = client.post("/jobs", json={"name": "num", "data": data, "training": {"epochs": 2}})
    assert r.json["data"]["n_features"] == 3  # length, its indicator, zip
    run_job(registry, r.json["id"])
    raw = client.post("/predict", json={"model_id": "num", "inputs": [[44.5, 10001], [38, 1]]})
    rows = [{"length": 44.5, "zip": 10001}, {"zip": 1, "length": 38}]
    by_rows = client.post("/models/num/predict", json={"inputs": rows}).json
    assert raw.status_code == 200 and raw.json["probabilities"] == by_rows["probabilities"]
    encoded = client.post("/predict", json={"model_id": "num", "inputs": [[44.5, 0, 10001]]})
    assert (
        encoded.json["probabilities"] == by_rows["probabilities"][:1] or encoded.status_code == 200
    )
    assert error(client.post("/predict", json={"model_id": "num", "inputs": [[1.0]]}), 422)


def test_the_category_limit_is_named_by_its_setting(redis_url, key_prefix):
    client = make_app(redis_url, key_prefix, NNJOBS_MAX_CATEGORIES=2).test_client()
    table, labels = mixed_table(20)
    upload(client, csv_text(table, labels), "few")
    data = {"dataset": "few", "target": "species", "high_cardinality": "refuse"}
    message = error(client.post("/jobs", json={"data": data}), 422)["message"]
    assert message.startswith("data.features: column 'island' has 3 distinct values, over ")
    assert message.endswith("(NNJOBS_MAX_CATEGORIES)")
    message = error(client.post("/jobs", json={"data": {**data, "max_categories": 3}}), 422)
    assert "NNJOBS_MAX_CATEGORIES" in message["message"]
    r = client.post("/jobs", json={"data": {**data, "high_cardinality": "fold"}})
    assert r.status_code == 202, r.json
    island = r.json["spec"]["data"]["preparation"]["features"][1]
    assert len(island["categories"]) == 2 and island["n_folded"] == 1


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"missing": "guess"}, "missing"),
        ({"unknown": None}, "unknown"),
        ({"high_cardinality": 1}, "high_cardinality"),
        ({"max_categories": "many"}, "max_categories"),
        ({"max_categories": 2**70}, "max_categories"),
        ({"features": {"zip": "date"}}, "features"),
        ({"features": 5}, "features"),
        ({"features": []}, "features"),
    ],
)
def test_the_preparations_fields_are_checked_and_nothing_is_stored(
    redis_url, key_prefix, client, data, field
):
    r = redis.Redis.from_url(redis_url)
    try:
        before = stored(r, key_prefix)
        body = {"data": {"dataset": "d", "target": "y", **data}}
        assert field in error(client.post("/jobs", json=body), 422)["errors"]["json"]["data"]
        arrays = {"data": {"X": [[1.0]], "y": [1], **data}}
        assert field in error(client.post("/jobs", json=arrays), 422)["errors"]["json"]["data"]
        assert stored(r, key_prefix) == before
    finally:
        r.close()
