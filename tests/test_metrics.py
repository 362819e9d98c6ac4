"""GET /metrics: Prometheus's text format, the API process's figures, and the
deployment's figures read from Redis (where the worker's ends of jobs are counted)."""

from __future__ import annotations

import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
import requests
from api_helpers import drop_keys, make_app, run_job, wait_for_job, worker_thread
from live_service import LiveService, train_and_predict
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

from registry import JOB_STATUSES
from service.metrics import OTHER_MODELS

TINY = {
    "data": {"synthetic": {"name": "xor", "n_samples": 60, "noise": 0.05, "seed": 0}},
    "layers": [{"units": 4, "activation": "tanh"}],
    "training": {"epochs": 5},
}


def parse(text: str) -> dict:
    """``{sample name: {frozenset of label items: value}}`` of an exposition."""
    out: dict = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, {})[frozenset(sample.labels.items())] = sample.value
    return out


def value(samples: dict, name: str, **labels) -> float:
    """A sample's value; 0 when the series does not exist (yet)."""
    return samples.get(name, {}).get(frozenset(labels.items()), 0.0)


def scrape(client) -> dict:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    return parse(response.get_data(as_text=True))


@pytest.fixture
def app(redis_url, key_prefix):
    app = make_app(redis_url, key_prefix)
    yield app
    drop_keys(app.extensions["nnjobs"].registry.r, key_prefix)


def test_a_job_through_a_real_worker_and_predictions_move_the_figures(app, client, redis_url):
    name = f"m-{uuid.uuid4().hex[:8]}"
    before = scrape(client)
    with worker_thread(redis_url, app.extensions["nnjobs"].queue):
        response = client.post("/jobs", json={"name": name, **TINY})
        assert response.status_code == 202
        job = wait_for_job(client, response.get_json()["id"])
    assert job["status"] == "succeeded", job
    for _ in range(2):
        body = {"model_id": name, "inputs": [[0, 0], [1, 0], [0, 1]]}
        assert client.post("/predict", json=body).status_code == 200
    # a CSV body counts under the model's name too (its columns have names of their own)
    csv_body = {"data": "x0,x1\n0,0\n1,1\n", "headers": {"Content-Type": "text/csv"}}
    assert client.post(f"/models/{name}/predict", **csv_body).status_code == 200
    after = scrape(client)

    # the deployment's figures: from Redis, under this test's own prefix
    assert value(after, "nnjobs_redis_up") == 1
    assert value(after, "nnjobs_jobs_submitted_total") == 1
    assert value(after, "nnjobs_jobs_ended_total", status="succeeded") == 1
    assert value(after, "nnjobs_jobs_ended_total", status="failed") == 0
    assert value(after, "nnjobs_training_duration_seconds_count", status="succeeded") == 1
    assert (
        value(after, "nnjobs_training_duration_seconds_bucket", status="succeeded", le="+Inf") == 1
    )
    assert value(after, "nnjobs_jobs", status="succeeded") == 1
    assert value(after, "nnjobs_jobs", status="queued") == 0
    assert value(after, "nnjobs_queue_length", queue=app.extensions["nnjobs"].queue) == 0

    # this process's figures: predictions by model name
    assert value(after, "nnjobs_predictions_total", model=name) == 3
    assert value(after, "nnjobs_prediction_rows_total", model=name) == 8
    assert value(after, "nnjobs_prediction_duration_seconds_count", model=name) == 3
    # (the registry is the test process's: other tests' models are in it too)
    assert value(after, "nnjobs_predictions_total", model="x1") == 0
    assert not any(
        ("model", job["model_id"]) in labels for labels in after["nnjobs_predictions_total"]
    )

    # requests by route (the URL rule: ids do not become labels) and status
    def requests_(samples, method, route, status):
        return value(
            samples, "nnjobs_http_requests_total", method=method, route=route, status=status
        )

    assert requests_(after, "POST", "/jobs", "202") - requests_(before, "POST", "/jobs", "202") == 1
    assert (
        requests_(after, "POST", "/predict", "200") - requests_(before, "POST", "/predict", "200")
        == 2
    )
    polled = requests_(after, "GET", "/jobs/<ref:job_id>", "200")
    assert polled - requests_(before, "GET", "/jobs/<ref:job_id>", "200") >= 1
    routes = {dict(labels)["route"] for labels in after["nnjobs_http_requests_total"]}
    assert not any(job["id"] in route for route in routes)
    durations = "nnjobs_http_request_duration_seconds_count"
    assert value(after, durations, method="POST", route="/jobs") >= 1


def test_series_by_model_name_are_capped_and_the_rest_fold_into_one(redis_url, key_prefix):
    app = make_app(redis_url, key_prefix, NNJOBS_METRICS_MAX_MODELS=2)
    client, registry = app.test_client(), app.extensions["nnjobs"].registry
    prefix = f"cap-{uuid.uuid4().hex[:8]}"
    names = [f"{prefix}-{i}" for i in range(5)]
    try:
        for name in names:
            job = client.post("/jobs", json={"name": name, **TINY, "training": {"epochs": 1}})
            run_job(registry, job.get_json()["id"])
        before = scrape(client)
        for name in [*names, *names]:
            body = {"model_id": name, "inputs": [[0, 1]]}
            assert client.post("/predict", json=body).status_code == 200
        after = scrape(client)
    finally:
        drop_keys(registry.r, key_prefix)

    def labels(samples):
        return {dict(k)["model"] for k in samples.get("nnjobs_predictions_total", {})}

    # other tests' names are in this process's registry too: count what this test added
    added = labels(after) - labels(before)
    assert added <= {*names[:2], OTHER_MODELS} and len(added) <= 3
    for name in names[:2]:
        assert value(after, "nnjobs_predictions_total", model=name) == 2
    folded = value(after, "nnjobs_predictions_total", model=OTHER_MODELS)
    assert folded - value(before, "nnjobs_predictions_total", model=OTHER_MODELS) == 6
    rows = "nnjobs_prediction_rows_total"
    assert value(after, rows, model=OTHER_MODELS) - value(before, rows, model=OTHER_MODELS) == 6


def test_the_training_histogram_is_read_from_redis(app, client, redis_url, key_prefix):
    """A second app (another process would do the same) on the same Redis and prefix
    reports the job the worker ended: nothing comes from the worker's memory."""
    with worker_thread(redis_url, key_prefix):
        response = client.post("/jobs", json=TINY)
        assert wait_for_job(client, response.get_json()["id"])["status"] == "succeeded"
    other = make_app(redis_url, key_prefix).test_client()
    seen = scrape(other)
    assert value(seen, "nnjobs_training_duration_seconds_count", status="succeeded") == 1
    stored = app.extensions["nnjobs"].registry.r.hgetall(f"{key_prefix}:stats:training:succeeded")
    assert int(stored[b"count"]) == 1
    buckets = sorted(
        (float(le), v)
        for labels, v in seen["nnjobs_training_duration_seconds_bucket"].items()
        for key, le in labels
        if key == "le" and ("status", "succeeded") in labels
    )
    counts = [v for _, v in buckets]
    assert counts == sorted(counts) and counts[-1] == 1  # cumulative


def test_queue_depth_and_jobs_by_status_reflect_redis(app, client, registry):
    ids = [client.post("/jobs", json=TINY).get_json()["id"] for _ in range(3)]
    assert client.delete(f"/jobs/{ids[0]}").status_code == 200
    registry.start_job(ids[1])
    registry.fail_job(ids[1], "Broken", "it broke")
    seen = scrape(client)

    r, queue = registry.r, app.extensions["nnjobs"].queue
    assert value(seen, "nnjobs_queue_length", queue=queue) == r.llen(queue) == 3
    for status in JOB_STATUSES:
        expected = {"queued": 1, "cancelled": 1, "failed": 1}.get(status, 0)
        assert value(seen, "nnjobs_jobs", status=status) == expected, status
        assert r.zcard(f"{registry.prefix}:jobs:{status}") == expected
    assert value(seen, "nnjobs_jobs_submitted_total") == 3
    assert value(seen, "nnjobs_jobs_ended_total", status="cancelled") == 1
    assert value(seen, "nnjobs_jobs_ended_total", status="failed") == 1
    # only a job that ran has a training time: the cancelled one was still queued
    assert value(seen, "nnjobs_training_duration_seconds_count", status="failed") == 1
    assert value(seen, "nnjobs_training_duration_seconds_count", status="cancelled") == 0


def test_a_scrape_costs_the_same_few_redis_commands_however_many_jobs(client, monkeypatch):
    # counted on the client side: the server's own count would include other tests'
    # workers polling the same Redis
    sent: list = []
    original_execute = redis.client.Pipeline.execute
    original_command = redis.Redis.execute_command

    def execute(pipe, *args, **kwargs):
        sent.append(len(pipe.command_stack))
        return original_execute(pipe, *args, **kwargs)

    def command(conn, *args, **kwargs):
        sent.append(1)
        return original_command(conn, *args, **kwargs)

    monkeypatch.setattr(redis.client.Pipeline, "execute", execute)
    monkeypatch.setattr(redis.Redis, "execute_command", command)

    def commands_per_scrape() -> list:
        sent.clear()
        scrape(client)
        return list(sent)

    client.post("/jobs", json=TINY)
    few = commands_per_scrape()
    for _ in range(15):
        client.post("/jobs", json=TINY)
    # one round trip, a pipeline of the same few commands
    assert commands_per_scrape() == few and len(few) == 1 and few[0] <= 13


def test_every_job_of_a_sweep_counts_as_submitted(client, app):
    body = {"job": TINY, "vary": {"learning_rate": [0.1, 0.01, 0.001]}}
    response = client.post("/sweeps", json=body)
    assert response.status_code == 202, response.get_json()
    seen = scrape(client)
    assert value(seen, "nnjobs_jobs_submitted_total") == 3
    assert value(seen, "nnjobs_jobs", status="queued") == 3
    assert value(seen, "nnjobs_queue_length", queue=app.extensions["nnjobs"].queue) == 3


def test_a_job_given_up_in_the_queue_counts_as_failed(client, registry):
    job_id = client.post("/jobs", json=TINY).get_json()["id"]
    assert registry.claim_job(job_id, max_attempts=0)[0] == "exhausted"
    seen = scrape(client)
    assert value(seen, "nnjobs_jobs_ended_total", status="failed") == 1
    assert value(seen, "nnjobs_training_duration_seconds_count", status="failed") == 0


def test_a_request_matching_no_route_is_labelled_unmatched(client):
    before = scrape(client)
    assert client.get(f"/nowhere/{uuid.uuid4().hex}").status_code == 404
    after = scrape(client)
    labels = {"method": "GET", "route": "unmatched", "status": "404"}
    delta = value(after, "nnjobs_http_requests_total", **labels) - value(
        before, "nnjobs_http_requests_total", **labels
    )
    assert delta == 1


def test_a_method_of_the_clients_choosing_is_labelled_other(client):
    # each made-up method would otherwise be a series of its own
    before = scrape(client)
    for method in ("BREW", "WHEN"):
        assert client.open("/healthz", method=method).status_code == 405
    after = scrape(client)
    labels = {"method": "other", "route": "unmatched", "status": "405"}
    delta = value(after, "nnjobs_http_requests_total", **labels) - value(
        before, "nnjobs_http_requests_total", **labels
    )
    assert delta == 2
    assert 'method="BREW"' not in after and 'method="WHEN"' not in after


def test_with_redis_away_the_metrics_still_answer():
    client = make_app("redis://127.0.0.1:1/0", "unused").test_client()
    seen = scrape(client)
    assert value(seen, "nnjobs_redis_up") == 0
    assert "nnjobs_jobs" not in seen


def test_the_metrics_are_not_in_the_openapi_document(client):
    assert "/metrics" not in client.get("/openapi.json").get_json()["paths"]


def test_with_api_keys_the_metrics_need_one_unless_made_public(redis_url, key_prefix):
    keyed = make_app(redis_url, key_prefix, API_KEYS="k-0123456789abcdef").test_client()
    assert keyed.get("/metrics").status_code == 401
    ok = keyed.get("/metrics", headers={"Authorization": "Bearer k-0123456789abcdef"})
    assert ok.status_code == 200
    public = make_app(
        redis_url, key_prefix, API_KEYS="k-0123456789abcdef", NNJOBS_METRICS_PUBLIC="true"
    ).test_client()
    assert public.get("/metrics").status_code == 200
    assert public.get("/jobs").status_code == 401
    with pytest.raises(ValueError, match="NNJOBS_METRICS_PUBLIC"):
        make_app(redis_url, key_prefix, NNJOBS_METRICS_PUBLIC="maybe")


# -- under gunicorn ----------------------------------------------------------------------------


def healthz_counts(directory: Path) -> dict[str, float]:
    """Requests to /healthz each worker process wrote to its own file."""
    counts = {}
    for path in directory.glob("counter_*.db"):
        total = sum(
            v
            for key, v, *_ in MmapedDict.read_all_values_from_file(str(path))
            if '"/healthz"' in key and key.startswith('["nnjobs_http_requests"')
        )
        if total:
            counts[path.stem] = total
    return counts


@pytest.mark.slow
def test_under_gunicorn_the_figures_sum_over_worker_processes(redis_url, key_prefix, tmp_path):
    metrics_dir = tmp_path / "metrics"
    r = None
    try:
        with LiveService(redis_url, key_prefix, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir)) as live:
            r = requests.Session()
            sent = 0
            # concurrent requests keep both sync workers busy, so both answer some
            with ThreadPoolExecutor(8) as pool:
                for _ in range(10):
                    codes = list(
                        pool.map(
                            lambda _: requests.get(f"{live.url}/healthz").status_code, range(40)
                        )
                    )
                    assert codes == [200] * 40
                    sent += 40
                    if len(healthz_counts(metrics_dir)) >= 2:
                        break
            per_process = healthz_counts(metrics_dir)
            assert len(per_process) == 2, per_process

            name = f"live-{uuid.uuid4().hex[:8]}"
            train_and_predict(live.url, name)
            text = r.get(f"{live.url}/metrics").text
            seen = parse(text)
            labels = {"method": "GET", "route": "/healthz", "status": "200"}
            assert value(seen, "nnjobs_http_requests_total", **labels) == sent
            assert value(seen, "nnjobs_predictions_total", model=name) == 1
            assert value(seen, "nnjobs_jobs_ended_total", status="succeeded") == 1
            assert value(seen, "nnjobs_training_duration_seconds_count", status="succeeded") == 1
            assert value(seen, "nnjobs_jobs_submitted_total") == 1
    finally:
        if r is not None:
            r.close()
        client = redis.Redis.from_url(redis_url)
        drop_keys(client, key_prefix)
        client.close()


def test_the_readme_table_names_every_metric_and_only_those(client):
    readme = (Path(__file__).resolve().parent.parent / "docs" / "operations.md").read_text()
    section = readme[readme.index("## Metrics and logs") : readme.index("### Logs")]
    documented = set(re.findall(r"^\| `(nnjobs_\w+)` \|", section, re.M))
    text = client.get("/metrics").get_data(as_text=True)
    exposed = set()
    for family in text_string_to_metric_families(text):
        if family.name.startswith("nnjobs_"):
            exposed.add(family.name + ("_total" if family.type == "counter" else ""))
    assert documented == exposed
    # the queries name only metrics that exist
    for name in re.findall(r"\b(nnjobs_\w+)", section):
        base = re.sub(r"_(bucket|count|sum)$", "", name)
        assert name in exposed or base in exposed, name


def test_the_request_bookkeeping_counts_exactly_as_prometheus_client_does():
    # the per-request figures are added through each series' stored values directly;
    # every amount must land where the histogram's own observe puts it, bounds included
    from prometheus_client import CollectorRegistry, Counter, Histogram

    from service.metrics import _adder, _observer

    registry = CollectorRegistry()
    bounds = (0.001, 0.0025, 0.01, 1.0)
    ours = Histogram("ours", "h", ["m"], buckets=bounds, registry=registry).labels("a")
    theirs = Histogram("theirs", "h", ["m"], buckets=bounds, registry=registry).labels("a")
    count_ours = Counter("c_ours", "c", ["m"], registry=registry).labels("a")
    count_theirs = Counter("c_theirs", "c", ["m"], registry=registry).labels("a")
    observe, add = _observer(ours), _adder(count_ours)
    for amount in (0.0, 0.0005, 0.001, 0.0010001, 0.0025, 0.003, 1.0, 1.5, 1e9):
        observe(amount)
        theirs.observe(amount)
        add(amount)
        count_theirs.inc(amount)

    def samples(name):
        family = next(f for f in registry.collect() if f.name == name)
        return [(s.name.replace(name, ""), s.labels, s.value) for s in family.samples]

    assert samples("ours") == samples("theirs")
    assert samples("c_ours") == samples("c_theirs")
    assert ("_count", {"m": "a"}, 9.0) in samples("ours")
