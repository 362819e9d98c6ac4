"""Job requests: the body of ``POST /jobs`` (and a sweep's ``job``), its training settings,
layers and data."""

from __future__ import annotations

from typing import ClassVar

import marshmallow as ma
from marshmallow import fields, validate

import nn
from nn.preparation import CARDINALITY_POLICIES, KINDS, MISSING_POLICIES, UNKNOWN_POLICIES
from nn.spec import AUTO, EARLY_STOPPING_PARAMS, INIT_CHOICES, SEED

from .common import (
    NAME_PATTERN,
    Bool,
    FullMatch,
    Int,
    JSONList,
    Number,
    describe_param,
    name_field,
    owned_params,
    param_field,
)
from .evaluation import (
    TRAINING_FIELDS,
    WEIGHT_FIELD,
    InitSchema,
)


class EarlyStopping(fields.Raw):
    """``false``, ``true`` (the defaults) or ``{"patience": ..., "min_delta": ...}``."""

    default_error_messages: ClassVar[dict[str, str]] = {
        "invalid": 'Must be false, true or an object {{"patience": ..., "min_delta": ...}}.'
    }

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            return value
        if not isinstance(value, dict):
            raise self.make_error("invalid")
        return EarlyStoppingSchema().load(value)


class LearningRate(fields.Raw):
    """A rate in (0, 10], or ``"auto"``: a learning-rate range test picks it."""

    default_error_messages: ClassVar[dict[str, str]] = {
        "invalid": 'Must be a number in (0, 10] or "auto".'
    }

    def _deserialize(self, value, attr, data, **kwargs):
        if value == AUTO:
            return value
        return Number(error_messages=self.error_messages)._deserialize(value, attr, data)


# -- job requests -------------------------------------------------------------------------


# patience and the warm-up scale with the epoch budget (nn.stopping)
_EARLY_DEFAULTS = {
    "patience": "default a tenth of epochs (at least 10)",
    "min_delta": "relative to the best loss; default 0",
    "start_from_epoch": "no stop before it; default a fifth of epochs",
}
EarlyStoppingSchema = ma.Schema.from_dict(
    {
        name: param_field(p, f"{_EARLY_DEFAULTS[name]}, {p.describe_range()}")
        for name, p in EARLY_STOPPING_PARAMS.items()
    },
    name="EarlyStopping",
)


LayerSchema = ma.Schema.from_dict(
    {
        "units": Int(
            limit="NNJOBS_MAX_UNITS",
            required=True,
            metadata={"description": "1 to NNJOBS_MAX_UNITS (4096)"},
        ),
        "activation": fields.String(
            validate=validate.OneOf(nn.hidden_activation_names()),
            metadata={"description": "Default: the job's `activation`"},
        ),
        "dropout": Number(
            metadata={"description": "Rate in [0, 1), applied in training only; default 0"}
        ),
        # an activation's own parameters sit beside it (leaky_relu's alpha, maxout's pieces)
        **owned_params(nn.ACTIVATIONS),
    },
    name="Layer",
)

_OptimizerSettings = ma.Schema.from_dict(owned_params(nn.OPTIMIZERS), name="OptimizerSettings")


_TrainingExtras = ma.Schema.from_dict(TRAINING_FIELDS, name="TrainingExtras")


class TrainingSchema(_OptimizerSettings, _TrainingExtras):
    """Training settings, each with a default; an optimizer's own settings sit beside it."""

    epochs = Int(
        limit="NNJOBS_MAX_EPOCHS",
        metadata={"description": "1 to NNJOBS_MAX_EPOCHS (100000); default 500"},
    )
    batch_size = Int(
        limit="NNJOBS_MAX_BATCH_SIZE",
        metadata={"description": "1 to NNJOBS_MAX_BATCH_SIZE (65536); default 32"},
    )
    optimizer = fields.String(
        validate=validate.OneOf(list(nn.OPTIMIZERS)), metadata={"description": "Default adam"}
    )
    learning_rate = LearningRate(
        metadata={
            "description": 'In (0, 10]; default 0.01; "auto": a learning-rate range test '
            "chooses it (the rate and the curve are in history.lr_finder)",
            "oneOf": [
                {"type": "number", "minimum": 0, "exclusiveMinimum": True, "maximum": 10},
                {"type": "string", "enum": [AUTO]},
            ],
        }
    )
    l2 = Number(metadata={"description": "Weight penalty l2/2 * sum(W^2); default 0"})
    validation_split = Number(
        metadata={"description": "In [0, 1), stratified for classification; default 0.2"}
    )
    early_stopping = EarlyStopping(
        metadata={
            "description": "false, true (the default: patience a tenth of epochs, no stop "
            "in the first fifth) or an EarlyStopping object",
            "oneOf": [
                {"type": "boolean"},
                {"$ref": "#/components/schemas/EarlyStopping"},
            ],
        }
    )
    seed = param_field(SEED, "Same seed and spec, same weights; default 0")
    standardize = Bool(metadata={"description": "Scale inputs to zero mean, unit variance"})
    threshold = Number(
        metadata={"description": "sigmoid outputs: p >= threshold predicts; default 0.5"}
    )
    clip_norm = Number(
        allow_none=True, metadata={"description": "Clip the gradient's global L2 norm"}
    )
    init = fields.String(
        validate=validate.OneOf(INIT_CHOICES),
        metadata={
            "description": "Initializer of the hidden layers' weights; auto (the default) "
            "picks the one each activation asks for"
        },
    )
    diagnostics = Bool(
        metadata={
            "description": "Record per-layer gradient norms, dead and saturated units in "
            "history.diagnostics, and warn from them; default true"
        }
    )


SyntheticSchema = ma.Schema.from_dict(
    {
        "name": fields.String(
            required=True,
            validate=validate.OneOf(list(nn.synthetic.DATASETS)),
            metadata={"description": "plane is regression; the others two-class"},
        ),
        **{
            name: param_field(param, describe_param(param))
            for name, param in nn.synthetic.PARAMS.items()
        },
    },
    name="Synthetic",
)


class Features(fields.Raw):
    """A list of column names, or an object of column name to kind."""

    default_error_messages: ClassVar[dict[str, str]] = {
        "invalid": "Must be a list of column names, or an object of column names to "
        f"kinds ({', '.join(KINDS)})."
    }

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
            return value
        if isinstance(value, dict) and all(v in KINDS for v in value.values()):
            return value
        raise self.make_error("invalid")


class Target(fields.Raw):
    """A column name, or a list of column names."""

    default_error_messages: ClassVar[dict[str, str]] = {
        "invalid": "Must be a column name or a list of column names."
    }

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str) and value:
            return value
        if (
            isinstance(value, list)
            and value
            and all(isinstance(v, str) and v for v in value)
            and len(set(value)) == len(value)
        ):
            return value
        raise self.make_error("invalid")


_FORMS = {
    "X": "X and y",
    "y": "X and y",
    # an array with X and y, a column with a dataset (checked in _one_form)
    "weight": None,
    "synthetic": "synthetic",
    "dataset": "dataset",
    "target": "dataset",
    "features": "dataset",
    **dict.fromkeys(nn.preparation.OPTION_KEYS[1:], "dataset"),
}


class DataSchema(ma.Schema):
    """Exactly one of: ``X`` with ``y``, ``synthetic``, or ``dataset`` with ``target``."""

    X = JSONList(
        metadata={
            "description": "Rows of finite numbers, all of one length",
            "type": "array",
            "items": {"type": "array", "items": {"type": "number"}},
        }
    )
    y = JSONList(
        metadata={
            "description": "One per row: class labels (integers, strings or booleans, all "
            "of one type), a 0/1 matrix (multi-label) or numbers (regression, one or more "
            "columns)",
            "type": "array",
            "items": {
                "oneOf": [
                    {"type": "number"},
                    {"type": "string"},
                    {"type": "boolean"},
                    {"type": "array", "items": {"type": "number"}},
                ]
            },
        }
    )
    synthetic = fields.Nested(SyntheticSchema)
    dataset = fields.String(
        validate=FullMatch(NAME_PATTERN, error="Not a dataset id or name."),
        metadata={
            "description": "A dataset (POST /datasets): its id, or its name (the newest "
            "dataset of that name); the job records the id"
        },
    )
    target = Target(
        metadata={
            "description": "The dataset's column to predict (text, numbers or booleans), or "
            "a list of columns (0/1 labels for multi-label, or several regression targets)",
            "oneOf": [
                {"type": "string"},
                {"type": "array", "items": {"type": "string"}, "minItems": 1},
            ],
        }
    )
    features = Features(
        metadata={
            "description": "The dataset's columns to learn from: a list of columns (their "
            "kinds inferred: numbers numeric, text and booleans categorical), or an object "
            'naming the kinds of some columns ({"zip": "categorical", "id": "drop"}), the '
            "others inferred; default: every column but the target, inferred",
            "oneOf": [
                {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1},
                {
                    "type": "object",
                    "additionalProperties": {"type": "string", "enum": list(KINDS)},
                },
            ],
        }
    )
    missing = fields.String(
        validate=validate.OneOf(MISSING_POLICIES),
        metadata={
            "description": "A missing feature value: impute (the default: numeric -> the "
            "median plus an indicator column, categorical -> its own level), refuse "
            "(naming column and row), drop_rows (the rows with one, and those missing the "
            "target, are left out; refused at prediction)"
        },
    )
    unknown = fields.String(
        validate=validate.OneOf(UNKNOWN_POLICIES),
        metadata={
            "description": "A category unseen in training, at prediction: other (the "
            "default: counted as the column's <other> level, with a warning on its row) "
            "or refuse"
        },
    )
    max_categories = Int(
        limit="NNJOBS_MAX_CATEGORIES",
        metadata={
            "description": "One-hot columns per categorical feature: its most frequent "
            "categories; default and at most NNJOBS_MAX_CATEGORIES (50)"
        },
    )
    high_cardinality = fields.String(
        validate=validate.OneOf(CARDINALITY_POLICIES),
        metadata={
            "description": "A categorical column with more distinct values than "
            "max_categories: fold (the default: the rarer into <other>) or refuse"
        },
    )

    weight = WEIGHT_FIELD

    @ma.validates_schema
    def _one_form(self, data, **kwargs):
        form = next((f for f in ("synthetic", "dataset") if f in data), "X and y")
        extra = [key for key in data if _FORMS[key] not in (form, None)]
        if extra:
            raise ma.ValidationError(
                "Give one of: X and y, synthetic, or dataset and target; not several.",
                field_name=extra[0],
            )
        weight = data.get("weight")
        wanted = {"X and y": list, "dataset": str}.get(form)
        if weight is not None and not (wanted and isinstance(weight, wanted)):
            raise ma.ValidationError(
                "An array of numbers with X and y, a column name with a dataset; "
                "synthetic data has no weights.",
                field_name="weight",
            )
        required = {"X and y": ("X", "y"), "dataset": ("dataset", "target")}.get(form, ())
        for key in required:
            if key not in data:
                raise ma.ValidationError(
                    "Missing data for required field (give X and y, synthetic, or dataset "
                    "and target).",
                    field_name=key,
                )


class JobRequestSchema(ma.Schema):
    """A training job: its data, its network and how to train it."""

    name = name_field('Model name; versions are grouped by name. Default "model"')
    data = fields.Nested(DataSchema, required=True)
    layers = fields.List(
        fields.Nested(LayerSchema),
        metadata={"description": "Hidden layers, zero to NNJOBS_MAX_LAYERS (32)"},
    )
    activation = fields.String(
        validate=validate.OneOf(nn.hidden_activation_names()),
        metadata={"description": "Default for hidden layers that name none; default relu"},
    )
    output = fields.String(
        allow_none=True,
        validate=validate.OneOf(list(nn.OUTPUTS)),
        metadata={"description": "Inferred from y when absent or null"},
    )
    training = fields.Nested(TrainingSchema)
    init = fields.Nested(
        InitSchema,
        metadata={"description": "A warm start: continue training a stored model"},
    )


# -- jobs and models ----------------------------------------------------------------------
