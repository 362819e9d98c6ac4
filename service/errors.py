"""One JSON error shape for every error: ``{"code", "status", "message", "errors"?}``, but
on the Open Inference Protocol's routes (under ``/v2``), where it is that protocol's
``{"error": message}`` with the same status (:data:`V2_PREFIX`, :class:`V2ErrorsPlugin`).

flask-smorest's handler of ``HTTPException`` produces that shape; :class:`Api` extends it
so that routing errors (404, 405), body errors (413) and anything raised without a
message still get one, and the handlers registered here turn Redis or broker outages
(503 with ``Retry-After``), ``nn`` refusals (422, or 413 for a limit) and the domain's
refusals (:mod:`domain.errors`) into it.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import NoReturn

import flask_smorest
import kombu.exceptions
import redis.exceptions
from apispec import BasePlugin
from flask import current_app, request
from werkzeug.exceptions import (
    HTTPException,
    InternalServerError,
    MethodNotAllowed,
    RequestEntityTooLarge,
)

import nn
from domain.errors import UNAVAILABLE, Broken, Invalid, Refused
from registry import settings as table
from registry.outages import reply_code, transient

from . import schemas

log = logging.getLogger(__name__)

#: Seconds a client should wait before retrying while Redis is unreachable.
RETRY_AFTER = "5"

#: the Open Inference Protocol's routes, whose errors are ``{"error": message}``
V2_PREFIX = "/v2"
#: the schema of that error body in the document
V2_ERROR = "InferenceErrorResponse"


def is_v2(path: str) -> bool:
    return path == V2_PREFIX or path.startswith(V2_PREFIX + "/")


def abort(
    code: int, message: str, errors: dict | None = None, headers: dict | None = None
) -> NoReturn:
    """Raise the HTTP error ``code`` with the contract's body."""
    kwargs = {"message": message}
    if errors is not None:
        kwargs["errors"] = errors
    if headers:
        kwargs["headers"] = headers
    flask_smorest.abort(code, **kwargs)


def field_errors(path: tuple, reason: str, location: str = "json") -> dict:
    """``("layers", 0, "units")`` -> ``{"json": {"layers": {"0": {"units": [reason]}}}}``.

    List indices become string keys, as marshmallow reports them in JSON.
    """
    node: dict | list = [reason]
    for part in reversed(path or ("_schema",)):
        node = {str(part): node}
    return {location: node}


#: nn.Limits field -> the setting that configures it
LIMIT_SETTINGS = {field: name for name, field in table.LIMIT_FIELDS.items()}


def refuse(error: nn.SpecError, prefix: tuple = (), location: str = "json") -> NoReturn:
    """Answer an ``nn`` refusal: 413 for a limit (body or compute budget), else 422.

    ``prefix`` places the field in the request (``X`` of ``nn`` is ``data.X``), and
    ``location`` says where the request holds it (``json``, its body, or ``query``).
    """
    path = tuple(str(p) for p in (*prefix, *error.path))
    is_limit = isinstance(error, nn.LimitError)
    reason = error.reason
    # nn states the limit's value; the setting's name tells an operator what to change
    setting = LIMIT_SETTINGS.get(error.limit)
    if setting and setting not in reason:
        reason = f"{reason} ({setting})"
    field = ".".join(path)
    message = f"{field}: {reason}" if field else reason
    abort(413 if is_limit else 422, message, field_errors(path, reason, location))


class Api(flask_smorest.Api):
    """flask-smorest's Api, whose every error carries a message and its headers."""

    ERROR_SCHEMA = schemas.ErrorSchema

    def handle_http_exception(self, error: HTTPException):
        payload, code, headers = super().handle_http_exception(error)
        message = payload.get("message")
        if message is None and payload.get("errors"):
            message = first_error(payload["errors"])
        if message is None and isinstance(error, RequestEntityTooLarge):
            limit = current_app.config["MAX_CONTENT_LENGTH"] / 2**20
            message = f"the request body is over the limit of {limit:g} MiB (NNJOBS_MAX_BODY_MB)"
        if message is None and isinstance(error, MethodNotAllowed) and error.valid_methods:
            allowed = ", ".join(m for m in error.valid_methods if m not in ("HEAD", "OPTIONS"))
            message = f"{request.method} is not allowed here; use {allowed}"
        body = {
            "code": payload["code"],
            "status": payload["status"],
            "message": message or error.description or error.name,
        }
        if "errors" in payload:
            body["errors"] = payload["errors"]
        if is_v2(request.path):
            body = {"error": body["message"]}
        # werkzeug's own headers, such as Allow on a 405, beside those passed to abort
        own = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
        return body, code, {**own, **(headers or {})}


class V2ErrorsPlugin(BasePlugin):
    """Documents the Open Inference Protocol's error body on every error answer of its
    routes (those the views declare, the default, and the 401 of API keys): put it after
    the plugins that add answers."""

    def __init__(self, schema: dict):
        self.schema = schema

    def init_spec(self, spec):
        spec.components.schema(V2_ERROR, self.schema)

    def operation_helper(self, path=None, operations=None, **kwargs):
        if not is_v2(path or ""):
            return
        ref = {"$ref": f"#/components/schemas/{V2_ERROR}"}
        for operation in (operations or {}).values():
            responses = operation.get("responses", {})
            for code in list(responses):
                if code == "default" or int(code) >= 400:
                    responses[code] = {
                        "description": HTTPStatus(int(code)).phrase
                        if code != "default"
                        else "Error",
                        "content": {"application/json": {"schema": ref}},
                    }


def first_error(errors: dict) -> str | None:
    """``"layers.0.units: Must be ..."`` for the first field of marshmallow's errors, so
    that the message alone tells what to fix (the location, ``json``, is left out)."""
    path = []
    node = errors
    while isinstance(node, dict) and node:
        key, node = next(iter(node.items()))
        path.append(str(key))
    if isinstance(node, list) and node:
        node = node[0]
    if not isinstance(node, str):
        return None
    if len(path) > 1 and path[0] in ("json", "query"):
        path = path[1:]
    field = ".".join(p for p in path if p != "_schema")
    return f"{field}: {node}" if field else node


def register(app, api: Api) -> None:
    """Answer the domain's refusals, and Redis and broker outages with 503 and
    Retry-After, in the one shape."""

    def rendered(answer, *args, **kwargs):
        try:
            answer(*args, **kwargs)
        except HTTPException as http_error:
            return api.handle_http_exception(http_error)
        raise AssertionError("an answer that did not raise")  # pragma: no cover

    def refused(error: Refused):
        headers = None if error.retry_after is None else {"Retry-After": str(error.retry_after)}
        return rendered(abort, error.status, error.message, error.errors, headers)

    def invalid(error: Invalid):
        return rendered(refuse, error.error, error.prefix, error.location)

    def broken(error: Broken):
        return api.handle_http_exception(InternalServerError(str(error)))

    app.register_error_handler(Refused, refused)
    app.register_error_handler(Invalid, invalid)
    app.register_error_handler(Broken, broken)

    def unavailable(error: Exception):
        log.warning("Redis unavailable: %s: %s", type(error).__name__, error)
        if isinstance(error, kombu.exceptions.OperationalError) and isinstance(
            error.__cause__, redis.exceptions.RedisError
        ):
            error = error.__cause__  # the broker's Redis said why
        if isinstance(error, redis.exceptions.OutOfMemoryError):
            message = "the job store is full; try again once running jobs have ended"
        elif isinstance(error, redis.exceptions.ResponseError):
            message = (
                f"the job store refuses writes for now ({reply_code(error)}); try again shortly"
            )
        else:
            message = f"the job store is unreachable; try again shortly ({type(error).__name__})"
        return rendered(abort, 503, message, headers={"Retry-After": RETRY_AFTER})

    for exc in UNAVAILABLE:
        app.register_error_handler(exc, unavailable)

    def refused_by_redis(error: redis.exceptions.ResponseError):
        # a server in a passing state (MISCONF, BUSY, ...) is a 503; any other refusal is
        # a fault of ours, and stays a 500
        if transient(error):
            return unavailable(error)
        raise error

    app.register_error_handler(redis.exceptions.ResponseError, refused_by_redis)
