"""Property-based: requests generated from /openapi.json, valid and invalid, against the
real app (in process, over WSGI) on a real Redis. No answer may be a 5xx, and every
answer must match what the document declares for it (status, content type, headers,
body schema).

Schema-valid requests may still be refused (ranges are checked by ``nn``, ids may name
nothing), so "valid data must be accepted" is not among the checks. The number of
examples per operation is bounded so the run takes seconds.
"""

from __future__ import annotations

import uuid

import pytest
import redis
import schemathesis
from api_helpers import drop_keys, make_app, worker_thread
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _operations() -> list:
    """(method, path, mode) for each operation, read from a Redis-less app (building one
    connects to nothing); only an operation with inputs can be sent invalid ones."""
    spec = make_app("redis://127.0.0.1:1/0", "unused").test_client().get("/openapi.json")
    out = []
    for path, item in spec.get_json()["paths"].items():
        for method, operation in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            out.append((method.upper(), path, GenerationMode.POSITIVE))
            if item.get("parameters") or operation.get("parameters") or "requestBody" in operation:
                out.append((method.upper(), path, GenerationMode.NEGATIVE))
    return out


OPERATIONS = _operations()


@pytest.fixture(scope="module")
def api_schema(redis_url):
    prefix = f"nnjobs-test-{uuid.uuid4().hex[:10]}"
    # a small compute budget keeps any generated job that is accepted cheap to store
    app = make_app(redis_url, prefix, NNJOBS_MAX_COMPUTE=1e6)
    # a worker on the queue, so that /readyz answers 200 (its 503 is a 5xx by design)
    # and the jobs it accepts really run
    with worker_thread(redis_url, prefix):
        yield schemathesis.openapi.from_wsgi("/openapi.json", app)
    r = redis.Redis.from_url(redis_url)
    drop_keys(r, prefix)
    r.close()


@pytest.fixture(scope="module")
def keyed_schema(redis_url):
    """The app with API keys, whose document declares the scheme and the 401s."""
    prefix = f"nnjobs-test-{uuid.uuid4().hex[:10]}"
    app = make_app(redis_url, prefix, API_KEYS="k-0123456789abcdef")
    yield schemathesis.openapi.from_wsgi("/openapi.json", app)
    r = redis.Redis.from_url(redis_url)
    drop_keys(r, prefix)
    r.close()


def explore(operation, mode, examples: int, headers: dict | None = None) -> None:
    # schemathesis's pytest plugin does not run on this pytest, so hypothesis drives it
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case):
        case.call_and_validate(checks=CHECKS, headers=headers)

    check()


def test_every_operation_is_exercised():
    assert len({(m, p) for m, p, _ in OPERATIONS}) >= 10


@pytest.mark.parametrize(
    ("method", "path", "mode"), OPERATIONS, ids=[f"{m} {p} {g.value}" for m, p, g in OPERATIONS]
)
def test_the_api_keeps_its_own_schema(api_schema, method, path, mode):
    explore(api_schema[path][method], mode, 25)


POSITIVE = [(m, p) for m, p, g in OPERATIONS if g is GenerationMode.POSITIVE]


@pytest.mark.parametrize(("method", "path"), POSITIVE, ids=[f"{m} {p}" for m, p in POSITIVE])
def test_with_api_keys_answers_keep_the_schema(keyed_schema, method, path):
    """With no key or a wrong one, every answer (401s included) is declared."""
    operation = keyed_schema[path][method]
    explore(operation, GenerationMode.POSITIVE, 5)
    explore(operation, GenerationMode.POSITIVE, 5, {"Authorization": "Bearer wrong"})
