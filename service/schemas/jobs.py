"""Jobs as the API shows them, and the queries of the job routes (their requests are in
:mod:`.job_requests`)."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from nn.diagnostics import (
    DEAD_WARNING,
    EXPLODING_NORM,
    SATURATED_WARNING,
    VANISHING_RATIO,
    WARNING_CODES,
)
from nn.fixes import TRAINING_WARNING_CODES
from nn.stopping import STOP_REASONS
from registry import JOB_STATUSES

from .common import (
    MAX_INT,
    MAX_WAIT_SECONDS,
    PageQuerySchema,
    page_schema,
)
from .evaluation import (
    evaluation_field,
    importance_field,
)


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
    since = fields.Integer(
        validate=validate.Range(0, MAX_INT, error="must be between 0 and NNJOBS_MAX_EPOCHS"),
        metadata={
            # shown as configured by LimitsPlugin
            "x-limit": "NNJOBS_MAX_EPOCHS",
            "description": "Epochs the caller already has: each per-epoch series of history "
            "(loss, val_loss, metrics, learning_rate, the diagnostics' per layer) holds the "
            "epochs from since + 1 on (none past the last), and history.first_epoch says "
            "so; the rest of the job is whole. Epochs restart with each attempt: when "
            "attempts changes, ask again from 0",
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
