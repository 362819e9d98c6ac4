"""What a job asks of its weights, schedule and warm start, and the evaluation and the
feature importances a model is judged by."""

from __future__ import annotations

from typing import ClassVar

import marshmallow as ma
from marshmallow import fields, validate

from nn.schedules import SCHEDULES
from nn.spec import MAX_IMPORTANCE_REPEATS
from nn.weights import BALANCED
from registry.names import REF_PATTERN

from .common import FullMatch, Int, describe_param, param_field

# -- requests -------------------------------------------------------------------------------


class ClassWeight(fields.Raw):
    """``"balanced"``, or an object from class (as a JSON key: ``"1"``, ``"true"``,
    ``"cat"``) to a weight > 0."""

    default_error_messages: ClassVar[dict[str, str]] = {
        "invalid": 'Must be "balanced" or an object from class to a number > 0.'
    }

    def _deserialize(self, value, attr, data, **kwargs):
        if value == BALANCED:
            return value
        if not isinstance(value, dict):
            raise self.make_error("invalid")
        # one look at the types here; nn checks each weight's value and that each key
        # names a class, and bounds the number of keys (NNJOBS_MAX_CLASSES)
        if not set(map(type, value.values())) <= {int, float}:
            key = next(k for k, v in value.items() if type(v) not in (int, float))
            raise ma.ValidationError({key: ["Not a valid number."]})
        return value


_SCHEDULE_PARAMS = {name: p for params in SCHEDULES.values() for name, p in params.items()}


def _schedule_param(name: str) -> fields.Field:
    takes = [kind for kind, params in SCHEDULES.items() if name in params]
    defaults = "; ".join(f"{k} default {SCHEDULES[k][name].default}" for k in takes)
    param = SCHEDULES[takes[0]][name]
    return param_field(
        param, f"Of {', '.join(takes)}: {describe_param(param).split(';')[0]}; {defaults}"
    )


ScheduleSchema = ma.Schema.from_dict(
    {
        "type": fields.String(
            validate=validate.OneOf(list(SCHEDULES)), metadata={"description": "Default constant"}
        ),
        **{name: _schedule_param(name) for name in _SCHEDULE_PARAMS},
    },
    name="Schedule",
)


class Schedule(fields.Raw):
    """A schedule's name, or a Schedule object."""

    default_error_messages: ClassVar[dict[str, str]] = {
        "invalid": 'Must be a schedule name or an object {{"type": ..., ...}}.'
    }

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            if value not in SCHEDULES:
                raise ma.ValidationError(f"Must be one of: {', '.join(SCHEDULES)}.")
            return value
        if not isinstance(value, dict):
            raise self.make_error("invalid")
        return ScheduleSchema().load(value)


TRAINING_FIELDS = {
    "class_weight": ClassWeight(
        allow_none=True,
        metadata={
            "description": 'Classification, one label per row: "balanced" (each class '
            "weighted n / (k n_c)) or an object from class to weight (classes left out "
            "weigh 1; at most NNJOBS_MAX_CLASSES keys); multiplies the rows' data.weight. "
            "Default none",
            "oneOf": [
                {"type": "string", "enum": [BALANCED]},
                {"type": "object", "additionalProperties": {"type": "number", "minimum": 0}},
                {"type": "null"},
            ],
        },
    ),
    "schedule": Schedule(
        metadata={
            "description": "The learning rate per epoch: constant (the default), step, "
            "cosine or plateau, by name or as a Schedule object; each epoch's rate is in "
            "history.learning_rate",
            "oneOf": [
                {"type": "string", "enum": list(SCHEDULES)},
                {"$ref": "#/components/schemas/Schedule"},
            ],
        }
    ),
    "importance_repeats": Int(
        validate=validate.Range(0, MAX_IMPORTANCE_REPEATS),
        metadata={
            "description": "Shuffles per feature of the permutation importance, "
            f"0 to {MAX_IMPORTANCE_REPEATS}; 0: none; default 5"
        },
    ),
}


class InitSchema(ma.Schema):
    """A warm start: the model the job continues training from."""

    model = fields.String(
        required=True,
        validate=FullMatch(REF_PATTERN, error="Not a model id, name or name@version."),
        metadata={
            "description": "Its id, name (newest version) or name@version; the job must "
            "have its layers, output, features and classes"
        },
    )


class Weight(fields.Raw):
    """Row weights: numbers, one per row (with X and y), or a column (with a dataset)."""

    default_error_messages: ClassVar[dict[str, str]] = {
        "invalid": "Must be an array of numbers (with X and y) or a column name (with a dataset)."
    }

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, list) or (isinstance(value, str) and value):
            return value
        raise self.make_error("invalid")


WEIGHT_FIELD = Weight(
    metadata={
        "description": "Each row's weight in the loss and the metrics, numbers >= 0: an "
        "array with X and y, or the name of a numeric column with a dataset",
        "oneOf": [
            {"type": "array", "items": {"type": "number", "minimum": 0}},
            {"type": "string", "minLength": 1},
        ],
    }
)

# -- answers --------------------------------------------------------------------------------


class EvaluationSchema(ma.Schema):
    """The metrics a model is judged by, on its validation rows (its training rows without
    a validation split), weighted as in training."""

    rows = fields.String(metadata={"description": "validation or training"})
    n_rows = fields.Integer()
    classes = fields.Raw(metadata={"type": "array", "items": {}})
    accuracy = fields.Float(
        metadata={"description": "Multi-label: the share of rows with every label right"}
    )
    precision = fields.List(fields.Float(), metadata={"description": "Per class (or label)"})
    recall = fields.List(fields.Float(), metadata={"description": "Per class (or label)"})
    f1 = fields.List(fields.Float(), metadata={"description": "Per class (or label)"})
    support = fields.List(
        fields.Float(), metadata={"description": "Rows (or their weights) of each class"}
    )
    macro_f1 = fields.Float()
    weighted_f1 = fields.Float()
    confusion_matrix = fields.Raw(
        allow_none=True,
        metadata={
            "description": "Rows: true class, columns: predicted, in the order of classes "
            "(weighted counts); multi-label: [[tn, fp], [fn, tp]] per label; null over "
            "100 classes",
            "type": "array",
            "nullable": True,
        },
    )
    log_loss = fields.Float()
    roc_auc = fields.Raw(
        allow_none=True,
        metadata={
            "description": "Binary: a number; multi-label: one per label; null where a "
            "class is absent from the rows",
        },
    )
    mae = fields.Float(metadata={"description": "Regression, in the target's units"})
    rmse = fields.Float(metadata={"description": "Regression, in the target's units"})
    r2 = fields.Float(metadata={"description": "Regression"})


class ImportanceSchema(ma.Schema):
    """Permutation importance: the fall of the score when a feature's values are shuffled."""

    features = fields.List(fields.String(), metadata={"description": "Most important first"})
    mean = fields.List(fields.Float(), metadata={"description": "Mean fall over the repeats"})
    std = fields.List(fields.Float(), metadata={"description": "Its spread over the repeats"})
    baseline = fields.Float(metadata={"description": "The score unshuffled"})
    n_repeats = fields.Integer()
    scoring = fields.String(metadata={"description": "accuracy, or r2 for regression"})


def evaluation_field() -> fields.Field:
    return fields.Nested(
        EvaluationSchema,
        allow_none=True,
        metadata={
            "description": "The metrics it is judged by; null before it succeeds; left "
            "out of listings"
        },
    )


def importance_field() -> fields.Field:
    return fields.Nested(
        ImportanceSchema,
        allow_none=True,
        metadata={
            "description": "Permutation importance per raw feature; null when none; left "
            "out of listings"
        },
    )
