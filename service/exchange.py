"""Models leaving and entering: export in another runtime's format, import from another
deployment."""

from __future__ import annotations

from flask import Response
from flask.views import MethodView

from domain import exchange
from registry.names import NAME_RULE

from .context import scope, services
from .errors import abort
from .parsing import Blueprint
from .schemas import ExportQuerySchema, ImportQuerySchema, ModelSchema
from .uploads import read_upload, upload_body

blp = Blueprint(
    "exchange",
    __name__,
    url_prefix="/models",
    description="Models leaving the service (ONNX, MLflow, their own bytes) and entering it.",
)

_BINARY = {"schema": {"type": "string", "format": "binary"}}

EXPORT_OUTPUT = {
    "200": {
        "description": "The file, with a Content-Disposition naming it <name>-<version>.<ext>",
        "content": {mimetype: _BINARY for mimetype, _ in exchange.FORMATS.values()},
    }
}

IMPORT_REQUEST = upload_body(
    "A model exported with format=nnjobs: the body itself (application/octet-stream, "
    "with ?name=), or the `file` field of a multipart upload with a `name` field",
    "application/octet-stream",
    _BINARY,
)


@blp.route("/<ref:ref>/export")
class Export(MethodView):
    @blp.arguments(ExportQuerySchema, location="query")
    @blp.doc(responses=EXPORT_OUTPUT)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def get(self, query, ref):
        """Download a model as ONNX, as a zipped MLflow model, or as its own bytes."""
        done = exchange.export(services(), ref, query["format"], scope=scope())
        return Response(
            done.data,
            mimetype=done.mimetype,
            headers={"Content-Disposition": f'attachment; filename="{done.filename}"'},
        )


@blp.route("/import")
class Import(MethodView):
    @blp.arguments(ImportQuerySchema, location="query")
    @blp.doc(requestBody=IMPORT_REQUEST)
    @blp.response(
        201,
        ModelSchema,
        description="Stored as the next version of its name",
        headers={"Location": {"description": "/models/<id>", "schema": {"type": "string"}}},
    )
    @blp.alt_response(400, response="BAD_REQUEST")
    @blp.alt_response(413, response="REQUEST_ENTITY_TOO_LARGE")
    @blp.alt_response(415, response="UNSUPPORTED_MEDIA_TYPE")
    @blp.alt_response(429, response="TOO_MANY_REQUESTS")
    @blp.alt_response(503, response="SERVICE_UNAVAILABLE")
    def post(self, query):
        """Store a model exported by an nnjobs service (format=nnjobs), checked as a stored
        model is when it is loaded."""
        svc = services()
        data, form_name, _ = read_upload(
            svc.settings,
            "NNJOBS_MAX_IMPORT_MB",
            ("application/octet-stream",),
            "the model file",
        )
        name = query.get("name") or form_name
        if name is None:
            reason = f"missing; send ?name= or the multipart name field ({NAME_RULE})"
            abort(422, f"name: {reason}", {"query": {"name": [reason]}})
        model = exchange.import_model(svc, data, name, scope=scope())
        return model, {"Location": f"/models/{model['id']}"}
