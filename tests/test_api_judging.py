"""Through the API: weights, schedules, warm starts, and the evaluation and importances
stored on the job and the model, with a real worker; every refusal named, nothing stored."""

from __future__ import annotations

import numpy as np
import pytest
from api_helpers import error, stored, wait_for_job, worker_thread


def _rows(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = (X[:, 0] > 0).astype(int)
    return X.round(4).tolist(), y.tolist()


SMALL = {"layers": [{"units": 6}], "training": {"epochs": 8, "importance_repeats": 2}}


def _csv(rows: list[list], header="a,b,w,label") -> str:
    return header + "\n" + "\n".join(",".join(str(v) for v in row) for row in rows) + "\n"


def _upload(client, text: str, name="weighted") -> dict:
    r = client.post(f"/datasets?name={name}", data=text, headers={"Content-Type": "text/csv"})
    assert r.status_code == 201, r.json
    return r.json


def _weighted_on(client, redis_url, key_prefix, dataset: dict) -> tuple[dict, dict]:
    """The job SMALL trained on ``dataset``'s label, weighted by its column w, and its
    model, both as the API shows them."""
    job = {"data": {"dataset": dataset["id"], "target": "label", "weight": "w"}, **SMALL}
    with worker_thread(redis_url, key_prefix):
        r = client.post("/jobs", json=job)
        assert r.status_code == 202, r.json
        done = wait_for_job(client, r.json["id"])
    assert done["status"] == "succeeded", done["error"]
    return done, client.get(f"/models/{done['model_id']}").json


def test_a_weighted_scheduled_job_stores_its_evaluation_and_importance(
    client, redis_url, key_prefix
):
    X, y = _rows()
    weight = [2.0 if label else 1.0 for label in y]
    job = {
        "name": "judged",
        "data": {"X": X, "y": y, "weight": weight},
        **SMALL,
        "training": {
            **SMALL["training"],
            "class_weight": {"0": 1.5},
            "schedule": {"type": "step", "every": 3, "factor": 0.5},
            "learning_rate": 0.02,
        },
    }
    with worker_thread(redis_url, key_prefix):
        r = client.post("/jobs", json=job)
        assert r.status_code == 202, r.json
        assert r.json["spec"]["training"]["schedule"] == {"type": "step", "every": 3, "factor": 0.5}
        done = wait_for_job(client, r.json["id"])
    assert done["status"] == "succeeded", done["error"]
    assert done["history"]["learning_rate"] == [0.02] * 3 + [0.01] * 3 + [0.005] * 2
    model = client.get("/models/judged").json
    ev = model["evaluation"]
    assert done["evaluation"] == ev and done["importance"] == model["importance"]
    assert ev["rows"] == "validation" and ev["n_rows"] == 24 and ev["classes"] == [0, 1]
    # weighted: class 0 rows weigh 1.5, class 1 rows 2
    support = ev["support"]
    assert support[0] % 1.5 == 0 and support[1] % 2 == 0
    assert np.sum(ev["confusion_matrix"]) == pytest.approx(sum(support))
    assert set(model["importance"]["features"]) == {"x0", "x1", "x2"}
    assert model["feature_names"] == ["x0", "x1", "x2"] and model["parent"] is None
    # listings leave the bulky parts out, as they do the history
    listed_job = client.get("/jobs").json["items"][0]
    listed_model = client.get("/models").json["items"][0]
    assert listed_job["id"] == done["id"] and listed_model["id"] == model["id"]
    assert not {"evaluation", "importance"} & (set(listed_job) | set(listed_model))


def test_a_dataset_weight_column_is_the_weight_and_not_a_feature(client, redis_url, key_prefix):
    X, y = _rows(60)
    rows = [[*x[:2], 1 + i % 3, label] for i, (x, label) in enumerate(zip(X, y, strict=True))]
    done, model = _weighted_on(client, redis_url, key_prefix, _upload(client, _csv(rows)))
    assert done["data"]["features"] == ["a", "b"] and done["spec"]["data"]["weight"] == "w"
    assert model["feature_names"] == ["a", "b"]
    assert set(model["importance"]["features"]) == {"a", "b"}


def test_a_categorical_columns_importance_is_under_its_raw_name(client, redis_url, key_prefix):
    rng = np.random.default_rng(2)
    colours = rng.choice(["red", "green", "blue"], size=60)
    rows = [
        [round(float(a), 3), c, 1 + i % 2, int(c == "red")]
        for i, (a, c) in enumerate(zip(rng.normal(size=60), colours, strict=True))
    ]
    dataset = _upload(client, _csv(rows, "a,colour,w,label"), name="colours")
    _, model = _weighted_on(client, redis_url, key_prefix, dataset)
    prepared = [f["name"] for f in model["preparation"]["features"]]
    assert prepared == ["a", "colour"]  # the weight column is no feature
    assert model["feature_names"] == model["preparation"]["encoded"]
    assert "colour=red" in model["feature_names"]
    # the worker shuffles colour's one-hot columns together: one entry, its raw name
    assert sorted(model["importance"]["features"]) == ["a", "colour"]
    assert len(model["importance"]["mean"]) == 2


@pytest.mark.parametrize(
    ("cell", "reason"),
    [
        ("-1", "column 'w' has -1 in data row 2"),
        ("", "column 'w' has a missing value in data row 2"),
        ("heavy", "column 'w' is text"),
    ],
)
def test_a_bad_weight_column_is_refused_by_name(client, key_prefix, r, cell, reason):
    rows = [[0.1, 0.2, 1, 0], [0.3, 0.1, cell, 1], [0.5, 0.5, 1, 0], [0.2, 0.9, 1, 1]]
    dataset = _upload(client, _csv(rows))
    before = stored(r, key_prefix)
    answer = error(
        client.post(
            "/jobs", json={"data": {"dataset": dataset["id"], "target": "label", "weight": "w"}}
        ),
        422,
    )
    assert reason in answer["errors"]["json"]["data"]["weight"][0], answer
    assert stored(r, key_prefix) == before


def test_a_weight_column_of_zeros_is_refused_by_name(client, key_prefix, r):
    rows = [[0.1, 0.2, 0, 0], [0.3, 0.1, 0, 1], [0.5, 0.5, 0.0, 0], [0.2, 0.9, 0, 1]]
    dataset = _upload(client, _csv(rows))
    before = stored(r, key_prefix)
    body = {"data": {"dataset": dataset["id"], "target": "label", "weight": "w"}}
    answer = error(client.post("/jobs", json=body), 422)
    assert "column 'w' is 0 in every row" in answer["errors"]["json"]["data"]["weight"][0]
    assert stored(r, key_prefix) == before


@pytest.mark.parametrize(
    ("data", "where", "reason"),
    [
        ({"weight": [1, -2, 1, 1]}, ("data", "weight"), "negative"),
        ({"weight": [1, 1, 1]}, ("data", "weight"), "has 3 values"),
        ({"weight": [1, "2", 1, 1]}, ("data", "weight"), "only numbers"),
        ({"weight": [0, 0, 0, 0]}, ("data", "weight"), "every weight is 0"),
        ({"weight": "w"}, ("data", "weight"), "array of numbers with X and y"),
        ({"weight": True}, ("data", "weight"), "Must be an array"),
    ],
)
def test_bad_weights_are_refused_by_name(client, key_prefix, r, data, where, reason):
    body = {"data": {"X": [[0], [1], [2], [3]], "y": [0, 1, 0, 1], **data}}
    answer = error(client.post("/jobs", json=body), 422)
    node = answer["errors"]["json"]
    for part in where:
        node = node[part]
    assert reason in node[0], answer
    assert stored(r, key_prefix) == [([], 0)]


def test_a_synthetic_job_takes_no_weights(client):
    body = {"data": {"synthetic": {"name": "xor"}, "weight": [1.0]}}
    assert "weight" in error(client.post("/jobs", json=body), 422)["errors"]["json"]["data"]


@pytest.mark.parametrize(
    ("training", "field", "reason"),
    [
        ({"schedule": "sawtooth"}, "schedule", "Must be one of"),
        ({"schedule": {"type": "step", "every": 0}}, "schedule", "every"),
        ({"schedule": {"type": "cosine", "warmup": 8}}, "schedule", "warm-up"),
        ({"schedule": {"type": "step", "min_lr": 0.1}}, "schedule", "not a parameter"),
        ({"class_weight": {"1": -1}}, "class_weight", "1"),
        ({"class_weight": {"7": 2}}, "class_weight", "no class '7'"),
        ({"class_weight": "even"}, "class_weight", "balanced"),
        ({"importance_repeats": 101}, "importance_repeats", ""),
    ],
)
def test_bad_training_settings_are_refused_by_name(client, key_prefix, r, training, field, reason):
    body = {
        "data": {"X": [[0], [1], [2], [3]], "y": [0, 1, 0, 1]},
        "training": {"epochs": 8, **training},
    }
    answer = error(client.post("/jobs", json=body), 422)
    found = answer["errors"]["json"]["training"][field]
    assert reason in str(found), answer
    assert stored(r, key_prefix) == [([], 0)]


def test_a_warm_start_trains_further_and_records_its_parent(client, redis_url, key_prefix):
    X, y = _rows(200)
    first = {"name": "base", "data": {"X": X, "y": y}, **SMALL}
    first["training"] = {**SMALL["training"], "epochs": 10, "early_stopping": False}
    with worker_thread(redis_url, key_prefix):
        done = wait_for_job(client, client.post("/jobs", json=first).json["id"])
        assert done["status"] == "succeeded", done["error"]
        more = {**first, "name": "further", "init": {"model": "base"}}
        r = client.post("/jobs", json=more)
        assert r.status_code == 202, r.json
        assert r.json["spec"]["init"] == {"model": done["model_id"]}
        again = wait_for_job(client, r.json["id"])
    assert again["status"] == "succeeded", again["error"]
    assert again["history"]["loss"][-1] < done["history"]["loss"][-1]
    parent = client.get("/models/further").json["parent"]
    assert parent == {"id": done["model_id"], "name": "base", "version": 1}

    # a mismatch is refused naming what differs, and nothing is stored
    wider = {**more, "layers": [{"units": 7}]}
    answer = error(client.post("/jobs", json=wider), 422)
    message = answer["errors"]["json"]["init"]["model"][0]
    assert "layers:" in message and "units" in message
    fewer = {**more, "data": {"X": [row[:2] for row in X], "y": y}}
    answer = error(client.post("/jobs", json=fewer), 422)
    assert "features: ['x0', 'x1', 'x2'] in the model, ['x0', 'x1'] in the job" in str(answer)
    answer = error(client.post("/jobs", json={**more, "init": {"model": "nothing"}}), 422)
    assert "no model 'nothing'" in answer["errors"]["json"]["init"]["model"][0]
    assert len(client.get("/jobs").json["items"]) == 2


def test_a_sweep_trains_every_job_on_the_same_weights(client, redis_url, key_prefix, r):
    X, y = _rows(60)
    weight = [3.0 if label else 1.0 for label in y]
    job = {"data": {"X": X, "y": y, "weight": weight}, **SMALL}
    sweep = client.post("/sweeps", json={"job": job, "vary": {"learning_rate": [0.01, 0.02]}})
    assert sweep.status_code == 202, sweep.json
    # stored once for the sweep, beside its X and y
    assert len(list(r.scan_iter(f"{key_prefix}:sweep:*:w"))) == 1
    ids = [j["id"] for j in sweep.json["jobs"]]
    with worker_thread(redis_url, key_prefix):
        done = [wait_for_job(client, job_id) for job_id in ids]
    for job_done in done:
        assert job_done["status"] == "succeeded", job_done["error"]
        # class 1 rows weigh 3 in the evaluation of every job of the sweep
        assert job_done["evaluation"]["support"][1] % 3 == 0
    # released with X and y once the sweep's last job has ended
    assert list(r.scan_iter(f"{key_prefix}:sweep:*:[Xyw]")) == []
