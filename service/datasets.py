"""CSV datasets: upload, list, describe, delete.

A dataset is a CSV file with a header row, parsed once on upload (``domain.tables``) and
stored column by column, so that jobs name it (``"data": {"dataset": ..., "target":
...}``) instead of sending their arrays.
"""

from __future__ import annotations

from flask import request
from flask.views import MethodView

from domain import datasets
from registry.names import NAME_PATTERN, NAME_RE, NAME_RULE, anchored

from .context import deadline, page, scope, services
from .errors import abort
from .parsing import CSV_TYPES, Blueprint
from .schemas import (
    DatasetPageSchema,
    DatasetQuerySchema,
    DatasetSchema,
    PageQuerySchema,
)

blp = Blueprint(
    "datasets",
    __name__,
    url_prefix="/datasets",
    description="CSV datasets: upload once, train jobs on their columns.",
)


EXAMPLE_CSV = "sepal_length,sepal_width,petal_length,petal_width,species\n5.1,3.5,1.4,0.2,setosa\n"

CSV_REQUEST = {
    "required": True,
    "description": "A CSV file with a header row: the body itself (text/csv), or the "
    "`file` field of a multipart upload, with an optional `name` field",
    "content": {
        "text/csv": {"schema": {"type": "string"}, "example": EXAMPLE_CSV},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    "file": {"type": "string", "format": "binary"},
                    "name": {"type": "string", "pattern": anchored(NAME_PATTERN)},
                },
                "required": ["file"],
                "additionalProperties": False,
            }
        },
    },
}


def _upload(max_mb: float) -> tuple[bytes, str | None, str | None]:
    """The CSV bytes of the request, the ``name`` form field and the file's name."""
    max_bytes = int(max_mb * 2**20)
    too_large = f"the file is over the limit of {max_mb:g} MiB (NNJOBS_MAX_DATASET_MB)"
    if request.content_length is not None and request.content_length > max_bytes + 64 * 1024:
        abort(413, too_large)
    if request.mimetype in CSV_TYPES:
        data, name, filename = request.get_data(cache=False), None, None
    elif request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            abort(
                422,
                "file: missing; send the CSV file in the multipart field named file",
                {"files": {"file": ["Missing data for required field."]}},
            )
        unknown = sorted({str(k) for k in (*request.form, *request.files)} - {"file", "name"})
        if unknown:
            abort(
                422,
                f"{unknown[0]!r}: unknown field; a multipart upload takes file and name",
                {"form": {unknown[0]: ["Unknown field."]}},
            )
        data = upload.read(max_bytes + 1)
        name, filename = request.form.get("name"), upload.filename
        if name is not None and not NAME_RE.fullmatch(name):
            abort(422, f"name: {NAME_RULE}", {"form": {"name": [NAME_RULE]}})
    else:
        abort(
            415,
            "send the CSV file as the body with Content-Type: text/csv, or as the file "
            f"field of a multipart/form-data upload (got {request.mimetype or 'no content type'})",
        )
    if len(data) > max_bytes:
        abort(413, too_large)
    return data, name, filename


@blp.route("")
class Datasets(MethodView):
    @blp.arguments(DatasetQuerySchema, location="query")
    @blp.doc(requestBody=CSV_REQUEST)
    @blp.response(
        201,
        DatasetSchema,
        description="Stored",
        headers={"Location": {"description": "/datasets/<id>", "schema": {"type": "string"}}},
    )
    @blp.alt_response(400, response="BAD_REQUEST")
    @blp.alt_response(413, response="REQUEST_ENTITY_TOO_LARGE")
    @blp.alt_response(415, response="UNSUPPORTED_MEDIA_TYPE")
    @blp.alt_response(503, response="SERVICE_UNAVAILABLE")
    def post(self, query):
        """Upload a CSV file with a header row; its columns are typed and stored."""
        svc = services()
        data, form_name, filename = _upload(svc.settings["NNJOBS_MAX_DATASET_MB"])
        name = query.get("name") or form_name or datasets.default_name(filename)
        dataset = datasets.store(svc, data, name, deadline(), scope=scope())
        return dataset, {"Location": f"/datasets/{dataset['id']}"}

    @blp.arguments(PageQuerySchema, location="query")
    @blp.response(200, DatasetPageSchema)
    def get(self, query):
        """List datasets, newest first."""
        tenant = scope().listing(query.get("tenant"))
        return page(services().registry.list_datasets, query, tenant=tenant)


@blp.route("/<ref:dataset_id>")
class Dataset(MethodView):
    @blp.response(200, DatasetSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, dataset_id):
        """A dataset (by id, or by name: the newest of that name) and its columns."""
        return datasets.get(services(), dataset_id, scope=scope())

    @blp.response(204)
    @blp.alt_response(404, response="NOT_FOUND")
    def delete(self, dataset_id):
        """Delete a dataset (by id or name); jobs submitted and models trained on it stay."""
        datasets.delete(services(), dataset_id, scope=scope())
