"""Every route of the app, asked by the tenant that owns what it names, by another
tenant, and by an admin, against the real service.

The routes come from the app's URL map: a route added without an entry in :data:`TABLE`
fails here, so whoever adds a route says what each of the three must get. Each entry
builds its request afresh for each caller (a model to delete, a job to cancel), so that
one caller's change is never the next one's answer.
"""

from __future__ import annotations

import uuid

import pytest
import redis
from api_helpers import bearer, drop_keys, make_app, run_job

from registry.tenants import entry_text

ALICE, BOB, ADMIN = "alice-key-0123456789", "bob-key-0123456789abc", "admin-key-0123456789"
CALLERS = {"own": ALICE, "other": BOB, "admin": ADMIN}
CSV = "a,b,label\n0,0,x\n0,1,y\n1,0,y\n1,1,x\n"
XOR = {"data": {"X": [[0, 0], [0, 1], [1, 0], [1, 1]], "y": [0, 1, 1, 0]}}
JOB = {**XOR, "name": "xor", "training": {"epochs": 3}}
SWEEP = {"job": JOB, "vary": {"activation": ["relu", "tanh"]}}


class Alice:
    """Makes alice's things, through the API as alice."""

    def __init__(self, app):
        self.app, self.client = app, app.test_client()
        self.registry = app.extensions["nnjobs"].registry

    def post(self, path: str, headers: dict | None = None, **kwargs) -> dict:
        answer = self.client.post(path, headers={**(headers or {}), **bearer(ALICE)}, **kwargs)
        assert answer.status_code in (201, 202), answer.data
        return answer.get_json()

    def job(self) -> str:
        return self.post("/jobs", json=JOB)["id"]

    def model(self) -> str:
        return run_job(self.registry, self.job())["id"]

    def dataset(self) -> str:
        return self.post("/datasets", data=CSV, headers={"Content-Type": "text/csv"})["id"]

    def model_bytes(self) -> bytes:
        """A model of alice's as an export in the ``nnjobs`` format holds it."""
        return self.registry.model_blob(self.model())

    def sweep(self) -> str:
        return self.post("/sweeps", json=SWEEP)["id"]


def _get(path):
    return lambda alice: ("get", path, {})


def _csv(**kwargs):
    return {"data": CSV, "headers": {"Content-Type": "text/csv"}, **kwargs}


ALL = {"own": 200, "other": 200, "admin": 200}
SCOPED = {"own": 200, "other": 404, "admin": 200}

#: (rule, method) -> (the request, made afresh from alice's things), the status of each caller
TABLE = {
    ("/", "GET"): (_get("/"), ALL),
    ("/docs", "GET"): (_get("/docs"), ALL),
    ("/openapi.json", "GET"): (_get("/openapi.json"), ALL),
    ("/healthz", "GET"): (_get("/healthz"), ALL),
    ("/playground/<path:filename>", "GET"): (_get("/playground/app.js"), ALL),
    ("/static/<path:filename>", "GET"): (_get("/static/playground/style.css"), ALL),
    # no worker listens: not ready, whoever asks (but asked, not refused)
    ("/readyz", "GET"): (_get("/readyz"), {"own": 503, "other": 503, "admin": 503}),
    ("/metrics", "GET"): (_get("/metrics"), {"own": 403, "other": 403, "admin": 200}),
    ("/activations", "GET"): (_get("/activations"), ALL),
    ("/activations/<string:name>", "GET"): (_get("/activations/relu"), ALL),
    ("/synthetic", "GET"): (_get("/synthetic"), ALL),
    ("/synthetic/<string:name>", "GET"): (_get("/synthetic/xor"), ALL),
    # listings and submissions: each caller's own
    ("/jobs", "GET"): (_get("/jobs"), ALL),
    ("/jobs", "POST"): (lambda a: ("post", "/jobs", {"json": JOB}), dict.fromkeys(ALL, 202)),
    ("/sweeps", "GET"): (_get("/sweeps"), ALL),
    ("/sweeps", "POST"): (lambda a: ("post", "/sweeps", {"json": SWEEP}), dict.fromkeys(ALL, 202)),
    ("/models", "GET"): (_get("/models"), ALL),
    ("/datasets", "GET"): (_get("/datasets"), ALL),
    ("/datasets", "POST"): (lambda a: ("post", "/datasets", _csv()), dict.fromkeys(ALL, 201)),
    # alice's things
    ("/jobs/<ref:job_id>", "GET"): (lambda a: ("get", f"/jobs/{a.job()}?wait=0.1", {}), SCOPED),
    ("/jobs/<ref:job_id>", "DELETE"): (lambda a: ("delete", f"/jobs/{a.job()}", {}), SCOPED),
    # a job without a warning has no fix: 409 to whoever may see it
    ("/jobs/<ref:job_id>/fix", "POST"): (
        lambda a: ("post", f"/jobs/{a.job()}/fix", {}),
        {"own": 409, "other": 404, "admin": 409},
    ),
    ("/sweeps/<ref:sweep_id>", "GET"): (lambda a: ("get", f"/sweeps/{a.sweep()}", {}), SCOPED),
    ("/sweeps/<ref:sweep_id>", "DELETE"): (
        lambda a: ("delete", f"/sweeps/{a.sweep()}", {}),
        SCOPED,
    ),
    ("/models/<ref:ref>", "GET"): (lambda a: ("get", f"/models/{a.model()}", {}), SCOPED),
    ("/models/<ref:ref>", "DELETE"): (
        lambda a: ("delete", f"/models/{a.model()}", {}),
        {"own": 204, "other": 404, "admin": 204},
    ),
    ("/models/<ref:ref>/predict", "POST"): (
        lambda a: ("post", f"/models/{a.model()}/predict", {"json": {"inputs": [[0, 1]]}}),
        SCOPED,
    ),
    ("/models/<ref:ref>/export", "GET"): (
        lambda a: ("get", f"/models/{a.model()}/export?format=nnjobs", {}),
        SCOPED,
    ),
    # an import is the importer's own, as an upload is
    ("/models/import", "POST"): (
        lambda a: (
            "post",
            "/models/import?name=imported",
            {"data": a.model_bytes(), "headers": {"Content-Type": "application/octet-stream"}},
        ),
        dict.fromkeys(ALL, 201),
    ),
    ("/predict", "POST"): (
        lambda a: ("post", "/predict", {"json": {"model_id": a.model(), "inputs": [[0, 1]]}}),
        SCOPED,
    ),
    ("/datasets/<ref:dataset_id>", "GET"): (
        lambda a: ("get", f"/datasets/{a.dataset()}", {}),
        SCOPED,
    ),
    ("/datasets/<ref:dataset_id>", "DELETE"): (
        lambda a: ("delete", f"/datasets/{a.dataset()}", {}),
        {"own": 204, "other": 404, "admin": 204},
    ),
}

#: a keys file can be read before the app starts; the map needs no Redis
_MAP_APP = make_app("redis://127.0.0.1:1/0", "nnjobs-map", API_KEYS=ADMIN)
ROUTES = sorted(
    (rule.rule, method)
    for rule in _MAP_APP.url_map.iter_rules()
    for method in rule.methods - {"HEAD", "OPTIONS"}
)


@pytest.fixture(scope="module")
def alice(tmp_path_factory, redis_url):
    prefix = f"nnjobs-test-{uuid.uuid4().hex[:10]}"
    path = tmp_path_factory.mktemp("keys") / "keys.toml"
    path.write_text(entry_text("alice", "trainer", ALICE) + entry_text("bob", "trainer", BOB))
    app = make_app(
        redis_url, prefix, NNJOBS_KEYS_FILE=str(path), API_KEYS=ADMIN, NNJOBS_READY_TIMEOUT=0.05
    )
    yield Alice(app)
    r = redis.Redis.from_url(redis_url)
    drop_keys(r, prefix)
    r.close()


def test_every_entry_is_a_route():
    stale = sorted(set(TABLE) - set(ROUTES))
    assert not stale, f"entries of TABLE that are no route of the app: {stale}"


@pytest.mark.parametrize(("rule", "method"), ROUTES)
def test_each_caller_gets_what_its_tenant_and_role_allow(alice, rule, method):
    if (rule, method) not in TABLE:
        pytest.fail(
            f"{method} {rule} has no entry in TABLE of tests/test_tenant_routes.py: say what "
            "its owner, another tenant and an admin get (another tenant's things are 404)"
        )
    make, expected = TABLE[(rule, method)]
    got = {}
    for caller, key in CALLERS.items():
        verb, path, kwargs = make(alice)
        kwargs = dict(kwargs)
        headers = {**kwargs.pop("headers", {}), **bearer(key)}
        answer = getattr(alice.client, verb)(path, headers=headers, **kwargs)
        got[caller] = answer.status_code
    assert got == expected, f"{method} {rule}"
