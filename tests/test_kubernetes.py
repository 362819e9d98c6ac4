"""deploy/kubernetes/nnjobs.yaml, read as Kubernetes would, matched to the code: the
commands are those of the compose file (which tests/test_deploy.py runs) and the
image's; the probes ask routes the API serves, on the port it listens on; every variable
is a setting of the table with a value it accepts; the queue KEDA watches is the one the
workers read; the secret's keys are the ones the manifests use."""

from __future__ import annotations

import re

import pytest
import yaml
from live_service import ROOT
from test_deploy import (
    dockerfile_instructions,
    gunicorn_settings,
    interpolate,
    load_compose,
    seconds,
)

from registry import settings
from registry.connections import parse_sentinel_url

MANIFESTS = ROOT / "deploy" / "kubernetes" / "nnjobs.yaml"


@pytest.fixture(scope="module")
def objects() -> dict[tuple[str, str], dict]:
    docs = [d for d in yaml.safe_load_all(MANIFESTS.read_text()) if d]
    found = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    assert len(found) == len(docs), "two objects of one kind share a name"
    return found


def container(deployment: dict) -> dict:
    [only] = deployment["spec"]["template"]["spec"]["containers"]
    return only


def env_of(c: dict) -> dict:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in c["env"]}


def test_the_objects_are_an_api_behind_a_service_and_workers_scaled_on_the_queue(objects):
    assert set(objects) == {
        ("Deployment", "nnjobs-api"),
        ("Service", "nnjobs-api"),
        ("Deployment", "nnjobs-worker"),
        ("ScaledObject", "nnjobs-worker"),
        ("TriggerAuthentication", "nnjobs-redis"),
    }
    for name in ("nnjobs-api", "nnjobs-worker"):
        deployment = objects[("Deployment", name)]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
        pod = deployment["spec"]["template"]["spec"]
        # as in the compose file: no root, a read-only root file system, /tmp writable
        assert pod["securityContext"]["runAsNonRoot"] is True
        c = container(deployment)
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert c["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"]
        assert {"name": "tmp", "emptyDir": {}} in pod["volumes"]


def test_the_commands_are_those_the_tests_run(objects):
    compose = load_compose()["services"]
    api, worker = (container(objects[("Deployment", n)]) for n in ("nnjobs-api", "nnjobs-worker"))
    assert api["command"] == compose["api"]["command"]
    image = next(arg for op, arg in dockerfile_instructions() if op == "CMD")
    assert api["command"] == yaml.safe_load(image)
    queue = env_of(worker)["NNJOBS_QUEUE"]
    assert worker["command"] == interpolate(compose["worker"]["command"], {"NNJOBS_QUEUE": queue})
    assert worker["command"][worker["command"].index("--queues") + 1] == queue
    # the worker is named after its pod, and its liveness probe pings it by that name, as
    # the compose file's health check does
    assert worker["command"][worker["command"].index("--hostname") + 1] == "nnjobs@%h"
    probe = worker["livenessProbe"]["exec"]["command"]
    assert probe[:2] == ["sh", "-c"]
    assert probe[2] == interpolate(compose["worker"]["healthcheck"]["test"][1], {})
    assert "--destination nnjobs@$HOSTNAME" in probe[2]


def test_the_probes_ask_the_apis_health_routes_on_its_port(objects, redis_url, key_prefix):
    from api_helpers import make_app

    deployment = objects[("Deployment", "nnjobs-api")]
    api = container(deployment)
    [port] = api["ports"]
    assert port["containerPort"] == int(env_of(api)["PORT"])
    [bind] = gunicorn_settings(PORT=env_of(api)["PORT"])["bind"]
    assert bind.endswith(f":{port['containerPort']}")
    assert api["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port["name"]}
    assert api["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port["name"]}
    client = make_app(redis_url, key_prefix).test_client()
    assert client.get("/healthz").status_code == 200
    # no worker listens on this test's queue: not ready, which keeps traffic away
    assert client.get("/readyz").status_code == 503
    # the pod is given longer to stop than gunicorn gives requests in flight
    graceful = gunicorn_settings()["graceful_timeout"]
    assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > graceful

    service = objects[("Service", "nnjobs-api")]
    assert (
        service["spec"]["selector"].items() <= deployment["spec"]["selector"]["matchLabels"].items()
    )
    [service_port] = service["spec"]["ports"]
    assert service_port["targetPort"] == port["name"]

    worker = objects[("Deployment", "nnjobs-worker")]["spec"]["template"]["spec"]
    compose_grace = seconds(load_compose()["services"]["worker"]["stop_grace_period"])
    assert worker["terminationGracePeriodSeconds"] >= compose_grace


def test_every_variable_is_a_setting_with_a_value_it_takes(objects):
    secret_keys = set(re.findall(r"--from-literal=([\w-]+)=", MANIFESTS.read_text()))
    for name in ("nnjobs-api", "nnjobs-worker"):
        for variable, value in env_of(container(objects[("Deployment", name)])).items():
            setting = settings.SETTINGS[variable]
            if isinstance(value, dict):
                ref = value["secretKeyRef"]
                assert ref["name"] == "nnjobs" and ref["key"] in secret_keys, variable
            else:
                setting.parse(value, variable)
    api = env_of(container(objects[("Deployment", "nnjobs-api")]))
    assert int(api["NNJOBS_REDIS_MIN_REPLICAS"]) >= 1


def test_keda_watches_the_workers_queue_through_the_same_sentinels(objects):
    scaled = objects[("ScaledObject", "nnjobs-worker")]
    assert scaled["spec"]["scaleTargetRef"]["name"] == "nnjobs-worker"
    [trigger] = scaled["spec"]["triggers"]
    worker = env_of(container(objects[("Deployment", "nnjobs-worker")]))
    meta = trigger["metadata"]
    assert trigger["type"] == "redis-sentinel"
    assert meta["listName"] == worker["NNJOBS_QUEUE"]
    assert meta["sentinelMaster"] == worker["NNJOBS_SENTINEL_MASTER"]
    assert int(meta["listLength"]) >= 1
    # the Redis URL of the secret's example names the same sentinels and database
    example = re.search(r"--from-literal=redis-url='([^']+)'", MANIFESTS.read_text())[1]
    parts = parse_sentinel_url(example)
    addresses = tuple(tuple(a.strip().rsplit(":", 1)) for a in meta["addresses"].split(","))
    assert tuple((h, int(p)) for h, p in addresses) == parts.sentinels
    assert int(meta["databaseIndex"]) == parts.db
    auth = objects[("TriggerAuthentication", trigger["authenticationRef"]["name"])]
    [password] = auth["spec"]["secretTargetRef"]
    assert password["parameter"] == "password" and password["name"] == "nnjobs"
    assert password["key"] in re.findall(r"--from-literal=([\w-]+)=", MANIFESTS.read_text())
