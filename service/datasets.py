"""CSV datasets: upload, list, describe, delete.

A dataset is a CSV file with a header row, parsed once on upload (``service.tables``) and
stored column by column, so that jobs name it (``"data": {"dataset": ..., "target":
...}``) instead of sending their arrays.
"""

from __future__ import annotations

import re
from pathlib import PurePath

import numpy as np
from flask import request
from flask.views import MethodView

import nn

from . import tables
from .context import page, services
from .errors import abort
from .parsing import Blueprint
from .schemas import (
    NAME_PATTERN,
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

#: media types taken as a CSV body (besides a multipart upload)
CSV_TYPES = ("text/csv", "application/csv")
_NAME_RE = re.compile(f"^{NAME_PATTERN}$")

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
                    "name": {"type": "string", "pattern": f"^{NAME_PATTERN}$"},
                },
                "required": ["file"],
                "additionalProperties": False,
            }
        },
    },
}


def refuse_table(error: tables.TableError, location: str = "csv"):
    """Answer a refused CSV file, naming the column or row at fault."""
    errors = {location: {error.where: [error.message]}} if error.where else None
    abort(error.status, error.message, errors)


def _default_name(filename: str | None) -> str:
    """The uploaded file's name without extension, made a valid name; else "dataset"."""
    stem = PurePath(filename or "").stem
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("_")[:64]
    return stem or "dataset"


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
        if name is not None and not _NAME_RE.match(name):
            reason = "1 to 64 characters from letters, digits, '.', '_' and '-'."
            abort(422, f"name: {reason}", {"form": {"name": [reason]}})
    else:
        abort(
            415,
            "send the CSV file as the body with Content-Type: text/csv, or as the file "
            f"field of a multipart/form-data upload (got {request.mimetype or 'no content type'})",
        )
    if len(data) > max_bytes:
        abort(413, too_large)
    return data, name, filename


def _not_found(dataset_id: str):
    abort(404, f"no dataset {dataset_id!r}")


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
        settings = svc.settings
        data, form_name, filename = _upload(settings["NNJOBS_MAX_DATASET_MB"])
        try:
            table = tables.read(data, settings["NNJOBS_MAX_DATASET_ROWS"])
            columns = tables.columns(table)
        except tables.TableError as e:
            refuse_table(e)
        meta = {
            "name": query.get("name") or form_name or _default_name(filename),
            "n_rows": table.n_rows,
            "n_columns": len(columns),
            "size_bytes": table.size_bytes,
            "columns": [c.describe() for c in columns],
        }
        dataset = svc.registry.create_dataset(meta, [c.to_bytes() for c in columns])
        return dataset, {"Location": f"/datasets/{dataset['id']}"}

    @blp.arguments(PageQuerySchema, location="query")
    @blp.response(200, DatasetPageSchema)
    def get(self, query):
        """List datasets, newest first."""
        return page(services().registry.list_datasets, query)


@blp.route("/<ref:dataset_id>")
class Dataset(MethodView):
    @blp.response(200, DatasetSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, dataset_id):
        """A dataset (by id, or by name: the newest of that name) and its columns."""
        dataset = services().registry.get_dataset(dataset_id)
        if dataset is None:
            _not_found(dataset_id)
        return dataset

    @blp.response(204)
    @blp.alt_response(404, response="NOT_FOUND")
    def delete(self, dataset_id):
        """Delete a dataset (by id or name); jobs submitted and models trained on it stay."""
        registry = services().registry
        resolved = registry.resolve_dataset(dataset_id)
        # deleting by id, not by name: the name could name a newer upload meanwhile
        if resolved is None or registry.delete_dataset(resolved) is None:
            _not_found(dataset_id)


# -- jobs on a dataset --------------------------------------------------------------------


def _refuse(field: str, reason: str):
    raise nn.SpecError(f"data.{field}", reason)


def _load(dataset_id: str, names: list[str], meta: dict) -> dict[str, tables.Column]:
    index = {c["name"]: i for i, c in enumerate(meta["columns"])}
    kinds = {c["name"]: c["kind"] for c in meta["columns"]}
    blobs = services().registry.dataset_columns(dataset_id, [index[n] for n in names])
    if blobs is None:  # deleted since its metadata was read
        _refuse("dataset", f"no dataset {dataset_id!r}")
    return {
        n: tables.Column.from_bytes(n, kinds[n], blob) for n, blob in zip(names, blobs, strict=True)
    }


def _no_missing(field: str, col: tables.Column) -> None:
    if col.missing.any():
        _refuse(
            field,
            f"column {col.name!r} has a missing value in data row {tables.first_row(col.missing)} "
            f"({int(col.missing.sum())} in all)",
        )


def _numbers(col: tables.Column) -> np.ndarray:
    return col.values if col.kind == "numeric" else col.values.astype(np.float64)


def _target(cols: list[tables.Column], several: bool) -> np.ndarray:
    for col in cols:
        if several and col.kind == "text":
            _refuse(
                "target",
                f"column {col.name!r} is text; several targets must be numbers (0/1 for "
                "multi-label, or values for regression) or booleans",
            )
        _no_missing("target", col)
    if not several:
        [col] = cols
        if col.kind == "text":
            return col.values.astype(str)
        if col.kind == "boolean":
            return col.values.astype(bool)
        # whole numbers are class labels, as integers in JSON are (output "linear" makes
        # them a regression target)
        values = col.values
        integral = np.isfinite(values).all() and np.all(values == np.round(values))
        if integral and np.abs(values).max() < 2**53:
            return values.astype(np.int64)
        return values
    return np.column_stack([_numbers(c) for c in cols])


def job_arrays(data: dict, max_values: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """``(X, y, what the job's data records)`` for a job on a dataset.

    Raises
    ------
    nn.SpecError
        An unknown dataset or column, a text feature, a missing value (naming its column
        and data row), features overlapping the target.
    nn.LimitError
        More than ``max_values`` values in X.
    """
    meta = services().registry.get_dataset(data["dataset"])
    if meta is None:
        _refuse("dataset", f"no dataset {data['dataset']!r}")
    dataset_id = meta["id"]
    names = [c["name"] for c in meta["columns"]]
    several = isinstance(data["target"], list)
    target = data["target"] if several else [data["target"]]
    features = data.get("features")
    for field, wanted in (("target", target), ("features", features or [])):
        unknown = [n for n in wanted if n not in names]
        if unknown:
            _refuse(
                field,
                f"no column {unknown[0]!r} in dataset {dataset_id!r} (its columns: "
                f"{', '.join(names)})",
            )
    if features is None:
        features = [n for n in names if n not in target]
        if not features:
            _refuse("features", "the dataset has no column left to learn from")
    else:
        both = [n for n in features if n in target]
        if both:
            _refuse("features", f"column {both[0]!r} is the target; it cannot be a feature")
        if len(set(features)) != len(features):
            twice = next(n for n in features if features.count(n) > 1)
            _refuse("features", f"column {twice!r} is named twice")
    kinds = {c["name"]: c["kind"] for c in meta["columns"]}
    text = [n for n in features if kinds[n] == "text"]
    if text:
        hint = "" if "features" in data else " (name the columns to learn from in data.features)"
        _refuse(
            "features", f"column {text[0]!r} is text; features must be numbers or booleans{hint}"
        )
    n_values = meta["n_rows"] * len(features)
    if n_values > max_values:
        raise nn.LimitError(
            "data.features",
            f"{n_values} values in X, over the limit of {max_values} (NNJOBS_MAX_VALUES)",
        )
    cols = _load(dataset_id, [*features, *target], meta)
    for name in features:
        _no_missing("features", cols[name])
    X = np.column_stack([_numbers(cols[n]) for n in features])
    y = _target([cols[n] for n in target], several)
    return X, y, {"dataset": dataset_id, "target": data["target"], "features": features}
