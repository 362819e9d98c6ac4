"""A parameter of ``nn`` (an activation's, an optimizer's, a synthetic set's) as the API
describes it."""

from __future__ import annotations

from nn.params import Param


def param_info(name: str, param: Param) -> dict:
    """A parameter as the API describes it: its type, default and range."""
    kind = {bool: "boolean", int: "integer"}.get(param.kind, "number")
    return {
        "name": name,
        "type": kind,
        "default": param.default,
        "minimum": param.low,
        "maximum": param.high,
        "exclusive_minimum": param.low_open,
        "exclusive_maximum": param.high_open,
        "range": param.describe_range(),
    }
