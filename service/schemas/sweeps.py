"""Sweep requests, and sweeps with their leaderboards."""

from __future__ import annotations

import json

import marshmallow as ma
from marshmallow import fields, validate

import nn
from registry import JOB_STATUSES

from .common import Number, name_field, page_schema
from .job_requests import JobRequestSchema, LayerSchema

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

    name = name_field("The sweep's name, and its jobs' when the job names none")
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
