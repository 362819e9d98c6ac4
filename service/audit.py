"""Audit lines: every state change, and every key refused, as one log line of its own.

A line carries ``audit`` (the event: ``job.submitted``, ``model.deleted``,
``key.refused``, ...), the ``tenant``, the ``key_id`` (the key's name in the keys file or
the first 12 hex digits of its SHA-256; never the key), the ``resource`` (its path or id)
and the ``outcome`` (``ok``, or the status and why it was refused). They go to the logger
``nnjobs.audit``, so that an operator can route them apart from the access lines.

The state changes are found by method, not listed by route: any request that is not a
read (GET, HEAD, OPTIONS) nor a prediction is audited, so a route added later is audited
without a word here (:data:`EVENTS` only names the known ones).
"""

from __future__ import annotations

import logging

from flask import Flask, Response, g, request

log = logging.getLogger("nnjobs.audit")

#: (method, URL rule) -> the event's name; any other change is named "<METHOD> <rule>"
EVENTS = {
    ("POST", "/jobs"): "job.submitted",
    ("DELETE", "/jobs/<ref:job_id>"): "job.cancelled",
    ("POST", "/jobs/<ref:job_id>/fix"): "sweep.submitted",
    ("POST", "/sweeps"): "sweep.submitted",
    ("DELETE", "/sweeps/<ref:sweep_id>"): "sweep.cancelled",
    ("DELETE", "/models/<ref:ref>"): "model.deleted",
    ("POST", "/models/import"): "model.imported",
    ("POST", "/datasets"): "dataset.uploaded",
    ("DELETE", "/datasets/<ref:dataset_id>"): "dataset.deleted",
}
_READING = frozenset({"GET", "HEAD", "OPTIONS"})


def line(event: str, tenant: str | None, key_id: str | None, resource: str, outcome: str) -> None:
    """Log one audit line."""
    log.info(
        "%s %s: %s",
        event,
        resource,
        outcome,
        extra={
            "audit": event,
            "tenant": tenant,
            "key_id": key_id,
            "resource": resource,
            "outcome": outcome,
        },
    )


def refused(scope, why: str) -> None:
    """A key refused (``scope`` None: no key, or one that is not configured) or a role
    refused the request."""
    g.nnjobs_audited = True
    tenant, key_id = (None, None) if scope is None else (scope.tenant, scope.key_id)
    line("key.refused", tenant, key_id, f"{request.method} {request.path}", f"refused: {why}")


def _event() -> str:
    rule = request.url_rule.rule if request.url_rule is not None else request.path
    event = EVENTS.get((request.method, rule)) or f"{request.method} {rule}"
    if request.args.get("purge", "").lower() in ("true", "1"):
        # DELETE ?purge=true removes rather than cancels
        event = event.replace("cancelled", "removed")
    return event


def _resource(response: Response) -> str:
    # a resource made says where it is; one changed is named in the path
    return response.headers.get("Location") or request.path


def init(app: Flask, scope_of, predicts) -> None:
    """Audit every change ``app`` answers; ``scope_of()`` is the request's Scope and
    ``predicts()`` whether its view is a prediction."""

    @app.after_request
    def _audit(response: Response) -> Response:
        req = request._get_current_object()  # looked up once: this runs for every request
        if req.method in _READING or req.url_rule is None or g.get("nnjobs_audited"):
            return response
        if predicts():
            return response
        scope = scope_of()
        status = response.status_code
        outcome = "ok" if status < 400 else f"refused: {status}"
        line(_event(), scope.tenant, scope.key_id, _resource(response), outcome)
        return response
