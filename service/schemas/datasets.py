"""CSV datasets as the API shows them."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from domain.tables import KINDS, MAX_LISTED

from .common import NAME_PATTERN, NAME_RULE, FullMatch, page_schema

# -- datasets -----------------------------------------------------------------------------


class _Key(fields.Raw):
    """A key of a dict, absent when the dict lacks it (``values`` would otherwise be
    read as the dict's method of that name)."""

    def get_value(self, obj, attr, accessor=None, default=ma.missing):
        return obj.get(attr, ma.missing)


class ColumnSchema(ma.Schema):
    """One column of a dataset."""

    name = fields.String()
    kind = fields.String(validate=validate.OneOf(KINDS))
    missing = fields.Integer(metadata={"description": "Missing cells (empty, NA, null, ...)"})
    min = fields.Float(allow_none=True, metadata={"description": "numeric columns"})
    max = fields.Float(allow_none=True, metadata={"description": "numeric columns"})
    n_distinct = fields.Integer(metadata={"description": "text and boolean columns"})
    values = _Key(
        allow_none=True,
        metadata={
            "description": f"Text and boolean columns: the distinct values, sorted, when "
            f"there are at most {MAX_LISTED}; else null",
            "type": "array",
            "items": {},
        },
    )


class DatasetSchema(ma.Schema):
    """A CSV file, stored column by column."""

    id = fields.String()
    name = fields.String()
    created_at = fields.String(metadata={"format": "date-time"})
    n_rows = fields.Integer(metadata={"description": "Data rows (the header is not counted)"})
    n_columns = fields.Integer()
    size_bytes = fields.Integer(metadata={"description": "Size of the file as uploaded"})
    columns = fields.List(fields.Nested(ColumnSchema))


class DatasetQuerySchema(ma.Schema):
    name = fields.String(
        validate=FullMatch(NAME_PATTERN, error=NAME_RULE),
        metadata={"description": "Default: the uploaded file's name without extension"},
    )


DatasetPageSchema = page_schema(DatasetSchema, "Datasets, on every page")
