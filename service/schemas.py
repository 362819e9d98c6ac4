"""Every request and response body of the API, as marshmallow schemas.

The same schemas validate requests and generate ``/openapi.json``. They check the
envelope: JSON types, required and unknown fields, and names (activations, outputs,
optimizers, datasets, statuses), whose allowed values are read from the ``nn`` and
``registry`` packages, never retyped here. Ranges and limits are left to ``nn.validate``
with the service's configured ``nn.Limits``, so that a limit lives in one place.

Numbers are strict JSON types: ``"16"`` or ``true`` is not a number and ``16.5`` is not
an integer (marshmallow would otherwise convert the first, accept the second as 1 and
truncate the third).
"""

from __future__ import annotations

import json
import math
import re
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
from nn.params import Param
from nn.spec import EARLY_STOPPING_PARAMS, INIT_CHOICES
from registry import JOB_STATUSES

from .tables import KINDS, MAX_LISTED

#: A model name: the contract's rule (``@`` is kept for ``name@version``).
NAME_PATTERN = r"[A-Za-z0-9._-]{1,64}"
#: Anything that names a job or a model in a path: an id, a name, or name@version.
REF_PATTERN = NAME_PATTERN + r"(?:@[0-9]{1,9})?"
REF_RE = re.compile(REF_PATTERN)

MAX_PAGE_SIZE = 100
#: the longest ``GET /jobs/<id>?wait=``: under the API's request timeout (30 s by default)
MAX_WAIT_SECONDS = 20
MAX_PAGE = 1_000_000


# -- strict JSON fields -------------------------------------------------------------------


class Number(fields.Float):
    """A finite JSON number."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class Int(fields.Integer):
    """A JSON integer (an integral float such as ``16.0`` is accepted as 16)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.make_error("invalid")
        if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class Bool(fields.Boolean):
    """JSON ``true`` or ``false`` only (marshmallow also takes 1, "yes", "on"...)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class JSONList(fields.Raw):
    """A JSON array taken as is.

    Data arrays can hold millions of values: checking them element by element in
    marshmallow would cost more than training a small network, so the schema checks only
    that they are arrays, and the views check their contents with NumPy
    (``service.data``).
    """

    default_error_messages: ClassVar[dict[str, str]] = {"invalid": "Must be an array."}

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, list):
            raise self.make_error("invalid")
        return value


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


def _param_field(param: Param, description: str) -> fields.Field:
    field_class = {bool: Bool, int: Int}.get(param.kind, Number)
    return field_class(metadata={"description": description})


def _describe(param: Param) -> str:
    if param.kind is bool:
        return f"default {str(param.default).lower()}"
    return f"default {param.default}, {param.describe_range()}"


def _owned_params(registry) -> dict[str, fields.Field]:
    """One optional field per parameter name found in ``registry`` (activations or
    optimizers), documented with each owner's default and range."""
    owners: dict[str, list[tuple[str, Param]]] = {}
    for owner_name, owner in registry.items():
        for name, param in owner.params.items():
            owners.setdefault(name, []).append((owner_name, param))
    return {
        name: _param_field(
            entries[0][1],
            "; ".join(f"{owner}: {_describe(p)}" for owner, p in entries),
        )
        for name, entries in sorted(owners.items())
    }


# -- errors -------------------------------------------------------------------------------


class ErrorSchema(ma.Schema):
    """Every error, whatever raised it."""

    code = fields.Integer(required=True, metadata={"description": "HTTP status code"})
    status = fields.String(required=True, metadata={"description": "HTTP status name"})
    message = fields.String(required=True, metadata={"description": "What went wrong"})
    errors = fields.Dict(
        metadata={
            "description": "Per-field messages, nested as the request is: "
            '{"json": {"layers": {"0": {"units": ["..."]}}}}, {"query": ...} for query '
            'parameters; /readyz names what is missing: {"redis": ..., "workers": ...}'
        }
    )


# -- job requests -------------------------------------------------------------------------


EarlyStoppingSchema = ma.Schema.from_dict(
    {name: _param_field(p, _describe(p)) for name, p in EARLY_STOPPING_PARAMS.items()},
    name="EarlyStopping",
)


LayerSchema = ma.Schema.from_dict(
    {
        "units": Int(required=True, metadata={"description": "1 to NNJOBS_MAX_UNITS (4096)"}),
        "activation": fields.String(
            validate=validate.OneOf(nn.hidden_activation_names()),
            metadata={"description": "Default: the job's `activation`"},
        ),
        "dropout": Number(
            metadata={"description": "Rate in [0, 1), applied in training only; default 0"}
        ),
        # an activation's own parameters sit beside it (leaky_relu's alpha, maxout's pieces)
        **_owned_params(nn.ACTIVATIONS),
    },
    name="Layer",
)

_OptimizerSettings = ma.Schema.from_dict(_owned_params(nn.OPTIMIZERS), name="OptimizerSettings")


class TrainingSchema(_OptimizerSettings):
    """Training settings, each with a default; an optimizer's own settings sit beside it."""

    epochs = Int(metadata={"description": "1 to NNJOBS_MAX_EPOCHS (100000); default 100"})
    batch_size = Int(metadata={"description": "1 to NNJOBS_MAX_BATCH_SIZE (65536); default 32"})
    optimizer = fields.String(
        validate=validate.OneOf(list(nn.OPTIMIZERS)), metadata={"description": "Default adam"}
    )
    learning_rate = Number(metadata={"description": "In (0, 10]; default 0.001"})
    l2 = Number(metadata={"description": "Weight penalty l2/2 * sum(W^2); default 0"})
    validation_split = Number(
        metadata={"description": "In [0, 1), stratified for classification; default 0.2"}
    )
    early_stopping = EarlyStopping(
        metadata={
            "description": 'false, true or {"patience": 10, "min_delta": 0} (the default)',
            "oneOf": [
                {"type": "boolean"},
                {"$ref": "#/components/schemas/EarlyStopping"},
            ],
        }
    )
    seed = Int(metadata={"description": "Same seed and spec, same weights; default 0"})
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
            name: _param_field(param, _describe(param))
            for name, param in nn.synthetic.PARAMS.items()
        },
    },
    name="Synthetic",
)


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
    "synthetic": "synthetic",
    "dataset": "dataset",
    "target": "dataset",
    "features": "dataset",
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
        validate=validate.Regexp(f"^{NAME_PATTERN}$", error="Not a dataset id or name."),
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
    features = fields.List(
        fields.String(validate=validate.Length(min=1)),
        validate=validate.Length(min=1),
        metadata={
            "description": "The dataset's columns to learn from (numeric or boolean, no "
            "missing values); default: every column but the target"
        },
    )

    @ma.validates_schema
    def _one_form(self, data, **kwargs):
        form = next((f for f in ("synthetic", "dataset") if f in data), "X and y")
        extra = [key for key in data if _FORMS[key] != form]
        if extra:
            raise ma.ValidationError(
                "Give one of: X and y, synthetic, or dataset and target; not several.",
                field_name=extra[0],
            )
        required = {"X and y": ("X", "y"), "dataset": ("dataset", "target")}.get(form, ())
        for key in required:
            if key not in data:
                raise ma.ValidationError(
                    "Missing data for required field (give X and y, synthetic, or dataset "
                    "and target).",
                    field_name=key,
                )


def _name_field(description: str) -> fields.String:
    return fields.String(
        allow_none=True,
        validate=validate.Regexp(
            f"^{NAME_PATTERN}$",
            error="1 to 64 characters from letters, digits, '.', '_' and '-'.",
        ),
        metadata={"description": description},
    )


class JobRequestSchema(ma.Schema):
    """A training job: its data, its network and how to train it."""

    name = _name_field('Model name; versions are grouped by name. Default "model"')
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
        validate=validate.OneOf(WARNING_CODES),
        metadata={
            "description": f"dead_units: at least {DEAD_WARNING:.0%} of a layer's units dead; "
            f"saturated_units: at least {SATURATED_WARNING:.0%} saturated; "
            f"vanishing_gradients: layer 1's grad_norm under {VANISHING_RATIO:g} times the "
            f"last hidden layer's; exploding_gradients: a grad_norm over {EXPLODING_NORM:g}"
        },
    )
    layer = fields.Integer(allow_none=True, metadata={"description": "1-based hidden layer"})
    epoch = fields.Integer(metadata={"description": "First epoch that crossed the threshold"})
    message = fields.String()


def page_schema(item: type[ma.Schema], total: str) -> type[ma.Schema]:
    """The schema of one page of a listing of ``item`` (the envelope
    :func:`service.context.page` builds), named after it: ``JobSchema`` gives
    ``JobPageSchema``; ``total`` describes the count."""
    noun = item.__name__.removesuffix("Schema")
    return type(
        f"{noun}PageSchema",
        (ma.Schema,),
        {
            "__doc__": f"One page of {noun.lower()}s, newest first.",
            "__module__": __name__,
            "items": fields.List(fields.Nested(item)),
            "total": fields.Integer(metadata={"description": total}),
            "page": fields.Integer(),
            "page_size": fields.Integer(),
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
    sweep_id = fields.String(
        allow_none=True, metadata={"description": "The sweep that queued it, if one did"}
    )
    training_seconds = fields.Float(
        allow_none=True,
        metadata={"description": "Seconds spent training, once succeeded"},
    )


class ModelSchema(ma.Schema):
    """A trained model."""

    id = fields.String()
    name = fields.String()
    version = fields.Integer()
    job_id = fields.String()
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
    training_seconds = fields.Float(
        allow_none=True, metadata={"description": "Seconds spent training it"}
    )


class PageQuerySchema(ma.Schema):
    # query values are strings: marshmallow's Integer parses them (a body needs Int)
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))
    page_size = fields.Integer(load_default=20, validate=validate.Range(min=1, max=MAX_PAGE_SIZE))


class JobWaitQuerySchema(ma.Schema):
    wait = fields.Float(
        load_default=0.0,
        validate=validate.Range(min=0, max=MAX_WAIT_SECONDS),
        metadata={
            "description": "Seconds to wait for the job to change (a status change or a "
            "progress report) before answering; an ended job answers at once"
        },
    )


class JobQuerySchema(PageQuerySchema):
    status = fields.String(validate=validate.OneOf(JOB_STATUSES))


class ModelQuerySchema(PageQuerySchema):
    name = fields.String(validate=validate.Regexp(f"^{NAME_PATTERN}$"))


JobPageSchema = page_schema(JobSchema, "Jobs matching, on every page")


ModelPageSchema = page_schema(ModelSchema, "Models matching, on every page")


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
        validate=validate.Regexp(
            f"^{NAME_PATTERN}$",
            error="1 to 64 characters from letters, digits, '.', '_' and '-'.",
        ),
        metadata={"description": "Default: the uploaded file's name without extension"},
    )


DatasetPageSchema = page_schema(DatasetSchema, "Datasets, on every page")


# -- sweeps -------------------------------------------------------------------------------


def _distinct(key: str, values: list) -> dict:
    """``{"2": ["..."]}`` for each value of ``values`` equal to an earlier one."""
    seen: dict[str, int] = {}
    errors = {}
    for i, value in enumerate(values):
        if key == "activation":
            value = nn.ACTIVATIONS[nn.ALIASES.get(value, value)].name  # swish is silu
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            value = float(value)
        canonical = json.dumps(value, sort_keys=True)
        if canonical in seen:
            errors[str(i)] = [f"Same as item {seen[canonical]}: the values must differ."]
        else:
            seen[canonical] = i
    return errors


def _non_empty(**kwargs):
    return validate.Length(min=1, error="Give at least one value.", **kwargs)


class SweepVarySchema(ma.Schema):
    """What a sweep varies: one job per combination of the values listed (their cartesian
    product), each a list of distinct values."""

    activation = fields.List(
        fields.String(validate=validate.OneOf(nn.hidden_activation_names())),
        validate=_non_empty(),
        metadata={
            "description": "Hidden activations: each sets the job's `activation` and that of "
            "every hidden layer (a layer's parameters of another activation are dropped)"
        },
    )
    layers = fields.List(
        fields.List(fields.Nested(LayerSchema)),
        validate=_non_empty(),
        metadata={"description": "Hidden layer lists, each replacing the job's `layers`"},
    )
    learning_rate = fields.List(
        Number(), validate=_non_empty(), metadata={"description": "training.learning_rate"}
    )
    optimizer = fields.List(
        fields.String(validate=validate.OneOf(list(nn.OPTIMIZERS))),
        validate=_non_empty(),
        metadata={
            "description": "training.optimizer (the job's settings of another optimizer are "
            "dropped)"
        },
    )

    @ma.validates_schema
    def _distinct_values(self, data, **kwargs):
        if not data:
            raise ma.ValidationError(
                f"Vary at least one of: {', '.join(self.fields)}.", field_name="_schema"
            )
        errors = {key: _distinct(key, values) for key, values in data.items()}
        errors = {key: e for key, e in errors.items() if e}
        if errors:
            raise ma.ValidationError(errors)


class SweepRequestSchema(ma.Schema):
    """A job and the values to try in it: one job per combination."""

    name = _name_field("The sweep's name, and its jobs' when the job names none")
    job = fields.Nested(
        JobRequestSchema,
        required=True,
        metadata={"description": "A job as POST /jobs takes it: what every combination shares"},
    )
    vary = fields.Nested(SweepVarySchema, required=True)


class SweepJobSchema(ma.Schema):
    id = fields.String()
    status = fields.String(validate=validate.OneOf(JOB_STATUSES))
    vary = fields.Dict(metadata={"description": "This job's values of the varied fields"})
    model_id = fields.String(allow_none=True)


class LeaderboardEntrySchema(ma.Schema):
    rank = fields.Integer(metadata={"description": "1 is best"})
    job_id = fields.String()
    model_id = fields.String()
    vary = fields.Dict()
    metric = fields.String(
        metadata={
            "description": "val_accuracy (higher is better) or val_loss for regression (lower "
            "is better); accuracy or loss when the jobs hold no validation split"
        }
    )
    value = fields.Float()
    metrics = fields.Dict(metadata={"description": "The model's final metrics"})


class SweepSchema(ma.Schema):
    """A sweep, where its jobs stand, and its succeeded jobs ranked."""

    id = fields.String()
    name = fields.String(allow_none=True)
    status = fields.String(
        validate=validate.OneOf(JOB_STATUSES),
        metadata={
            "description": "queued until a job starts, running until every job has ended; "
            "then succeeded if any job did, failed if all failed, cancelled if the sweep "
            "was cancelled (or no job succeeded and some were cancelled)"
        },
    )
    created_at = fields.String(metadata={"format": "date-time"})
    finished_at = fields.String(allow_none=True, metadata={"format": "date-time"})
    vary = fields.Dict()
    n_jobs = fields.Integer()
    counts = fields.Dict(
        keys=fields.String(), values=fields.Integer(), metadata={"description": "Jobs by status"}
    )
    jobs = fields.List(fields.Nested(SweepJobSchema))
    leaderboard = fields.List(
        fields.Nested(LeaderboardEntrySchema),
        metadata={"description": "One entry per succeeded job, best first"},
    )


SweepPageSchema = page_schema(SweepSchema, "Sweeps, on every page")


# -- predictions --------------------------------------------------------------------------

_INPUTS = {
    "description": "Rows of finite numbers, each with the model's number of features",
    "type": "array",
    "items": {"type": "array", "items": {"type": "number"}},
}


class InputsSchema(ma.Schema):
    inputs = JSONList(required=True, metadata=_INPUTS)


class PredictRequestSchema(InputsSchema):
    model_id = fields.String(
        required=True,
        validate=validate.Regexp(f"^{REF_PATTERN}$", error="Not a model id, name or name@version."),
        metadata={"description": "A model id, a name (latest version) or name@version"},
    )


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


# -- synthetic datasets -------------------------------------------------------------------


class ParamSchema(ma.Schema):
    """A parameter with its default and range: an activation's own, or a synthetic
    dataset's."""

    name = fields.String()
    type = fields.String(validate=validate.OneOf(["number", "integer", "boolean"]))
    default = fields.Raw(metadata={"description": "A number, or a boolean"})
    minimum = fields.Float(allow_none=True)
    maximum = fields.Float(allow_none=True)
    exclusive_minimum = fields.Boolean()
    exclusive_maximum = fields.Boolean()
    range = fields.String(metadata={"description": 'In words, e.g. "in [0, 1)"'})


class SyntheticDatasetSchema(ma.Schema):
    """A synthetic dataset a job can name in ``data.synthetic``."""

    name = fields.String()
    task = fields.String(metadata={"description": "classification (two classes) or regression"})
    description = fields.String()
    params = fields.List(fields.Nested(ParamSchema))


class SyntheticListSchema(ma.Schema):
    """Every synthetic dataset."""

    items = fields.List(fields.Nested(SyntheticDatasetSchema))


def _query_field(param: Param) -> fields.Field:
    # query values are strings, which marshmallow's Integer and Float parse; the ranges
    # are nn.synthetic' own, checked where the points are made
    metadata = {"description": _describe(param)}
    if param.kind is int:
        return fields.Integer(metadata=metadata)
    return fields.Float(allow_nan=False, metadata=metadata)


SyntheticQuerySchema = ma.Schema.from_dict(
    {name: _query_field(param) for name, param in nn.synthetic.PARAMS.items()},
    name="SyntheticQuery",
)


class SyntheticPointsSchema(ma.Schema):
    """The points of a synthetic dataset, exactly those a job with the same parameters
    trains on."""

    name = fields.String()
    task = fields.String()
    n_samples = fields.Integer()
    noise = fields.Float()
    seed = fields.Integer()
    X = fields.Raw(
        metadata={"type": "array", "items": {"type": "array", "items": {"type": "number"}}}
    )
    y = fields.Raw(metadata={"type": "array", "items": {"type": "number"}})


# -- activations --------------------------------------------------------------------------

#: Curves are for plotting: a bounded range keeps every sampled value finite.
CURVE_LIMIT = 1000.0
MAX_CURVE_POINTS = 2001


class OutputUseSchema(ma.Schema):
    loss = fields.String()
    use = fields.String(metadata={"description": "What kind of target it serves"})


class ActivationSchema(ma.Schema):
    """An activation: its formulas, range, parameters, uses and pitfalls."""

    name = fields.String()
    aliases = fields.List(fields.String(), metadata={"description": "Other accepted names"})
    formula = fields.String()
    derivative = fields.String(metadata={"description": "The derivative, as a formula"})
    output_range = fields.String()
    params = fields.List(fields.Nested(ParamSchema))
    usage = fields.List(
        fields.String(validate=validate.OneOf(["hidden", "output"])),
        metadata={"description": "hidden: a layer's activation; output: a job's output"},
    )
    init = fields.String(
        allow_none=True,
        metadata={"description": "The initializer training.init=auto picks for it"},
    )
    output = fields.Nested(
        OutputUseSchema,
        allow_none=True,
        metadata={"description": "Its loss and use as an output; null when hidden only"},
    )
    pitfalls = fields.String()
    dies = fields.Boolean(
        metadata={"description": "Has a dead region (history.diagnostics dead_fraction)"}
    )
    saturates = fields.Boolean(
        metadata={"description": "Saturates (history.diagnostics saturated_fraction)"}
    )
    curve_slice = fields.String(
        allow_none=True,
        metadata={
            "description": "For a vector activation, the 1-D slice its curve samples; null "
            "for element-wise ones"
        },
    )


class ActivationListSchema(ma.Schema):
    """Every activation, hidden and output."""

    items = fields.List(fields.Nested(ActivationSchema))


class CurveSchema(ma.Schema):
    x = fields.List(fields.Float())
    y = fields.List(fields.Float(), metadata={"description": "f(x)"})
    dy = fields.List(fields.Float(), metadata={"description": "f'(x)"})
    params = fields.Dict(metadata={"description": "The parameters the curve was drawn with"})


class ActivationDetailSchema(ActivationSchema):
    """An activation with its curve and derivative, sampled."""

    curve = fields.Nested(CurveSchema)


def _query_param_fields() -> dict[str, fields.Field]:
    # query values are strings: marshmallow's own Float and Integer parse them, and Float
    # refuses nan and inf
    out = {}
    for name, field in _owned_params(nn.ACTIVATIONS).items():
        kind = fields.Integer if isinstance(field, fields.Integer) else fields.Float
        out[name] = kind(metadata=field.metadata)
    return out


class CurveQuerySchema(ma.Schema.from_dict(_query_param_fields(), name="CurveParams")):
    """Where to sample the curve, and the activation's own parameters."""

    start = fields.Float(
        load_default=-5.0,
        validate=validate.Range(-CURVE_LIMIT, CURVE_LIMIT),
        metadata={"description": "First x; default -5"},
    )
    stop = fields.Float(
        load_default=5.0,
        validate=validate.Range(-CURVE_LIMIT, CURVE_LIMIT),
        metadata={"description": "Last x, above start; default 5"},
    )
    points = fields.Integer(
        load_default=101,
        validate=validate.Range(2, MAX_CURVE_POINTS),
        metadata={"description": f"Evenly spaced samples, 2 to {MAX_CURVE_POINTS}; default 101"},
    )

    @ma.validates_schema
    def _ordered(self, data, **kwargs):
        if "start" in data and "stop" in data and data["start"] >= data["stop"]:
            raise ma.ValidationError("Must be greater than start.", field_name="stop")


# -- health -------------------------------------------------------------------------------


class HealthSchema(ma.Schema):
    status = fields.String()


class ReadySchema(ma.Schema):
    status = fields.String()
    redis = fields.String()
    workers = fields.Integer(metadata={"description": "Workers listening on the queue"})
