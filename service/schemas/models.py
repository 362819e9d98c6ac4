"""Models, and the predictions they serve."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

import nn
from domain import exchange
from registry.names import REF_PATTERN

from .common import NAME_PATTERN, FullMatch, JSONList, PageQuerySchema, page_schema
from .evaluation import evaluation_field, importance_field
from .jobs import STOP_REASON, WarningSchema


class ModelSchema(ma.Schema):
    """A trained model."""

    id = fields.String()
    name = fields.String()
    version = fields.Integer()
    job_id = fields.String(
        allow_none=True, metadata={"description": "The job that trained it; null when imported"}
    )
    created_at = fields.String(metadata={"format": "date-time"})
    n_features = fields.Integer()
    output = fields.String(validate=validate.OneOf(list(nn.OUTPUTS)))
    kind = fields.String(metadata={"description": "binary, multilabel, multiclass, regression"})
    classes = fields.Raw(allow_none=True, metadata={"type": "array", "items": {}})
    layers = fields.List(fields.Dict())
    n_params = fields.Integer()
    metrics = fields.Dict()
    history = fields.Dict(
        metadata={"description": "As the job's, diagnostics included; left out of listings"}
    )
    warnings = fields.List(fields.Nested(WarningSchema))
    features = fields.List(
        fields.String(),
        allow_none=True,
        metadata={
            "description": "The names of its inputs, in order, when trained from a dataset; "
            "null when trained from X and y or synthetic data"
        },
    )
    target = fields.Raw(
        allow_none=True,
        metadata={
            "description": "The dataset column (or columns) it predicts; null without a dataset"
        },
    )
    preparation = fields.Dict(
        allow_none=True,
        metadata={
            "description": "Trained on a dataset: how raw rows become its inputs. features "
            "(in input order: name, kind; numeric: median, indicator; categorical: "
            "categories, missing_level, folded: the categories folded into <other>, the 1,000 most "
            "frequent, and n_folded, their number), dropped, missing and unknown (the policies), "
            "encoded (the input columns' names: a numeric column's name, name=<missing> "
            "for its indicator, name=category, name=<other>, name=<missing>); null otherwise"
        },
    )
    training_seconds = fields.Float(
        allow_none=True, metadata={"description": "Seconds spent training it"}
    )
    stop_reason = STOP_REASON
    evaluation = evaluation_field()
    importance = importance_field()
    feature_names = fields.List(
        fields.String(),
        metadata={"description": "Its input columns' names (x0, x1, ... without a dataset)"},
    )
    parent = fields.Dict(
        allow_none=True,
        metadata={
            "description": "The model it was trained further from (a warm start): id, "
            "name and version; null otherwise"
        },
    )
    parity = fields.Nested(
        lambda: ParitySchema(),
        allow_none=True,
        metadata={
            "description": "How its ONNX export agrees with it, measured when it was stored; "
            "null when it could not be measured (or for models stored before)"
        },
    )


class ParitySchema(ma.Schema):
    """The parity certificate: the model's ONNX export (``GET /models/<ref>/export``), run
    by onnxruntime, against the model's own predictions on the same rows."""

    format = fields.String(metadata={"description": "onnx"})
    exportable = fields.Boolean(
        metadata={"description": "false when the export refuses the model (see reason)"}
    )
    reason = fields.String(metadata={"description": "Why it cannot be exported"})
    opset = fields.Integer()
    runtime = fields.String(metadata={"description": "onnxruntime and its version"})
    rows = fields.Integer(metadata={"description": "Rows compared, the extreme ones aside"})
    rows_from = fields.String(
        metadata={
            "description": "validation, training (no validation split), or drawn "
            "(around the training mean, for an imported model)"
        }
    )
    extreme_rows = fields.Integer(
        metadata={"description": "Rows added at sigmas standard deviations from the mean"}
    )
    sigmas = fields.Float()
    fed = fields.String(
        metadata={
            "description": "inputs (the rows of numbers), or raw columns: a model whose "
            "graph carries its preparation is fed the raw values the rows encode"
        }
    )
    compared = fields.String(metadata={"description": "probabilities, or values (regression)"})
    max_abs_difference = fields.Float(
        metadata={"description": "Largest absolute difference over every row and output"}
    )
    labels_agree = fields.Boolean(
        allow_none=True,
        metadata={"description": "Every label agrees; null for regression, which has none"},
    )


class ModelQuerySchema(PageQuerySchema):
    name = fields.String(validate=FullMatch(NAME_PATTERN))


EXPORT_FORMATS = tuple(exchange.FORMATS)


class ExportQuerySchema(ma.Schema):
    format = fields.String(
        load_default="onnx",
        validate=validate.OneOf(EXPORT_FORMATS),
        metadata={
            "description": "onnx: one ONNX graph (opset 13); mlflow: a zipped MLflow model "
            "(python_function flavor); nnjobs: the model's own bytes, for POST /models/import"
        },
    )


class ImportQuerySchema(ma.Schema):
    name = fields.String(
        validate=FullMatch(NAME_PATTERN),
        metadata={"description": "The name to store it under (or the multipart name field)"},
    )


ModelPageSchema = page_schema(ModelSchema, "Models matching, on every page")


# -- predictions --------------------------------------------------------------------------

#: the bound on rows that maxItems cannot state: it depends on the model
ANSWER_LIMIT = (
    "The answer holds rows x the model's outputs values (outputs: one per class for "
    "softmax, per label for multi-label, per target for regression; one for two "
    "classes); over NNJOBS_MAX_ANSWER_VALUES (default 1,000,000), 413 before predicting."
)

_INPUTS = {
    "description": "Rows of finite numbers, each with the model's number of inputs; or, "
    "for a model trained on a dataset, rows as objects of column name to value (raw: "
    "text, numbers, booleans or null; keys in any order, others ignored, an absent key "
    "a missing value). " + ANSWER_LIMIT,
    "type": "array",
    "items": {
        "oneOf": [
            {"type": "array", "items": {"type": "number"}},
            {"type": "object", "additionalProperties": {}},
        ]
    },
}


class InputsSchema(ma.Schema):
    inputs = JSONList(required=True, metadata=_INPUTS)


class PredictRequestSchema(InputsSchema):
    model_id = fields.String(
        required=True,
        validate=FullMatch(REF_PATTERN, error="Not a model id, name or name@version."),
        metadata={"description": "A model id, a name (latest version) or name@version"},
    )


class RowWarningSchema(ma.Schema):
    """A value of a row that the model's preparation could only approximate."""

    row = fields.Integer(metadata={"description": "0-based, in the request"})
    column = fields.String()
    value = fields.Raw(metadata={"description": "The value, as text; null if missing"})
    message = fields.String()


class PredictionSchema(ma.Schema):
    """Predictions in the caller's terms."""

    model_id = fields.String(metadata={"description": "The id of the model that answered"})
    output = fields.String(validate=validate.OneOf(list(nn.OUTPUTS)))
    classes = fields.Raw(metadata={"type": "array", "items": {}})
    probabilities = fields.Raw(
        metadata={
            "description": "sigmoid, two classes: one per row (that of the second class); "
            "multi-label: one per label per row; softmax: a distribution per row",
            "type": "array",
            "items": {},
        }
    )
    predictions = fields.Raw(
        metadata={"description": "Class values, 0/1 per label, or values", "type": "array"}
    )
    warnings = fields.List(
        fields.Nested(RowWarningSchema),
        metadata={
            "description": "Rows given as objects: what their preparation changed (a "
            "category unseen in training counted as <other>); absent when none"
        },
    )
