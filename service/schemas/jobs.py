"""Job requests, and jobs as the API shows them."""

from __future__ import annotations

from typing import ClassVar

import marshmallow as ma
from marshmallow import fields, validate

import nn
from nn.diagnostics import (
    DEAD_WARNING,
    EXPLODING_NORM,
    SATURATED_WARNING,
    VANISHING_RATIO,
    WARNING_CODES,
)
from nn.fixes import TRAINING_WARNING_CODES
from nn.preparation import CARDINALITY_POLICIES, KINDS, MISSING_POLICIES, UNKNOWN_POLICIES
from nn.spec import AUTO, EARLY_STOPPING_PARAMS, INIT_CHOICES, SEED
from nn.stopping import STOP_REASONS
from registry import JOB_STATUSES

from .common import (
    MAX_WAIT_SECONDS,
    NAME_PATTERN,
    Bool,
    FullMatch,
    Int,
    JSONList,
    Number,
    PageQuerySchema,
    describe_param,
    name_field,
    owned_params,
    page_schema,
    param_field,
)
from .evaluation import (
    TRAINING_FIELDS,
    WEIGHT_FIELD,
    InitSchema,
    evaluation_field,
    importance_field,
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


class JobErrorSchema(ma.Schema):
    type = fields.String()
    message = fields.String()


class LayerDiagnosticsSchema(ma.Schema):
    """One hidden layer's diagnostics, one value per epoch (an entry of
    ``history.diagnostics``)."""

    layer = fields.Integer(metadata={"description": "1-based, input side first"})
    activation = fields.String()
    units = fields.Integer()
    grad_norm = fields.List(
        fields.Float(),
        metadata={
            "description": "L2 norm of the gradient of the layer's weights, root mean "
            "square over the epoch's batches"
        },
    )
    dead_fraction = fields.List(
        fields.Float(),
        allow_none=True,
        metadata={
            "description": "Share of units whose output is 0 on every probed training row "
            "at the epoch's end; null for activations without a dead region (all but relu)"
        },
    )
    saturated_fraction = fields.List(
        fields.Float(),
        allow_none=True,
        metadata={
            "description": "Share of units whose derivative is below 0.01 on over 90% of "
            "the probed training rows at the epoch's end; null for activations that do "
            "not saturate"
        },
    )


class WarningSchema(ma.Schema):
    """Something the diagnostics show that is worth changing."""

    code = fields.String(
        validate=validate.OneOf([*WARNING_CODES, *TRAINING_WARNING_CODES]),
        metadata={
            "description": f"dead_units: at least {DEAD_WARNING:.0%} of a layer's units dead; "
            f"saturated_units: at least {SATURATED_WARNING:.0%} saturated; "
            f"vanishing_gradients: layer 1's grad_norm under {VANISHING_RATIO:g} times the "
            f"last hidden layer's; exploding_gradients: a grad_norm over {EXPLODING_NORM:g}; "
            "still_improving, near_chance, overfitting and loss_rose: read from the "
            "loss and accuracy curves"
        },
    )
    layer = fields.Integer(allow_none=True, metadata={"description": "1-based hidden layer"})
    epoch = fields.Integer(metadata={"description": "First epoch that crossed the threshold"})
    message = fields.String()
    fix = fields.Dict(
        metadata={
            "description": "change: a partial job spec that addresses it; vary: a sweep's "
            "values that test it (the job's own first); POST /jobs/<id>/fix submits it"
        }
    )


STOP_REASON = fields.String(
    allow_none=True,
    validate=validate.OneOf(STOP_REASONS),
    metadata={
        "description": "Why training ended: completed (every epoch run), early_stopping (no "
        "improvement), diverged (the loss became NaN or infinite), cancelled; null before"
    },
)


ATTEMPT_OUTCOMES = ("running", "succeeded", "failed", "cancelled", "lease_expired")


class AttemptSchema(ma.Schema):
    """One attempt at a job: which worker ran it, where, when, and how it ended."""

    attempt = fields.Integer(metadata={"description": "Its number, from 1"})
    node = fields.String(
        allow_none=True, metadata={"description": "The Celery node name of the worker"}
    )
    host = fields.String(allow_none=True, metadata={"description": "The worker's host name"})
    started_at = fields.String(metadata={"format": "date-time"})
    ended_at = fields.String(allow_none=True, metadata={"format": "date-time"})
    outcome = fields.String(
        validate=validate.OneOf(ATTEMPT_OUTCOMES),
        metadata={
            "description": "running while under way; lease_expired: its worker stopped "
            "reporting (it died or lost Redis) and the job was taken back"
        },
    )


class JobSchema(ma.Schema):
    """A training job and where it stands."""

    id = fields.String()
    name = fields.String()
    status = fields.String(validate=validate.OneOf(JOB_STATUSES))
    created_at = fields.String(metadata={"format": "date-time"})
    started_at = fields.String(allow_none=True, metadata={"format": "date-time"})
    finished_at = fields.String(allow_none=True, metadata={"format": "date-time"})
    spec = fields.Dict(metadata={"description": "The job as it runs: every default filled in"})
    data = fields.Dict(metadata={"description": "n_samples, n_features, classes, ..."})
    progress = fields.Dict(allow_none=True)
    history = fields.Dict(
        metadata={
            "description": "Per-epoch series (loss, val_loss, metrics), best_epoch, "
            "stop_reason, and diagnostics: one LayerDiagnostics per hidden layer (absent "
            "when training.diagnostics is false); left out of listings"
        },
    )
    warnings = fields.List(
        fields.Nested(WarningSchema),
        metadata={"description": "What the diagnostics warn of; empty when nothing"},
    )
    model_id = fields.String(allow_none=True, metadata={"description": "Set once succeeded"})
    error = fields.Nested(JobErrorSchema, allow_none=True)
    attempts = fields.Integer(metadata={"description": "Times a worker has started it"})
    attempt_log = fields.List(
        fields.Nested(AttemptSchema),
        metadata={"description": "Every attempt, oldest first: node, host, times, outcome"},
    )
    sweep_id = fields.String(
        allow_none=True, metadata={"description": "The sweep that queued it, if one did"}
    )
    training_seconds = fields.Float(
        allow_none=True,
        metadata={"description": "Seconds spent training, once succeeded"},
    )
    stop_reason = STOP_REASON
    evaluation = evaluation_field()
    importance = importance_field()


#: more than any job's warnings (four per hidden layer, four from the curves)
MAX_WARNING_INDEX = 1000


class FixQuerySchema(ma.Schema):
    warning = fields.Integer(
        load_default=0,
        validate=validate.Range(min=0, max=MAX_WARNING_INDEX),
        metadata={"description": "Which of the job's warnings (0-based); default the first"},
    )


class JobWaitQuerySchema(ma.Schema):
    wait = fields.Float(
        load_default=0.0,
        validate=validate.Range(min=0, max=MAX_WAIT_SECONDS),
        metadata={
            "description": "Seconds to wait for the job to change (a status change or a "
            "progress report) before answering; an ended job answers at once"
        },
    )


class PurgeQuerySchema(ma.Schema):
    purge = fields.Boolean(
        load_default=False,
        truthy={"true"},
        falsy={"false"},
        metadata={
            "description": "`true`: remove it now (cancelling first what has not ended), "
            "answering 204; its models stay"
        },
    )


class JobQuerySchema(PageQuerySchema):
    status = fields.String(validate=validate.OneOf(JOB_STATUSES))


JobPageSchema = page_schema(JobSchema, "Jobs matching, on every page")
