"""Sweeps: one ordinary job per combination of varied values, checked as POST /jobs checks
a job, all refused together, run by a real worker, ranked, listed and cancelled."""

from __future__ import annotations

import base64
import json
import time

import pytest
from api_helpers import error, make_app, run_job, stored, wait_for_job, worker_thread

import nn
from domain import sweeps
from service import schemas

SPIRAL = {"synthetic": {"name": "spiral", "n_samples": 200}}
JOB = {"data": SPIRAL, "layers": [{"units": 8}], "training": {"epochs": 5}}
# enough work that a job is still running when the test cancels it
SLOW_JOB = {
    "data": {"synthetic": {"name": "spiral", "n_samples": 2000}},
    "layers": [{"units": 64}, {"units": 64}],
    "training": {"epochs": 10_000, "early_stopping": False},
}


@pytest.fixture
def app(redis_url, key_prefix):
    return make_app(redis_url, key_prefix)


def post_sweep(client, body) -> dict:
    resp = client.post("/sweeps", json=body)
    assert resp.status_code == 202, resp.get_json()
    sweep = resp.get_json()
    assert resp.headers["Location"] == f"/sweeps/{sweep['id']}"
    return sweep


def wait_for_sweep(client, sweep_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        sweep = client.get(f"/sweeps/{sweep_id}").get_json()
        if sweep["status"] not in ("queued", "running"):
            return sweep
        assert time.monotonic() < deadline, f"sweep still {sweep['status']}: {sweep['counts']}"
        time.sleep(0.05)


# -- refusals -------------------------------------------------------------------------------


def _path(body: dict) -> list[str]:
    """The first field the error names, as a list of keys."""
    node, path = body["errors"]["json"], []
    while isinstance(node, dict):
        key = next(iter(node))
        path.append(key)
        node = node[key]
    return path


REFUSED = [
    ({}, 422, ["vary", "_schema"]),
    ({"momentum": [0.9]}, 422, ["vary", "momentum"]),
    ({"activation": []}, 422, ["vary", "activation"]),
    ({"activation": ["relu", "tanh", "relu"]}, 422, ["vary", "activation", "2"]),
    # an alias names the same activation
    ({"activation": ["silu", "swish"]}, 422, ["vary", "activation", "1"]),
    ({"learning_rate": [0.1, 0.1]}, 422, ["vary", "learning_rate", "1"]),
    ({"layers": [[{"units": 4}], [{"units": 4}]]}, 422, ["vary", "layers", "1"]),
    ({"activation": ["relu", "softmax"]}, 422, ["vary", "activation", "1"]),
    ({"optimizer": ["adam", "newton"]}, 422, ["vary", "optimizer", "1"]),
    ({"learning_rate": [0.1, 0.01, -1]}, 422, ["vary", "learning_rate", "2"]),
    ({"learning_rate": ["fast"]}, 422, ["vary", "learning_rate", "0"]),
    (
        {"activation": ["relu", "tanh"], "layers": [[{"units": 4}], [{"units": 0}]]},
        422,
        ["vary", "layers", "1", "0", "units"],
    ),
    (
        {"layers": [[{"units": 4}], [{"units": 4, "pieces": 3}]]},
        422,
        ["vary", "layers", "1", "0", "pieces"],
    ),
    ({"learning_rate": [x / 1000 for x in range(1, 66)]}, 413, ["vary"]),
    ({"activation": ["relu", "tanh"], "learning_rate": [x / 100 for x in range(1, 34)]}, 413, None),
]


@pytest.mark.parametrize(("vary", "code", "path"), REFUSED)
def test_a_bad_sweep_is_refused_naming_the_field_and_nothing_is_stored(
    client, r, key_prefix, vary, code, path
):
    body = error(client.post("/sweeps", json={"job": JOB, "vary": vary}), code)
    if path is not None:
        assert _path(body) == path, body
        assert body["message"].startswith(".".join(p for p in path if p != "_schema"))
    if code == 413:
        assert "NNJOBS_MAX_SWEEP_JOBS" in body["message"] and "64" in body["message"]
    assert stored(r, key_prefix) == [([], 0)]


def test_a_combination_the_varied_values_do_not_explain_is_blamed_on_the_job(client, r, key_prefix):
    job = {**JOB, "layers": [{"units": 0}]}
    body = error(client.post("/sweeps", json={"job": job, "vary": {"learning_rate": [0.1]}}), 422)
    assert _path(body) == ["job", "layers", "0", "units"]
    assert "NNJOBS_MAX_UNITS" in body["message"]  # as POST /jobs names it
    body = error(client.post("/sweeps", json={"vary": {"learning_rate": [0.1]}}), 422)
    assert _path(body) == ["job"]
    assert stored(r, key_prefix) == [([], 0)]


def test_bad_data_is_named_where_it_sits_in_the_sweep(client, r, key_prefix):
    ragged = {"X": [[0, 1], [1]], "y": [0, 1]}
    vary = {"learning_rate": [0.1]}
    body = error(client.post("/sweeps", json={"job": {**JOB, "data": ragged}, "vary": vary}), 422)
    assert _path(body)[:3] == ["job", "data", "X"], body
    one_class = {"X": [[0, 1], [1, 0]], "y": [1, 1]}
    body = error(
        client.post("/sweeps", json={"job": {**JOB, "data": one_class}, "vary": vary}), 422
    )
    assert _path(body)[:3] == ["job", "data", "y"], body
    synthetic = {"synthetic": {"name": "spiral", "n_samples": 10**6}}
    small = make_app(
        redis_url=client.application.config["REDIS_URL"],
        key_prefix=key_prefix,
        NNJOBS_MAX_VALUES=1000,
    )
    body = error(
        small.test_client().post("/sweeps", json={"job": {**JOB, "data": synthetic}, "vary": vary}),
        413,
    )
    assert _path(body)[:3] == ["job", "data", "synthetic"], body
    assert stored(r, key_prefix) == [([], 0)]


def test_a_combination_over_the_compute_budget_is_refused_with_413(redis_url, key_prefix, r):
    client = make_app(redis_url, key_prefix, NNJOBS_MAX_COMPUTE=1e6).test_client()
    vary = {"layers": [[{"units": 2}], [{"units": 512}, {"units": 512}]]}
    body = error(client.post("/sweeps", json={"job": JOB, "vary": vary}), 413)
    assert _path(body) == ["vary", "layers", "1"] and "NNJOBS_MAX_COMPUTE" in body["message"]
    assert stored(r, key_prefix) == [([], 0)]


def test_the_cap_is_configurable(redis_url, key_prefix, r):
    client = make_app(redis_url, key_prefix, NNJOBS_MAX_SWEEP_JOBS=2).test_client()
    body = error(
        client.post("/sweeps", json={"job": JOB, "vary": {"activation": ["relu", "tanh", "elu"]}}),
        413,
    )
    assert "3 combinations" in body["message"] and "limit of 2" in body["message"]
    assert stored(r, key_prefix) == [([], 0)]
    post_sweep(client, {"job": JOB, "vary": {"activation": ["relu", "tanh"]}})


def test_every_vary_key_has_a_way_to_change_a_job():
    assert set(sweeps.APPLY) == set(schemas.SweepVarySchema().fields)


# -- what a sweep queues --------------------------------------------------------------------


def test_one_job_per_combination_each_recording_its_sweep(client, registry, r, key_prefix):
    job = {
        **JOB,
        "layers": [{"units": 8, "activation": "elu", "alpha": 0.5}, {"units": 4}],
        "training": {"epochs": 5, "optimizer": "momentum", "momentum": 0.5},
    }
    vary = {"activation": ["elu", "leaky_relu", "maxout"], "optimizer": ["momentum", "adam"]}
    sweep = post_sweep(client, {"name": "grid", "job": job, "vary": vary})
    assert (sweep["name"], sweep["status"], sweep["n_jobs"], sweep["vary"]) == (
        "grid",
        "queued",
        6,
        vary,
    )
    assert sweep["counts"] == {
        "queued": 6,
        "running": 0,
        "succeeded": 0,
        "failed": 0,
        "cancelled": 0,
    }
    assert sweep["finished_at"] is None and sweep["leaderboard"] == []
    # the cartesian product, the first key varying slowest
    assert [j["vary"] for j in sweep["jobs"]] == [
        {"activation": a, "optimizer": o} for a in vary["activation"] for o in vary["optimizer"]
    ]
    # one message per job, each job an ordinary one
    assert r.llen(key_prefix) == 6
    assert registry.list_jobs(limit=100)[1] == 6
    for entry in sweep["jobs"]:
        stored_job = client.get(f"/jobs/{entry['id']}").get_json()
        assert stored_job["sweep_id"] == sweep["id"] and stored_job["name"] == "grid"
        spec, values = stored_job["spec"], entry["vary"]
        assert spec["activation"] == values["activation"]
        assert [layer["activation"] for layer in spec["layers"]] == [values["activation"]] * 2
        first = spec["layers"][0]
        # elu's alpha stays with elu; another activation takes its own defaults
        if values["activation"] == "elu":
            assert first["alpha"] == 0.5
        elif values["activation"] == "leaky_relu":
            assert first["alpha"] == nn.ACTIVATIONS["leaky_relu"].params["alpha"].default
        else:
            assert "alpha" not in first and first["pieces"] == 2
        assert spec["training"]["optimizer"] == values["optimizer"]
        # the momentum optimizer keeps its setting; adam has none of that name
        assert ("momentum" in spec["training"]) == (values["optimizer"] == "momentum")
        if values["optimizer"] == "momentum":
            assert spec["training"]["momentum"] == 0.5


def test_a_plain_job_belongs_to_no_sweep(client):
    job = client.post("/jobs", json=JOB).get_json()
    assert job["sweep_id"] is None
    assert client.get(f"/jobs/{job['id']}").get_json()["sweep_id"] is None


def test_the_job_name_wins_over_the_sweep_name(client):
    sweep = post_sweep(
        client, {"name": "grid", "job": {**JOB, "name": "mine"}, "vary": {"learning_rate": [0.1]}}
    )
    assert client.get(f"/jobs/{sweep['jobs'][0]['id']}").get_json()["name"] == "mine"
    sweep = post_sweep(client, {"job": {**JOB, "name": "mine"}, "vary": {"learning_rate": [0.1]}})
    assert sweep["name"] == "mine"
    unnamed = post_sweep(client, {"job": JOB, "vary": {"learning_rate": [0.1]}})
    assert unnamed["name"] is None
    assert client.get(f"/jobs/{unnamed['jobs'][0]['id']}").get_json()["name"] == "model"


def test_varied_layers_get_the_varied_activation_too(client):
    vary = {
        "layers": [[{"units": 4}], [{"units": 4}, {"units": 3, "alpha": 0.3}]],
        "activation": ["tanh", "leaky_relu"],
    }
    sweep = post_sweep(client, {"job": JOB, "vary": vary})
    for entry in sweep["jobs"]:
        spec = client.get(f"/jobs/{entry['id']}").get_json()["spec"]
        assert [layer["units"] for layer in spec["layers"]] == [
            x["units"] for x in entry["vary"]["layers"]
        ]
        assert {layer["activation"] for layer in spec["layers"]} == {entry["vary"]["activation"]}


def queued_job_ids(r, queue: str) -> list[str]:
    """The job ids of the training messages in ``queue``, in the order a worker takes
    them (the Redis transport pushes on the left and pops on the right)."""
    ids = []
    for raw in reversed(r.lrange(queue, 0, -1)):
        body = json.loads(base64.b64decode(json.loads(raw)["body"]))
        ids.append(body[0][0])
    return ids


def test_the_costliest_jobs_of_a_sweep_are_queued_first(client, r, key_prefix):
    # the last jobs to start are then short ones, and the worker processes end together
    small, large, middle = [{"units": 4}], [{"units": 64}, {"units": 64}], [{"units": 32}]
    vary = {"layers": [small, large, middle], "learning_rate": [0.01, 0.1]}
    sweep = post_sweep(client, {"job": JOB, "vary": vary})
    ids = {json.dumps(layers): [] for layers in (large, middle, small)}
    for entry in sweep["jobs"]:
        ids[json.dumps(entry["vary"]["layers"])].append(entry["id"])
    # ties (the learning rate costs nothing) keep the order of the combinations
    assert queued_job_ids(r, key_prefix) == [i for same in ids.values() for i in same]


def test_a_job_is_estimated_to_take_longer_with_more_of_what_it_computes():
    X, y = nn.synthetic.make("spiral", 1000, seed=0)

    def seconds(layers, **training):
        spec = {"layers": layers, "training": {"epochs": 10, **training}}
        return sweeps.estimated_seconds(*nn.validate(spec, X, y))

    base = seconds([{"units": 16}])
    assert seconds([{"units": 16}], epochs=20) == pytest.approx(2 * base)
    assert seconds([{"units": 64}]) > base
    assert seconds([{"units": 16}] * 3) > base
    assert seconds([{"units": 16}], batch_size=8) > base
    assert seconds([{"units": 16, "activation": "maxout", "pieces": 4}]) > base


# -- a real sweep ---------------------------------------------------------------------------


def test_a_spiral_sweep_runs_and_ranks_relu_far_above_linear(client, redis_url, key_prefix):
    """A straight line cannot follow a spiral: however many linear layers, the network is
    one linear map and stays near chance, where relu and tanh separate the arms."""
    job = {
        "name": "spiral",
        "data": {"synthetic": {"name": "spiral", "n_samples": 300}},
        "layers": [{"units": 64}, {"units": 64, "activation": "leaky_relu", "alpha": 0.2}],
        "training": {"epochs": 400, "learning_rate": 0.03, "early_stopping": False},
    }
    activations = ["linear", "relu", "tanh", "leaky_relu"]
    sweep = post_sweep(client, {"job": job, "vary": {"activation": activations}})
    with worker_thread(redis_url, key_prefix):
        done = wait_for_sweep(client, sweep["id"], timeout=120)
    assert done["status"] == "succeeded", done["counts"]
    assert done["counts"]["succeeded"] == 4 and done["finished_at"] is not None

    board = done["leaderboard"]
    assert [e["rank"] for e in board] == [1, 2, 3, 4]
    assert sorted(e["job_id"] for e in board) == sorted(j["id"] for j in done["jobs"])
    assert all(e["metric"] == "val_accuracy" for e in board)
    values = [e["value"] for e in board]
    assert values == sorted(values, reverse=True)
    by_activation = {}
    for entry in board:
        job_record = wait_for_job(client, entry["job_id"])
        spec = job_record["spec"]
        activation = entry["vary"]["activation"]
        assert [layer["activation"] for layer in spec["layers"]] == [activation] * 2
        assert spec["layers"][1].get("alpha") == (0.2 if activation == "leaky_relu" else None)
        model = client.get(f"/models/{entry['model_id']}").get_json()
        assert model["job_id"] == entry["job_id"] and model["metrics"] == entry["metrics"]
        assert entry["value"] == model["metrics"]["val_accuracy"]
        by_activation[activation] = entry["value"]
    assert by_activation["linear"] <= 0.75, by_activation
    assert by_activation["relu"] >= 0.9, by_activation
    assert board[-1]["vary"] == {"activation": "linear"}


def test_regression_ranks_by_validation_loss_and_no_split_by_the_training_metric(
    client, redis_url, key_prefix
):
    plane = {
        "data": {"synthetic": {"name": "plane", "n_samples": 200}},
        "layers": [{"units": 8}],
        "training": {"epochs": 20},
    }
    regression = post_sweep(client, {"job": plane, "vary": {"learning_rate": [0.0001, 0.02]}})
    no_split = {**JOB, "training": {"epochs": 5, "validation_split": 0}}
    classification = post_sweep(client, {"job": no_split, "vary": {"activation": ["tanh", "relu"]}})
    with worker_thread(redis_url, key_prefix):
        regression = wait_for_sweep(client, regression["id"])
        classification = wait_for_sweep(client, classification["id"])
    board = regression["leaderboard"]
    assert [e["metric"] for e in board] == ["val_loss", "val_loss"]
    assert board[0]["value"] <= board[1]["value"]
    assert board[0]["vary"] == {"learning_rate": 0.02}  # a step 200 times larger learns more
    board = classification["leaderboard"]
    assert [e["metric"] for e in board] == ["accuracy", "accuracy"]
    assert board[0]["value"] >= board[1]["value"]


def _job(index, status, metrics=None, kind="binary"):
    return {
        "id": f"j{index}",
        "status": status,
        "model_id": f"m{index}" if status == "succeeded" else None,
        "data": {"kind": kind},
        "metrics": metrics,
        "finished_at": None,
    }


def test_ties_are_broken_by_the_loss_then_by_the_order_of_the_combinations():
    jobs = [
        _job(0, "succeeded", {"val_accuracy": 0.9, "val_loss": 0.3}),
        _job(1, "failed"),
        _job(2, "succeeded", {"val_accuracy": 0.9, "val_loss": 0.2}),
        _job(3, "succeeded", {"val_accuracy": 0.95, "val_loss": 0.4}),
        _job(4, "succeeded", {"val_accuracy": 0.9, "val_loss": 0.2}),
    ]
    combos = [{"learning_rate": x} for x in range(5)]
    board = sweeps.leaderboard(jobs, combos)
    assert [e["job_id"] for e in board] == ["j3", "j2", "j4", "j0"]
    assert [e["rank"] for e in board] == [1, 2, 3, 4]
    assert board[0]["vary"] == {"learning_rate": 3}


@pytest.mark.parametrize(
    ("statuses", "cancelled", "expected"),
    [
        (["queued", "queued"], False, "queued"),
        (["queued", "running"], False, "running"),
        (["succeeded", "queued"], False, "running"),
        (["succeeded", "failed"], False, "succeeded"),
        (["failed", "failed"], False, "failed"),
        (["failed", "cancelled"], False, "cancelled"),
        (["succeeded", "cancelled"], True, "cancelled"),
    ],
)
def test_the_sweep_status_follows_its_jobs(statuses, cancelled, expected):
    raw = {
        "id": "s",
        "name": None,
        "created_at": "t",
        "cancelled_at": "t" if cancelled else None,
        "vary": {"learning_rate": list(range(len(statuses)))},
        "combinations": [{"learning_rate": i} for i in range(len(statuses))],
        "jobs": [_job(i, s, {"val_accuracy": 0.5}) for i, s in enumerate(statuses)],
    }
    assert sweeps.describe(raw)["status"] == expected


# -- cancelling -----------------------------------------------------------------------------


def test_cancelling_a_sweep_cancels_its_unfinished_jobs(client, redis_url, key_prefix):
    sweep = post_sweep(
        client, {"job": SLOW_JOB, "vary": {"activation": ["relu", "tanh", "sigmoid"]}}
    )
    with worker_thread(redis_url, key_prefix):
        deadline = time.monotonic() + 30
        while client.get(f"/sweeps/{sweep['id']}").get_json()["status"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        resp = client.delete(f"/sweeps/{sweep['id']}")
        assert resp.status_code == 200, resp.get_json()
        cancelled = resp.get_json()
        assert cancelled["status"] == "cancelled" and cancelled["finished_at"] is not None
        assert cancelled["counts"]["cancelled"] == 3
        for entry in cancelled["jobs"]:
            job = wait_for_job(client, entry["id"])
            assert job["status"] == "cancelled" and job["model_id"] is None
    assert client.get(f"/sweeps/{sweep['id']}").get_json()["status"] == "cancelled"
    assert client.get("/models").get_json()["total"] == 0
    body = error(client.delete(f"/sweeps/{sweep['id']}"), 409)
    assert "cancelled" in body["message"]


def test_cancelling_keeps_the_results_of_jobs_that_ended(client, registry):
    sweep = post_sweep(client, {"job": JOB, "vary": {"learning_rate": [0.01, 0.02, 0.03]}})
    first = sweep["jobs"][0]["id"]
    run_job(registry, first)
    cancelled = client.delete(f"/sweeps/{sweep['id']}").get_json()
    assert cancelled["status"] == "cancelled"
    assert [j["status"] for j in cancelled["jobs"]] == ["succeeded", "cancelled", "cancelled"]
    assert [e["job_id"] for e in cancelled["leaderboard"]] == [first]
    assert cancelled["counts"]["succeeded"] == 1 and cancelled["counts"]["cancelled"] == 2


def test_a_sweep_that_ended_cannot_be_cancelled(client, registry):
    sweep = post_sweep(client, {"job": JOB, "vary": {"learning_rate": [0.01]}})
    run_job(registry, sweep["jobs"][0]["id"])
    body = error(client.delete(f"/sweeps/{sweep['id']}"), 409)
    assert "succeeded" in body["message"]
    assert client.get(f"/sweeps/{sweep['id']}").get_json()["status"] == "succeeded"


def test_an_unknown_sweep_is_404(client):
    for method in (client.get, client.delete):
        body = error(method("/sweeps/0123456789abcdef"), 404)
        assert "0123456789abcdef" in body["message"]


# -- listing --------------------------------------------------------------------------------


def test_sweeps_are_listed_newest_first_and_paginated(client):
    ids = [
        post_sweep(client, {"name": f"s{i}", "job": JOB, "vary": {"learning_rate": [0.1]}})["id"]
        for i in range(3)
    ]
    first = client.get("/sweeps?page_size=2").get_json()
    assert (first["total"], first["page"], first["page_size"]) == (3, 1, 2)
    assert [s["id"] for s in first["items"]] == ids[::-1][:2]
    second = client.get("/sweeps?page=2&page_size=2").get_json()
    assert [s["id"] for s in second["items"]] == ids[:1]
    assert second["items"][0] == client.get(f"/sweeps/{ids[0]}").get_json()
    assert client.get("/sweeps?page=3&page_size=2").get_json()["items"] == []
    error(client.get("/sweeps?page_size=1000"), 422)
    error(client.get("/sweeps?status=queued"), 422)


def test_the_registry_reads_a_sweep_and_its_jobs_in_two_round_trips(registry, client):
    sweep = post_sweep(client, {"job": JOB, "vary": {"learning_rate": [0.1, 0.2, 0.3]}})
    calls = []
    execute = type(registry.r.pipeline()).execute

    def counting(pipe, *args, **kwargs):
        calls.append(len(pipe.command_stack))
        return execute(pipe, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(type(registry.r.pipeline()), "execute", counting)
        raw = registry.get_sweep(sweep["id"])
    assert calls == [2, 3]  # the sweep and its job list; then the three jobs
    assert [j["id"] for j in raw["jobs"]] == [j["id"] for j in sweep["jobs"]]
