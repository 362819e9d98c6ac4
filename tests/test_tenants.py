"""Tenants: each key sees its own jobs, models, datasets and sweeps; names are a tenant's
own; what was stored before tenants existed is the tenant default's."""

from __future__ import annotations

import numpy as np
import pytest
from api_helpers import bearer, error, make_app, run_job
from conftest import RedisServer, free_port

import nn
from registry import Registry
from registry.tenants import entry_text

ALICE, BOB, ADMIN = "alice-key-0123456789", "bob-key-0123456789abc", "admin-key-0123456789"
XOR = {"data": {"X": [[0, 0], [0, 1], [1, 0], [1, 1]], "y": [0, 1, 1, 0]}}
IRIS = "a,b,species\n1,2,x\n2,1,y\n1,3,x\n3,1,y\n1,4,x\n4,1,y\n"


@pytest.fixture
def app(tmp_path, redis_url, prefix):
    path = tmp_path / "keys.toml"
    path.write_text(entry_text("alice", "trainer", ALICE) + entry_text("bob", "trainer", BOB))
    return make_app(redis_url, prefix, NNJOBS_KEYS_FILE=str(path), API_KEYS=ADMIN)


@pytest.fixture
def client(app):
    return app.test_client()


def registry_of(app) -> Registry:
    return app.extensions["nnjobs"].registry


def train(app, client, key: str, name: str, flip: bool = False) -> dict:
    """A model named ``name`` of the key's tenant, trained as the worker would."""
    y = [1, 0, 1, 0] if flip else [0, 1, 0, 1]
    body = {"name": name, "data": {"X": [[0, 0], [0, 1], [1, 0], [1, 1]], "y": y}}
    body["training"] = {"epochs": 5}
    job = client.post("/jobs", json=body, headers=bearer(key)).get_json()
    return run_job(registry_of(app), job["id"])


def test_both_tenants_train_iris_and_each_predicts_its_own(app, client):
    alices = train(app, client, ALICE, "iris")
    bobs = train(app, client, BOB, "iris", flip=True)
    assert alices["id"] != bobs["id"] and alices["version"] == bobs["version"] == 1
    for key, model in ((ALICE, alices), (BOB, bobs)):
        body = {"model_id": "iris", "inputs": [[0, 1]]}
        answer = client.post("/predict", json=body, headers=bearer(key)).get_json()
        assert answer["model_id"] == model["id"]
        assert client.get("/models/iris@1", headers=bearer(key)).get_json()["id"] == model["id"]
        listed = client.get("/models", headers=bearer(key)).get_json()
        assert [m["id"] for m in listed["items"]] == [model["id"]]
    # the admin sees both, and each tenant's alone with ?tenant=
    assert client.get("/models", headers=bearer(ADMIN)).get_json()["total"] == 2
    only = client.get("/models?tenant=bob", headers=bearer(ADMIN)).get_json()
    assert [m["id"] for m in only["items"]] == [bobs["id"]]
    assert error(client.get("/models?tenant=bob", headers=bearer(ALICE)), 403)


def test_another_tenants_things_are_404(app, client):
    model = train(app, client, ALICE, "iris")
    job_id = model["job_id"]
    dataset = client.post(
        "/datasets?name=iris", data=IRIS, headers={**bearer(ALICE), "Content-Type": "text/csv"}
    ).get_json()
    bob = bearer(BOB)
    for method, path in (
        ("get", f"/jobs/{job_id}"),
        ("get", f"/jobs/{job_id}?wait=5"),
        ("delete", f"/jobs/{job_id}"),
        ("get", f"/models/{model['id']}"),
        ("delete", f"/models/{model['id']}"),
        ("get", f"/datasets/{dataset['id']}"),
        ("get", "/datasets/iris"),
        ("delete", f"/datasets/{dataset['id']}"),
    ):
        assert error(getattr(client, method)(path, headers=bob), 404), path
    csv = {**bob, "Content-Type": "text/csv"}
    assert error(client.post(f"/models/{model['id']}/predict", data="a,b\n1,2\n", headers=csv), 404)
    on_alices = {"data": {"dataset": dataset["id"], "target": "species"}}
    assert error(client.post("/jobs", json=on_alices, headers=bob), 422)
    for path in ("/jobs", "/datasets", "/models", "/sweeps"):
        assert client.get(path, headers=bob).get_json()["total"] == 0, path
    # still there for alice and the admin
    assert client.get(f"/models/{model['id']}", headers=bearer(ADMIN)).status_code == 200
    assert client.get("/datasets/iris", headers=bearer(ALICE)).status_code == 200


def test_a_warm_start_from_another_tenants_model_is_refused_as_no_model(app, client):
    model = train(app, client, ALICE, "iris")
    body = {"name": "more", **XOR, "training": {"epochs": 5}}
    for ref in ("iris", model["id"]):
        answer = error(
            client.post("/jobs", json={**body, "init": {"model": ref}}, headers=bearer(BOB)), 422
        )
        message = answer["errors"]["json"]["init"]["model"][0]
        assert "no model" in message and ref in message, message
    assert client.get("/jobs", headers=bearer(BOB)).get_json()["total"] == 0
    # the owner's own reference is its model
    r = client.post("/jobs", json={**body, "init": {"model": "iris"}}, headers=bearer(ALICE))
    assert r.status_code == 202, r.get_json()
    assert r.get_json()["spec"]["init"] == {"model": model["id"]}


def test_a_tenants_filtered_listing_pages_newest_first(client):
    made = [
        client.post("/jobs", json={**XOR, "name": f"j{i}"}, headers=bearer(ALICE)).get_json()
        for i in range(3)
    ]
    client.post("/jobs", json=XOR, headers=bearer(BOB))
    client.delete(f"/jobs/{made[1]['id']}", headers=bearer(ALICE))
    pages = [
        client.get(f"/jobs?status=queued&page_size=1&page={n}", headers=bearer(ALICE)).get_json()
        for n in (1, 2, 3)
    ]
    assert [[j["id"] for j in p["items"]] for p in pages] == [[made[2]["id"]], [made[0]["id"]], []]
    assert {p["total"] for p in pages} == {2}


def test_data_stored_before_tenants_is_defaults(redis_url, prefix, tmp_path):
    old = Registry.from_url(redis_url, prefix=prefix)
    X, y = np.array([[0, 0], [0, 1], [1, 0], [1, 1]]), np.array([0, 1, 1, 0])
    spec, data = nn.validate({"training": {"epochs": 3}}, X, y)
    job = old.create_job(name="legacy", spec=spec, data=data, X=X, y=y)
    model = run_job(old, old.create_job(name="legacy", spec=spec, data=data, X=X, y=y)["id"])
    dataset = old.create_dataset({"name": "legacy", "n_columns": 1}, [b"0123456789"])
    # as stored before: no tenant field, in no tenant's index, no bytes counted
    for key in (old.keys.job(job["id"]), old.keys.job(model["job_id"])):
        old.r.hdel(key, "tenant")
    old.r.hdel(old.keys.model(model["id"]), "tenant")
    old.r.hdel(old.keys.dataset(dataset["id"]), "tenant", "bytes")
    for kind in ("jobs", "models", "datasets", "bytes"):
        old.r.delete(old.keys.owned(kind, "default"))
    path = tmp_path / "keys.toml"
    path.write_text(entry_text("alice", "trainer", ALICE))
    app = make_app(redis_url, prefix, NNJOBS_KEYS_FILE=str(path), API_KEYS=ADMIN)
    client = app.test_client()
    admin = bearer(ADMIN)
    listed = client.get("/jobs?tenant=default", headers=admin).get_json()
    assert {j["id"] for j in listed["items"]} == {job["id"], model["job_id"]}
    assert client.get("/models?tenant=default", headers=admin).get_json()["total"] == 1
    assert client.get("/datasets?tenant=default", headers=admin).get_json()["total"] == 1
    predicted = client.post(
        "/predict", json={"model_id": "legacy", "inputs": [[0, 1]]}, headers=admin
    )
    assert predicted.get_json()["model_id"] == model["id"]
    assert old.stored_bytes("default") == old.r.hstrlen(old.keys.model(model["id"]), "blob") + 10
    assert old.r.exists(old.keys.adopted)
    for path in (f"/jobs/{job['id']}", f"/models/{model['id']}", "/datasets/legacy"):
        assert client.get(path, headers=admin).status_code == 200
        assert error(client.get(path, headers=bearer(ALICE)), 404)
    # once only: a second process neither lists them twice nor counts their bytes again
    assert not registry_of(make_app(redis_url, prefix, API_KEYS=ADMIN)).adopt_untenanted()
    assert old.stored_bytes("default") == old.r.hstrlen(old.keys.model(model["id"]), "blob") + 10


def test_adoption_waits_for_a_redis_that_was_down_at_start(prefix):
    port = free_port()
    app = make_app(f"redis://127.0.0.1:{port}/0", prefix, API_KEYS=ADMIN)
    server = RedisServer(port=port).start()
    try:
        old = Registry.from_url(server.url, prefix=prefix)
        X, y = np.array([[0, 0], [1, 1]]), np.array([0, 1])
        job = old.create_job(name="legacy", spec={}, data={}, X=X, y=y)
        old.r.hdel(old.keys.job(job["id"]), "tenant")
        old.r.delete(old.keys.owned("jobs", "default"))
        client = app.test_client()
        assert client.get("/healthz").status_code == 200
        assert old.r.exists(old.keys.adopted)
        listed = client.get("/jobs?tenant=default", headers=bearer(ADMIN)).get_json()
        assert [j["id"] for j in listed["items"]] == [job["id"]]
    finally:
        server.cleanup()


@pytest.mark.parametrize("tenant", ["../bob", "", "a" * 65, "bob\n", "bób"])
def test_a_malformed_tenant_in_a_listing_is_422_naming_it(client, tenant):
    for path in ("/jobs", "/models", "/datasets", "/sweeps"):
        answer = client.get(path, query_string={"tenant": tenant}, headers=bearer(ADMIN))
        assert "tenant" in error(answer, 422)["errors"]["query"], path


def test_an_import_is_the_importers_own_name(app, client):
    alices = train(app, client, ALICE, "iris")
    blob = registry_of(app).model_blob(alices["id"])
    octets = {"Content-Type": "application/octet-stream"}
    imported = client.post(
        "/models/import?name=iris", data=blob, headers={**octets, **bearer(BOB)}
    ).get_json()
    assert imported["version"] == 1  # bob's first iris; alice's stays hers
    got = client.get("/models/iris", headers=bearer(BOB)).get_json()
    assert got["id"] == imported["id"]
    assert client.get("/models/iris", headers=bearer(ALICE)).get_json()["id"] == alices["id"]
    assert error(client.get(f"/models/{imported['id']}/export", headers=bearer(ALICE)), 404)
