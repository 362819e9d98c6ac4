"""API keys, their tenants and roles: with keys configured (``API_KEYS``, or the keys file
``NNJOBS_KEYS_FILE``), requests must carry ``Authorization: Bearer <key>``.

``/healthz`` (and the Open Inference Protocol's ``/v2/health/live``) stays public
because an orchestrator's liveness probe must not need a secret. ``/openapi.json``,
``/docs`` and the playground page (``/`` and its script and style) stay public too: they
hold no data, are the same in every deployment, and are where a person or a client
learns that a key is needed (the page then asks for one).
``/metrics`` needs the role ``admin`` unless ``NNJOBS_METRICS_PUBLIC`` is true: its labels
name models of every tenant; Prometheus can send an admin key (``authorization`` in its
scrape config), or the setting opens the path where only the monitoring network reaches
it. Everything else, ``/readyz`` included (it names the queue and Redis errors), needs a
key.

A key found, its :class:`domain.tenancy.Scope` (tenant, role, key id, quotas) is the
request's (:func:`scope`). The role is checked here, by method: ``predictor`` keys read
(GET) and predict (views marked :func:`predicts`) only, and the rest is left to the
domain, which scopes every lookup to the tenant. Keys are compared by their SHA-256 with
:func:`hmac.compare_digest`, against every configured key without stopping at a match. A
presented key is never logged or echoed back; audit lines name a key by its id.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NoReturn

from apispec import BasePlugin
from flask import Flask, current_app, g, request

from domain.tenancy import OPEN, Scope
from registry.tenants import KeyRing, Quotas

from . import audit
from .errors import abort

#: Paths answered without a key.
PUBLIC_PATHS = frozenset({"/healthz", "/v2/health/live", "/openapi.json", "/docs", "/"})
#: Path prefixes answered without a key: the playground's script and style.
PUBLIC_PREFIXES = ("/playground/",)

#: The security scheme's name in the OpenAPI document.
SCHEME = "bearerAuth"

CHALLENGE = 'Bearer realm="nnjobs"'

#: methods that change nothing
READING = frozenset({"GET", "HEAD", "OPTIONS"})


def presented_key() -> bytes | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    # werkzeug hands header values over as latin-1 text: this gives back the bytes sent
    return token.encode("latin-1")


#: The path of the metrics, public with ``NNJOBS_METRICS_PUBLIC``.
METRICS_PATH = "/metrics"


def predicts(view):
    """Mark a view as a prediction: a ``predictor`` key may call it whatever its method."""
    view.predicts = True
    return view


def view_predicts() -> bool:
    """Whether the request's view is marked :func:`predicts`."""
    req = request._get_current_object()  # looked up once: every change asks this
    view = current_app.view_functions.get(req.endpoint or "")
    handler = getattr(getattr(view, "view_class", None), req.method.lower(), view)
    return bool(getattr(handler, "predicts", False))


def scope() -> Scope:
    """The scope of the request being answered: its key's, or :data:`OPEN` when the
    service has no keys (or the path is public)."""
    return g.get("nnjobs_scope", OPEN)


def _refuse_role(found: Scope, needs: str) -> NoReturn:
    audit.refused(found, f"role {found.role}")
    abort(403, f"the role {found.role} may not do this: it needs the role {needs}")


def _over_rate(found: Scope, wait: float) -> NoReturn:
    quotas = found.quotas
    seconds = max(1, math.ceil(wait))
    abort(
        429,
        f"tenant {found.tenant!r} is over its rate of {quotas.rate:g} requests a second "
        f"(bursts of {quotas.burst}; NNJOBS_TENANT_RATE, NNJOBS_TENANT_BURST); retry after "
        f"{seconds} s",
        headers={"Retry-After": str(seconds)},
    )


def init(
    app: Flask,
    ring: KeyRing,
    metrics_public: bool,
    settings: dict,
    take_token: Callable[[str, float, int], float],
) -> None:
    """Require one of ``ring``'s keys on every path but :data:`PUBLIC_PATHS` (none if no
    keys), and :data:`METRICS_PATH` when ``metrics_public``; hold each tenant to its rate
    (``take_token(tenant, rate, burst)``: seconds to wait, 0 to go on) and each key to
    its role."""
    if not ring:
        return
    public = PUBLIC_PATHS | {METRICS_PATH} if metrics_public else PUBLIC_PATHS
    quotas = {tenant: Quotas.of(settings, ring.quotas.get(tenant)) for tenant in ring.tenants()}

    @app.before_request
    def _require_key():
        if request.path in public or request.path.startswith(PUBLIC_PREFIXES):
            return
        token = presented_key()
        if token is None:
            audit.refused(None, "no key")
            abort(
                401,
                "an API key is required: send Authorization: Bearer <key>",
                headers={"WWW-Authenticate": CHALLENGE},
            )
        key = ring.find(token)
        if key is None:
            audit.refused(None, "unknown key")
            abort(
                401,
                "the API key is not valid",
                headers={"WWW-Authenticate": f'{CHALLENGE}, error="invalid_token"'},
            )
        found = Scope(key.tenant, key.role, key.key_id, quotas[key.tenant])
        g.nnjobs_scope = found
        if found.quotas.rate:
            wait = take_token(found.tenant, found.quotas.rate, found.quotas.burst)
            if wait:
                _over_rate(found, wait)
        if request.path == METRICS_PATH and not found.admin:
            _refuse_role(found, "admin")
        if found.role == "predictor" and request.method not in READING and not view_predicts():
            _refuse_role(found, "trainer or admin")


class SecurityPlugin(BasePlugin):
    """Documents the bearer scheme: required everywhere, a 401 on every protected
    operation, and ``security: []`` on the public ones."""

    def init_spec(self, spec):
        spec.components.security_scheme(
            SCHEME,
            {
                "type": "http",
                "scheme": "bearer",
                "description": "A key of API_KEYS or of the keys file (NNJOBS_KEYS_FILE)",
            },
        )
        spec.options["security"] = [{SCHEME: []}]

    def operation_helper(self, path=None, operations=None, **kwargs):
        # flask-smorest hands over the Flask rule (/jobs/<ref:job_id>), so compare whole
        public = path in PUBLIC_PATHS
        for operation in (operations or {}).values():
            if public:
                operation["security"] = []
            else:
                responses = operation.setdefault("responses", {})
                responses["401"] = "UNAUTHORIZED"
                responses.setdefault("403", "FORBIDDEN")
                responses.setdefault("429", "TOO_MANY_REQUESTS")
