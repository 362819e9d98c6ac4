"""Models and predictions: references, versions, the cache, deletion, readiness.

Models are put in the registry the way a worker does (start the job, train it with ``nn``
on its stored data, store the result through ``succeed_job``), so these tests need no
worker process.
"""

from __future__ import annotations

import math

import redis
from api_helpers import make_app, run_job

from domain.cache import ModelCache

XOR_X = [[0.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 0.0]] * 5
FAST = {"epochs": 5, "validation_split": 0}


def train(client, registry, name="xor", X=XOR_X, y=(0, 0, 1, 1) * 5, **spec) -> dict:
    job = {"name": name, "data": {"X": X, "y": list(y)}, "layers": [{"units": 4}]}
    job.update({"training": FAST, **spec})
    resp = client.post("/jobs", json=job)
    assert resp.status_code == 202, resp.get_json()
    return run_job(registry, resp.get_json()["id"])


def predict(client, ref, inputs):
    return client.post("/predict", json={"model_id": ref, "inputs": inputs})


def test_a_binary_model_predicts_by_id_name_and_version(client, registry):
    model = train(client, registry)
    assert model["version"] == 1
    for ref in (model["id"], "xor", "xor@1"):
        resp = predict(client, ref, [[0.0, 1.0], [1.0, 1.0], [0.2, 0.3]])
        assert resp.status_code == 200, resp.get_json()
        body = resp.get_json()
        assert body["model_id"] == model["id"]
        assert body["output"] == "sigmoid" and body["classes"] == [0, 1]
        assert len(body["probabilities"]) == 3
        assert all(0.0 <= p <= 1.0 for p in body["probabilities"])
        assert all(p in (0, 1) for p in body["predictions"])
    same = client.post(f"/models/{model['id']}/predict", json={"inputs": [[0.0, 1.0]]})
    assert same.get_json() == predict(client, "xor@1", [[0.0, 1.0]]).get_json()


def test_softmax_answers_in_the_original_labels(client, registry):
    labels = ["cat", "dog", "mouse", "dog"] * 5
    model = train(client, registry, name="pets", y=labels)
    body = predict(client, "pets", XOR_X[:4]).get_json()
    assert body["output"] == "softmax" and body["classes"] == ["cat", "dog", "mouse"]
    assert all(math.isclose(sum(row), 1.0, rel_tol=1e-6) for row in body["probabilities"])
    assert all(p in ("cat", "dog", "mouse") for p in body["predictions"])
    assert model["classes"] == ["cat", "dog", "mouse"]


def test_multilabel_and_regression_predictions(client, registry):
    train(client, registry, name="tags", y=[[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]] * 5)
    body = predict(client, "tags", XOR_X[:2]).get_json()
    assert body["output"] == "sigmoid" and body["classes"] == [0, 1, 2]
    assert [len(row) for row in body["probabilities"]] == [3, 3]
    assert all(v in (0, 1) for row in body["predictions"] for v in row)

    train(client, registry, name="sum", y=[a + b for a, b in XOR_X])
    body = predict(client, "sum", XOR_X[:3]).get_json()
    assert body["output"] == "linear" and "probabilities" not in body
    assert len(body["predictions"]) == 3
    assert all(isinstance(v, float) for v in body["predictions"])


def test_names_group_versions_and_the_name_means_the_latest(client, registry):
    first = train(client, registry, name="net")
    second = train(client, registry, name="net")
    other = train(client, registry, name="other")
    assert (first["version"], second["version"]) == (1, 2)
    assert client.get("/models/net").get_json()["id"] == second["id"]
    assert client.get("/models/net@1").get_json()["id"] == first["id"]
    assert predict(client, "net", [[0, 1]]).get_json()["model_id"] == second["id"]
    assert predict(client, "net@1", [[0, 1]]).get_json()["model_id"] == first["id"]

    listing = client.get("/models").get_json()
    assert listing["total"] == 3
    assert [m["id"] for m in listing["items"]] == [other["id"], second["id"], first["id"]]
    assert all("history" not in m for m in listing["items"])
    by_name = client.get("/models?name=net&page_size=1&page=2").get_json()
    assert by_name["total"] == 2 and [m["id"] for m in by_name["items"]] == [first["id"]]


def test_a_model_describes_itself(client, registry):
    model = train(client, registry)
    body = client.get(f"/models/{model['id']}").get_json()
    for key in ("id", "name", "version", "job_id", "created_at", "n_features", "output"):
        assert body[key] == model[key]
    assert body["layers"][0]["units"] == 4
    assert body["history"]["loss"] and "accuracy" in body["metrics"]
    job = client.get(f"/jobs/{body['job_id']}").get_json()
    assert job["status"] == "succeeded" and job["model_id"] == model["id"]


def test_wrong_inputs_are_422_naming_inputs(client, registry):
    model = train(client, registry)
    for inputs in ([[1.0, 2.0, 3.0]], [[1.0]], [[1.0, True]], [[1.0, None]], [], [1.0, 2.0]):
        resp = predict(client, model["id"], inputs)
        assert resp.status_code == 422, inputs
        assert resp.get_json()["errors"]["json"]["inputs"], inputs
    resp = predict(client, model["id"], [[1.0, 2.0, 3.0]])
    assert "takes 2" in resp.get_json()["message"]


def test_a_job_id_that_has_no_model_yet_is_409(client, registry):
    job = client.post("/jobs", json={"data": {"X": XOR_X, "y": [0, 1] * 10}}).get_json()
    for status in ("queued", "running"):
        if status == "running":
            registry.start_job(job["id"])
        for resp in (
            predict(client, job["id"], [[0, 1]]),
            client.post(f"/models/{job['id']}/predict", json={"inputs": [[0, 1]]}),
            client.get(f"/models/{job['id']}"),
        ):
            assert resp.status_code == 409
            assert status in resp.get_json()["message"]
    registry.fail_job(job["id"], "TrainingError", "diverged")
    resp = predict(client, job["id"], [[0, 1]])
    assert resp.status_code == 404 and "failed" in resp.get_json()["message"]


def test_a_finished_job_id_points_to_its_model(client, registry):
    model = train(client, registry)
    resp = predict(client, model["job_id"], [[0, 1]])
    assert resp.status_code == 404
    assert model["id"] in resp.get_json()["message"]


def test_deleting_a_model(client, registry, app):
    older = train(client, registry, name="net")
    newer = train(client, registry, name="net")
    assert predict(client, newer["id"], [[0, 1]]).status_code == 200
    assert newer["id"] in app.extensions["nnjobs"].cache

    resp = client.delete("/models/net")  # the latest version
    assert resp.status_code == 204 and resp.data == b""
    assert newer["id"] not in app.extensions["nnjobs"].cache
    assert predict(client, newer["id"], [[0, 1]]).status_code == 404
    assert client.get(f"/models/{newer['id']}").status_code == 404
    assert client.delete(f"/models/{newer['id']}").status_code == 404
    # the name now means the version that is left
    assert predict(client, "net", [[0, 1]]).get_json()["model_id"] == older["id"]
    assert client.get("/models?name=net").get_json()["total"] == 1


def test_a_model_deleted_through_another_api_process_is_not_served(
    redis_url, key_prefix, client, registry, app
):
    model = train(client, registry)
    assert predict(client, model["id"], [[0, 1]]).status_code == 200
    assert model["id"] in app.extensions["nnjobs"].cache

    other = make_app(redis_url, key_prefix).test_client()
    assert other.delete(f"/models/{model['id']}").status_code == 204
    for ref in (model["id"], "xor", "xor@1"):
        assert predict(client, ref, [[0, 1]]).status_code == 404
    assert model["id"] not in app.extensions["nnjobs"].cache


def test_predictions_come_from_the_cache(client, registry, app, redis_url, key_prefix):
    model = train(client, registry)
    first = predict(client, "xor", [[0, 1], [1, 1]]).get_json()
    # with its bytes gone from Redis, only the cached network can still answer
    r = redis.Redis.from_url(redis_url)
    r.hdel(f"{key_prefix}:model:{model['id']}", "blob")
    r.close()
    assert predict(client, "xor", [[0, 1], [1, 1]]).get_json() == first
    app.extensions["nnjobs"].cache.discard(model["id"])
    assert predict(client, "xor", [[0, 1]]).status_code == 404


def test_the_cache_is_bounded_by_configuration(redis_url, key_prefix):
    app = make_app(redis_url, key_prefix, NNJOBS_MODEL_CACHE=2)
    client, registry = app.test_client(), app.extensions["nnjobs"].registry
    ids = [train(client, registry, name=f"m{i}")["id"] for i in range(3)]
    for model_id in ids:
        assert predict(client, model_id, [[0, 1]]).status_code == 200
    assert app.extensions["nnjobs"].cache.ids() == ids[1:]


def test_lru_cache_evicts_the_least_recently_used():
    cache = ModelCache(2)
    a, b, c = object(), object(), object()
    cache.put("a", a)
    cache.put("b", b)
    assert cache.get("a") is a  # a is now the most recent
    cache.put("c", c)
    assert "b" not in cache and cache.get("a") is a and cache.get("c") is c
    cache.discard("a")
    cache.discard("missing")
    assert cache.ids() == ["c"] and len(cache) == 1
    off = ModelCache(0)
    off.put("a", a)
    assert off.get("a") is None and len(off) == 0


def test_a_succeeded_job_cannot_be_cancelled(client, registry):
    model = train(client, registry)
    resp = client.delete(f"/jobs/{model['job_id']}")
    assert resp.status_code == 409
    assert client.get(f"/models/{model['id']}").status_code == 200
