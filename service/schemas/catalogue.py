"""The catalogues: synthetic sets and activations, with their parameters."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

import nn
from nn.params import Param

from .common import QueryInt, describe_param, owned_params

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
    # are nn.synthetic's own, checked where the points are made (and for integers here
    # too: one of hundreds of digits would overflow on the way there)
    metadata = {"description": describe_param(param)}
    if param.kind is int:
        return QueryInt(param, metadata=metadata)
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
    for name, field in owned_params(nn.ACTIVATIONS).items():
        if isinstance(field, fields.Integer):
            out[name] = fields.Integer(validate=field.validators, metadata=field.metadata)
        else:
            out[name] = fields.Float(metadata=field.metadata)
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
