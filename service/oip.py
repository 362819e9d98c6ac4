"""The Open Inference Protocol, version 2 (REST): the server's and the models' metadata,
health, and inference, as KServe, Triton and MLServer serve it, so that their clients
(``tritonclient``, KServe's) can use the models of the registry.

A model name here is the registry's name (its latest version); a version, its version
number. Errors are the protocol's ``{"error": "..."}`` (:mod:`service.errors`), with the
statuses of the rest of the API. Inference is served by the same prediction code and
cache as ``/predict`` (:mod:`domain.oip` over :mod:`domain.prediction`).
"""

from __future__ import annotations

import functools
import inspect
import time
from importlib import metadata

from flask import jsonify, request
from flask.views import MethodView
from marshmallow import ValidationError

from domain import oip

from .auth import predicts
from .context import deadline, scope, services
from .errors import RETRY_AFTER, UNAVAILABLE, abort, first_error
from .parsing import Blueprint, loads
from .prediction import served
from .schemas.oip import (
    InferenceRequestSchema,
    InferenceResponseSchema,
    ModelMetadataSchema,
    ModelReadySchema,
    ServerLiveSchema,
    ServerMetadataSchema,
    ServerReadySchema,
    is_plain,
)

blp = Blueprint(
    "oip",
    __name__,
    url_prefix="/v2",
    description="The Open Inference Protocol (v2, REST), as KServe, Triton and MLServer "
    'serve it; errors are {"error": "..."}.',
)

_REQUEST = InferenceRequestSchema()

try:
    VERSION = metadata.version("nnjobs")
except metadata.PackageNotFoundError:  # pragma: no cover - run from a bare checkout
    VERSION = "0"

_EXAMPLE = {
    "id": "42",
    "inputs": [
        {"name": "input", "shape": [2, 2], "datatype": "FP32", "data": [0.1, 2.0, 0.3, -1.2]}
    ],
}

_BODY = {"schema": InferenceRequestSchema, "example": _EXAMPLE}


def refusals(*codes: int):
    """Document the error answers of a view (in the protocol's shape, see
    :class:`service.errors.V2ErrorsPlugin`)."""

    def decorator(view):
        for code in codes:
            view = blp.alt_response(code, description="Refused")(view)
        return view

    return decorator


@blp.route("")
class Server(MethodView):
    @blp.response(200, ServerMetadataSchema)
    def get(self):
        """The server's name, version and protocol extensions (none)."""
        return {"name": "nnjobs", "version": VERSION, "extensions": []}


@blp.route("/health/live")
class Live(MethodView):
    @blp.response(200, ServerLiveSchema)
    def get(self):
        """The process is up (as /healthz)."""
        return {"live": True}


@blp.route("/health/ready")
class Ready(MethodView):
    @blp.response(200, ServerReadySchema)
    @refusals(503)
    def get(self):
        """Ready to infer: Redis, where the models are, answers (no worker is needed)."""
        try:
            services().registry.ping()
        except UNAVAILABLE as e:
            abort(
                503, f"not ready: Redis is unreachable: {e}", headers={"Retry-After": RETRY_AFTER}
            )
        return {"ready": True}


@blp.route("/models/<modelname:name>")
class ModelMetadata(MethodView):
    @blp.response(200, ModelMetadataSchema)
    @refusals(404, 409, 503)
    def get(self, name, version=None):
        """A model's metadata: its input and output tensors (-1 for the batch)."""
        return oip.metadata(services(), name, version, scope=scope())


@blp.route("/models/<modelname:name>/versions/<version:version>")
class VersionMetadata(ModelMetadata):
    pass


@blp.route("/models/<modelname:name>/ready")
class ModelReady(MethodView):
    @blp.response(200, ModelReadySchema)
    @refusals(404, 409, 503)
    def get(self, name, version=None):
        """Ready when the model is loaded into this process (a 404 names none)."""
        return oip.ready(services(), name, version, scope=scope())


@blp.route("/models/<modelname:name>/versions/<version:version>/ready")
class VersionReady(ModelReady):
    pass


def _request() -> dict:
    """The inference request of the body, read strictly: JSON sent with no content type
    (as tritonclient sends it) or as JSON; not the binary tensor extension."""
    if request.headers.get("Inference-Header-Content-Length") is not None:
        abort(
            415,
            "binary tensor data are not served; send the data as JSON "
            "(tritonclient: set_data_from_numpy(..., binary_data=False))",
        )
    if request.mimetype not in ("", "application/json"):
        abort(415, f"the body must be JSON (got {request.mimetype})")
    body = loads(request.get_data(cache=False))
    if is_plain(body):
        return body
    try:
        return _REQUEST.load(body)
    except ValidationError as e:
        errors = {"json": e.messages}
        abort(422, first_error(errors), errors)


def undecorated(view):
    """Call the view itself, not through flask-smorest's decorators: for a view that
    answers a Response, they only document it (and cost a twentieth of a one-row
    inference). Put it outermost; the documentation stays."""
    inner = inspect.unwrap(view)

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        return inner(*args, **kwargs)

    return wrapper


@blp.route("/models/<modelname:name>/infer")
class Infer(MethodView):
    @predicts
    @undecorated
    @blp.doc(requestBody={"required": True, "content": {"application/json": _BODY}})
    @blp.response(200, InferenceResponseSchema)
    @refusals(400, 404, 409, 413, 415, 422, 503)
    def post(self, name, version=None):
        """Infer with a model: tensors in, probabilities and label (or values) out."""
        started = time.perf_counter()
        answer, done = oip.infer(services(), name, version, _request(), deadline(), scope=scope())
        served(done, started)
        # written as it is: the schema documents it
        return jsonify(answer)


@blp.route("/models/<modelname:name>/versions/<version:version>/infer")
class VersionInfer(Infer):
    pass
