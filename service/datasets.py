"""CSV datasets: upload, list, describe, delete.

A dataset is a CSV file with a header row, parsed once on upload (``domain.tables``) and
stored column by column, so that jobs name it (``"data": {"dataset": ..., "target":
...}``) instead of sending their arrays.
"""

from __future__ import annotations

from flask.views import MethodView

from domain import datasets

from .context import deadline, page, scope, services
from .parsing import CSV_TYPES, Blueprint
from .schemas import (
    DatasetPageSchema,
    DatasetQuerySchema,
    DatasetSchema,
    PageQuerySchema,
)
from .uploads import read_upload, upload_body

blp = Blueprint(
    "datasets",
    __name__,
    url_prefix="/datasets",
    description="CSV datasets: upload once, train jobs on their columns.",
)


EXAMPLE_CSV = "sepal_length,sepal_width,petal_length,petal_width,species\n5.1,3.5,1.4,0.2,setosa\n"

CSV_REQUEST = upload_body(
    "A CSV file with a header row: the body itself (text/csv), or the `file` field of a "
    "multipart upload, with an optional `name` field",
    "text/csv",
    {"schema": {"type": "string"}, "example": EXAMPLE_CSV},
)


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
        data, form_name, filename = read_upload(
            svc.settings, "NNJOBS_MAX_DATASET_MB", CSV_TYPES, "the CSV file"
        )
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
