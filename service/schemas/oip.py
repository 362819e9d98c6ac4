"""The Open Inference Protocol's bodies (version 2, REST), as its specification writes them
(kserve/open-inference-protocol, ``specification/protocol/inference_rest.md`` and
``open_inference_rest.yaml``), with this service's bounds: what a model takes (``FP32``
or ``FP64`` tensors of one or two dimensions) and the limits of the settings table.

Tensor data are checked by :mod:`domain.oip` with NumPy, not element by element here.
"""

from __future__ import annotations

import math
from typing import ClassVar

import marshmallow as ma
from marshmallow import fields, validate

from .common import MAX_INT, MIN_INT, Int, JSONList

#: parameters in one ``parameters`` object, at most
MAX_PARAMETERS = 64
#: characters of a parameter's name or text value, of a request id or a tensor name
MAX_TEXT = 1000
#: output tensors a request can ask for: a model has at most two
MAX_OUTPUTS = 2

_PARAMETER_VALUE = {
    "anyOf": [
        {"type": "string", "maxLength": MAX_TEXT},
        {"type": "number", "minimum": MIN_INT, "maximum": MAX_INT},
        {"type": "boolean"},
    ]
}


class Parameters(fields.Raw):
    """The protocol's ``$parameters``: an object of string, number or boolean values."""

    default_error_messages: ClassVar[dict[str, str]] = {
        "invalid": "Must be an object of strings, numbers and booleans.",
        "size": f"Must have at most {MAX_PARAMETERS} parameters.",
        "text": f"Names and texts must have 1 to {MAX_TEXT} characters.",
        "number": f"Numbers must be finite, between {MIN_INT} and {MAX_INT}.",
    }

    def __init__(self, description: str = "Key/value pairs: strings, numbers or booleans"):
        metadata = {
            "type": "object",
            "maxProperties": MAX_PARAMETERS,
            "additionalProperties": _PARAMETER_VALUE,
            "description": description,
        }
        super().__init__(metadata=metadata)

    def _deserialize(self, value, attr, data, **kwargs):
        if type(value) is not dict:
            raise self.make_error("invalid")
        if len(value) > MAX_PARAMETERS:
            raise self.make_error("size")
        for key, item in value.items():
            if not 1 <= len(key) <= MAX_TEXT or (type(item) is str and len(item) > MAX_TEXT):
                raise self.make_error("text")
            if type(item) in (int, float):
                if not (math.isfinite(item) and MIN_INT <= item <= MAX_INT):
                    raise self.make_error("number")
            elif type(item) not in (str, bool):
                raise self.make_error("invalid")
        return value


def _text(description: str, **kwargs) -> fields.String:
    return fields.String(
        validate=validate.Length(1, MAX_TEXT), metadata={"description": description}, **kwargs
    )


def _shape(description: str, **kwargs) -> fields.List:
    return fields.List(
        Int(validate=validate.Range(-1, MAX_INT)), metadata={"description": description}, **kwargs
    )


_DATA = {
    "description": "The tensor's values in row-major order: flat, or nested by row for a "
    "tensor of two dimensions. Its count is the product of the shape's.",
    "type": "array",
    "items": {
        "anyOf": [{"type": "number"}, {"type": "array", "items": {"type": "number"}}],
    },
    # shown as configured by document_limits
    "x-limits": {"maxItems": "NNJOBS_MAX_VALUES"},
}


class RequestInputSchema(ma.Schema):
    """An input tensor."""

    name = _text(
        "Any name for the one tensor of every feature (input, as the metadata says); "
        "the feature's name for one tensor per feature",
        required=True,
    )
    shape = fields.List(
        Int(
            validate=validate.Range(0, MAX_INT),
            metadata={"x-limits": {"maximum": "NNJOBS_MAX_VALUES"}},
        ),
        required=True,
        validate=validate.Length(1, 2),
        metadata={
            "description": "[rows, features], [rows] for a model of one feature; a "
            "feature's own tensor is [rows] or [rows, 1]. The values of all tensors "
            "together are at most NNJOBS_MAX_VALUES."
        },
    )
    datatype = fields.String(required=True, validate=validate.OneOf(["FP32", "FP64"]))
    parameters = Parameters("Taken and ignored")
    data = JSONList(required=True, metadata=_DATA)


_TENSOR_FIELDS = frozenset({"name", "shape", "datatype", "data"})


def _plain_text(value) -> bool:
    return type(value) is str and 1 <= len(value) <= MAX_TEXT


def _plain_tensor(tensor) -> bool:
    if type(tensor) is not dict or tensor.keys() != _TENSOR_FIELDS:
        return False
    shape = tensor["shape"]
    return (
        _plain_text(tensor["name"])
        and type(shape) is list
        and 1 <= len(shape) <= 2
        and all(type(d) is int and 0 <= d <= MAX_INT for d in shape)
        and tensor["datatype"] in ("FP32", "FP64")
        and type(tensor["data"]) is list
    )


def is_plain(body) -> bool:
    """Whether :class:`InferenceRequestSchema` would load ``body`` unchanged and it holds
    nothing but ``inputs`` (and an ``id``): such a request needs no schema (marshmallow
    costs about a sixth of a one-row inference)."""
    return (
        type(body) is dict
        and body.keys() <= {"id", "inputs"}
        and ("id" not in body or _plain_text(body["id"]))
        and type(body.get("inputs")) is list
        and len(body["inputs"]) >= 1
        and all(map(_plain_tensor, body["inputs"]))
    )


class RequestOutputSchema(ma.Schema):
    """An output asked for."""

    name = fields.String(
        required=True,
        validate=validate.OneOf(["probabilities", "label", "values"]),
        metadata={
            "description": "probabilities and label for a classifier, values for a regression"
        },
    )
    parameters = Parameters()


class InferenceRequestSchema(ma.Schema):
    """An inference request."""

    id = _text("Given back in the answer")
    parameters = Parameters()
    inputs = fields.List(
        fields.Nested(RequestInputSchema),
        required=True,
        validate=validate.Length(min=1),
        metadata={
            "description": "One tensor of every feature, or one per feature",
            "x-limits": {"maxItems": "NNJOBS_MAX_DATASET_COLUMNS"},
        },
    )
    outputs = fields.List(
        fields.Nested(RequestOutputSchema),
        validate=validate.Length(max=MAX_OUTPUTS),
        metadata={"description": "The outputs to answer, in this order; all when left out"},
    )


class ResponseOutputSchema(ma.Schema):
    """An output tensor."""

    name = fields.String(required=True)
    shape = _shape("[rows] or [rows, columns]", required=True)
    datatype = fields.String(
        required=True, validate=validate.OneOf(["FP32", "FP64", "INT64", "BOOL", "BYTES"])
    )
    parameters = Parameters()
    data = fields.Raw(
        required=True,
        metadata={
            "type": "array",
            "description": "Row-major, flat",
            "items": {"anyOf": [{"type": "number"}, {"type": "string"}, {"type": "boolean"}]},
        },
    )


class InferenceResponseSchema(ma.Schema):
    """An inference answer."""

    model_name = fields.String(required=True)
    model_version = fields.String()
    id = fields.String()
    parameters = Parameters("The request's, passed on (but the binary data extension's)")
    outputs = fields.List(fields.Nested(ResponseOutputSchema), required=True)


class MetadataTensorSchema(ma.Schema):
    name = fields.String(required=True)
    datatype = fields.String(required=True)
    shape = _shape("-1 for the batch's rows", required=True)


class ModelMetadataSchema(ma.Schema):
    """A model's metadata."""

    name = fields.String(required=True)
    versions = fields.List(fields.String(), metadata={"description": "The version described"})
    platform = fields.String(required=True)
    inputs = fields.List(fields.Nested(MetadataTensorSchema))
    outputs = fields.List(fields.Nested(MetadataTensorSchema))


class ServerMetadataSchema(ma.Schema):
    """The server's metadata."""

    name = fields.String(required=True)
    version = fields.String(required=True)
    extensions = fields.List(fields.String(), required=True)


class ServerLiveSchema(ma.Schema):
    live = fields.Boolean(required=True)


class ServerReadySchema(ma.Schema):
    ready = fields.Boolean(required=True)


class ModelReadySchema(ma.Schema):
    name = fields.String(required=True)
    ready = fields.Boolean(required=True)


#: the protocol's error body, answered for every error on its routes
ERROR_SCHEMA = {
    "type": "object",
    "properties": {"error": {"type": "string", "description": "What went wrong"}},
    "required": ["error"],
}
