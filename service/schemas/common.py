"""What every resource's schemas share: strict JSON fields, the error body, paging, and
health."""

from __future__ import annotations

import math
from typing import ClassVar

import marshmallow as ma
from apispec import BasePlugin
from marshmallow import ValidationError, fields, validate

from nn.params import Param
from registry.names import NAME_PATTERN, NAME_RULE, anchored

MAX_PAGE_SIZE = 100
#: the longest ``GET /jobs/<id>?wait=``: under the API's request timeout (30 s by default)
MAX_WAIT_SECONDS = 20
MAX_PAGE = 1_000_000
#: the widest integer any field takes: what a signed 64-bit integer holds
MAX_INT = 2**63 - 1
MIN_INT = -(2**63)


# -- strict JSON fields -------------------------------------------------------------------


class Number(fields.Float):
    """A finite JSON number."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class Int(fields.Integer):
    """A JSON integer (an integral float such as ``16.0`` is accepted as 16) within its
    bounds, which ``/openapi.json`` shows: ``validate``'s range (:func:`param_range`), or
    ``minimum`` and the setting ``limit`` names.

    Every integer field has bounds: JSON integers have no size, and one of hundreds of
    digits would overflow the first float conversion downstream. A bound set by a setting
    (``x-limit`` in the document, shown as configured by :func:`document_limits`) is
    checked by ``nn``, which names the setting; the field itself refuses only what no
    configuration admits (beyond 64 bits).
    """

    def __init__(self, *, limit: str = "", minimum: int = 1, **kwargs):
        if limit:
            error = f"must be between {minimum} and {limit}"
            kwargs["validate"] = validate.Range(MIN_INT, MAX_INT, error=error)
            kwargs["metadata"] = {
                "minimum": minimum,
                "x-limit": limit,
                **kwargs.get("metadata", {}),
            }
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.make_error("invalid")
        if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class QueryInt(fields.Integer):
    """An integer query parameter (a string marshmallow's Integer parses) within the
    bounds of ``param``, which ``/openapi.json`` shows."""

    def __init__(self, param: Param, **kwargs):
        super().__init__(validate=param_range(param), **kwargs)


def param_range(param: Param) -> validate.Range:
    """The bounds of an integer ``param``, refused in ``nn``'s words."""
    return validate.Range(
        MIN_INT if param.low is None else int(param.low),
        MAX_INT if param.high is None else int(param.high),
        min_inclusive=not param.low_open,
        max_inclusive=not param.high_open,
        error=f"must be {param.describe_range()}",
    )


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
    (``domain.inputs``).
    """

    default_error_messages: ClassVar[dict[str, str]] = {"invalid": "Must be an array."}

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, list):
            raise self.make_error("invalid")
        return value


def param_field(param: Param, description: str) -> fields.Field:
    metadata = {"description": description}
    if param.kind is int:
        return Int(validate=param_range(param), metadata=metadata)
    return {bool: Bool}.get(param.kind, Number)(metadata=metadata)


def describe_param(param: Param) -> str:
    if param.kind is bool:
        return f"default {str(param.default).lower()}"
    return f"default {param.default}, {param.describe_range()}"


def owned_params(registry) -> dict[str, fields.Field]:
    """One optional field per parameter name found in ``registry`` (activations or
    optimizers), documented with each owner's default and range."""
    owners: dict[str, list[tuple[str, Param]]] = {}
    for owner_name, owner in registry.items():
        for name, param in owner.params.items():
            owners.setdefault(name, []).append((owner_name, param))
    return {
        name: param_field(
            entries[0][1],
            "; ".join(f"{owner}: {describe_param(p)}" for owner, p in entries),
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


class FullMatch(validate.Regexp):
    """A pattern the whole value must match (marshmallow's Regexp uses ``re.match``, with
    which ``^...$`` takes a trailing newline); the document shows it anchored."""

    def __init__(self, pattern: str, error: str | None = None):
        super().__init__(anchored(pattern), error=error)

    def __call__(self, value: str) -> str:
        if self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


def name_field(description: str) -> fields.String:
    return fields.String(
        allow_none=True,
        validate=FullMatch(NAME_PATTERN, error=NAME_RULE),
        metadata={"description": description},
    )


def show_limits(node: dict, settings) -> None:
    """Write into ``node`` (a schema of the document) the bounds its settings set, as
    configured: ``x-limit`` names the setting of a ``maximum``, ``x-limits`` maps keywords
    (``maxItems``...) to settings."""
    if "x-limit" in node:
        node["maximum"] = settings[node["x-limit"]]
    for keyword, name in node.get("x-limits", {}).items():
        node[keyword] = settings[name]


def document_limits(spec, settings) -> None:
    """Show each bound a setting sets as configured in ``spec`` (:func:`show_limits`), on
    a property of a component schema or on its items."""
    for schema in spec.components.schemas.values():
        for prop in schema.get("properties", {}).values():
            for node in (prop, prop.get("items", {})):
                show_limits(node, settings)


class LimitsPlugin(BasePlugin):
    """Shows the bounds settings set on a query parameter as configured
    (:func:`show_limits`), as :func:`document_limits` does on the schemas' properties: put
    it after the plugin that turns query schemas into parameters."""

    def __init__(self, settings):
        self.settings = settings

    def operation_helper(self, path=None, operations=None, **kwargs):
        for operation in (operations or {}).values():
            for parameter in operation.get("parameters", ()):
                show_limits(parameter.get("schema", {}), self.settings)


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


class PageQuerySchema(ma.Schema):
    # query values are strings: marshmallow's Integer parses them (a body needs Int)
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))
    page_size = fields.Integer(load_default=20, validate=validate.Range(min=1, max=MAX_PAGE_SIZE))
    tenant = fields.String(
        validate=FullMatch(NAME_PATTERN, error=NAME_RULE),
        metadata={
            "description": "Admins: list this tenant's only (default: every tenant's); "
            "other roles list their own tenant's, and may name only it"
        },
    )


# -- health -------------------------------------------------------------------------------


class HealthSchema(ma.Schema):
    status = fields.String()


class ReadySchema(ma.Schema):
    status = fields.String()
    redis = fields.String()
    workers = fields.Integer(metadata={"description": "Workers listening on the queue"})
