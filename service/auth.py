"""Optional API keys: with ``API_KEYS`` set, requests must carry ``Authorization: Bearer <key>``.

``/healthz`` (and the Open Inference Protocol's ``/v2/health/live``) stays public
because an orchestrator's liveness probe must not need a secret. ``/openapi.json``,
``/docs`` and the playground page (``/`` and its script and style) stay public too: they
hold no data, are the same in every deployment, and are where a person or a client
learns that a key is needed (the page then asks for one).
``/metrics`` needs a key like the API unless ``NNJOBS_METRICS_PUBLIC`` is true: its
labels name models, and an operator who set keys asked for the service to be closed;
Prometheus can send the key (``authorization`` in its scrape config), or the setting opens
the path where only the monitoring network reaches it. Everything else, ``/readyz``
included (it names the queue and Redis errors), needs a key.

Keys are compared with :func:`hmac.compare_digest`, against every configured key
without stopping at a match, so response times say nothing about a key's bytes or which
key matched. A presented key is never logged or echoed back.
"""

from __future__ import annotations

import hmac

from apispec import BasePlugin
from flask import Flask, request

from .errors import abort

#: Paths answered without a key.
PUBLIC_PATHS = frozenset({"/healthz", "/v2/health/live", "/openapi.json", "/docs", "/"})
#: Path prefixes answered without a key: the playground's script and style.
PUBLIC_PREFIXES = ("/playground/",)

#: The security scheme's name in the OpenAPI document.
SCHEME = "bearerAuth"

CHALLENGE = 'Bearer realm="nnjobs"'


def parse_keys(raw: str) -> tuple[bytes, ...]:
    """``"k1, k2"`` -> ``(b"k1", b"k2")``; blanks are dropped, so ``""`` means no keys."""
    return tuple(key.strip().encode() for key in raw.split(",") if key.strip())


def presented_key() -> bytes | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    # werkzeug hands header values over as latin-1 text: this gives back the bytes sent
    return token.encode("latin-1")


def is_valid(keys: tuple[bytes, ...], token: bytes) -> bool:
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(key, token)
    return matched


#: The path of the metrics, public with ``NNJOBS_METRICS_PUBLIC``.
METRICS_PATH = "/metrics"


def init(app: Flask, keys: tuple[bytes, ...], metrics_public: bool = False) -> None:
    """Require one of ``keys`` on every path but :data:`PUBLIC_PATHS` (none if no keys),
    and :data:`METRICS_PATH` when ``metrics_public``."""
    if not keys:
        return
    public = PUBLIC_PATHS | {METRICS_PATH} if metrics_public else PUBLIC_PATHS

    @app.before_request
    def _require_key():
        if request.path in public or request.path.startswith(PUBLIC_PREFIXES):
            return
        token = presented_key()
        if token is None:
            abort(
                401,
                "an API key is required: send Authorization: Bearer <key>",
                headers={"WWW-Authenticate": CHALLENGE},
            )
        if not is_valid(keys, token):
            abort(
                401,
                "the API key is not valid",
                headers={"WWW-Authenticate": f'{CHALLENGE}, error="invalid_token"'},
            )


class SecurityPlugin(BasePlugin):
    """Documents the bearer scheme: required everywhere, a 401 on every protected
    operation, and ``security: []`` on the public ones."""

    def init_spec(self, spec):
        spec.components.security_scheme(
            SCHEME,
            {
                "type": "http",
                "scheme": "bearer",
                "description": "One of the keys in the API_KEYS setting",
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
                operation.setdefault("responses", {})["401"] = "UNAUTHORIZED"
