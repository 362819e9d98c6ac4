"""GET /synthetic lists the datasets a job can name; GET /synthetic/<name> gives the very
points such a job trains on, refusing what a job would refuse."""

from __future__ import annotations

import numpy as np
import pytest
from api_helpers import drop_keys, error, make_app, make_client

import nn


@pytest.fixture
def app(redis_url, key_prefix):
    app = make_app(redis_url, key_prefix)
    yield app
    drop_keys(app.extensions["nnjobs"].registry.r, key_prefix)


def test_the_list_names_every_dataset_of_nn_with_its_task_and_parameters(client):
    r = client.get("/synthetic")
    assert r.status_code == 200
    items = r.get_json()["items"]
    assert [d["name"] for d in items] == list(nn.synthetic.DATASETS)
    for item in items:
        maker, task = nn.synthetic.DATASETS[item["name"]]
        assert item["task"] == task
        assert item["description"] and item["description"] in maker.__doc__
        params = {p["name"]: p for p in item["params"]}
        assert set(params) == set(nn.synthetic.PARAMS)
        for name, param in nn.synthetic.PARAMS.items():
            assert params[name]["default"] == param.default
            assert params[name]["minimum"] == param.low
        assert params["n_samples"]["type"] == "integer"
        assert params["noise"]["type"] == "number"
        assert params["noise"]["maximum"] == nn.synthetic.PARAMS["noise"].high


def test_the_largest_size_listed_is_the_one_a_job_accepts(redis_url, key_prefix):
    client = make_client(redis_url, key_prefix, NNJOBS_MAX_VALUES=1000)
    [spiral] = [d for d in client.get("/synthetic").get_json()["items"] if d["name"] == "spiral"]
    [n_samples] = [p for p in spiral["params"] if p["name"] == "n_samples"]
    # two features per point
    assert n_samples["maximum"] == 500
    assert n_samples["range"] == "in [4, 500]"
    assert client.get("/synthetic/spiral?n_samples=500").status_code == 200
    error(client.get("/synthetic/spiral?n_samples=501"), 413)


@pytest.mark.parametrize("name", list(nn.synthetic.DATASETS))
def test_the_points_are_those_of_nn_datasets(client, name):
    r = client.get(f"/synthetic/{name}?n_samples=37&noise=0.2&seed=5")
    assert r.status_code == 200
    body = r.get_json()
    X, y = nn.synthetic.make(name, n_samples=37, noise=0.2, seed=5)
    assert np.array_equal(np.asarray(body["X"]), X)
    assert np.array_equal(np.asarray(body["y"]), y)
    assert (body["name"], body["n_samples"], body["noise"], body["seed"]) == (name, 37, 0.2, 5)
    assert body["task"] == nn.synthetic.DATASETS[name][1]


def test_absent_parameters_take_the_defaults_a_job_takes(client):
    body = client.get("/synthetic/moons").get_json()
    defaults = {k: p.default for k, p in nn.synthetic.PARAMS.items()}
    assert {k: body[k] for k in defaults} == defaults
    X, y = nn.synthetic.make("moons", **defaults)
    assert np.array_equal(np.asarray(body["X"]), X)
    assert np.array_equal(np.asarray(body["y"]), y)


def test_the_points_are_the_ones_a_job_trains_on(client, registry):
    params = {"name": "spiral", "n_samples": 90, "noise": 0.15, "seed": 3}
    r = client.post("/jobs", json={"data": {"synthetic": params}, "layers": [{"units": 4}]})
    assert r.status_code == 202, r.get_json()
    X, y, _ = registry.load_data(r.get_json()["id"])
    body = client.get("/synthetic/spiral?n_samples=90&noise=0.15&seed=3").get_json()
    assert np.array_equal(np.asarray(body["X"]), X)
    assert np.array_equal(np.asarray(body["y"]), y)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("n_samples=3", "n_samples"),
        ("n_samples=1000001", "n_samples"),
        ("n_samples=1.5", "n_samples"),
        ("n_samples=many", "n_samples"),
        ("noise=1.5", "noise"),
        ("noise=-0.1", "noise"),
        ("noise=nan", "noise"),
        ("noise=inf", "noise"),
        ("seed=-1", "seed"),
        ("seed=4294967296", "seed"),
        ("n_sample=10", "n_sample"),
    ],
)
def test_bad_parameters_are_422_naming_the_field(client, query, field):
    body = error(client.get(f"/synthetic/circle?{query}"), 422)
    assert list(body["errors"]["query"]) == [field]
    assert body["message"].startswith(f"{field}: ")


def test_the_same_parameters_are_refused_alike_by_a_job(client):
    """A job and the points endpoint give one reason for one bad value."""
    job = client.post("/jobs", json={"data": {"synthetic": {"name": "circle", "noise": 1.5}}})
    points = client.get("/synthetic/circle?noise=1.5")
    assert (
        error(job, 422)["errors"]["json"]["data"]["synthetic"]["noise"]
        == error(points, 422)["errors"]["query"]["noise"]
    )


def test_an_unknown_dataset_is_404_naming_the_known_ones(client):
    body = error(client.get("/synthetic/swirl"), 404)
    assert "swirl" in body["message"]
    for name in nn.synthetic.DATASETS:
        assert name in body["message"]
