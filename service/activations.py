"""The activation catalogue: what each activation computes, where it may be used, what can
go wrong with it, and its curve.

Which activations there are, their parameters and uses are read from ``nn``'s registries
(``nn.ACTIVATIONS``, ``nn.ALIASES``, ``nn.OUTPUTS``); the words come from
:mod:`service.catalogue` and the curves from :mod:`service.curves`, which samples the
functions networks train with.
"""

from __future__ import annotations

import numpy as np
from flask.views import MethodView

import nn
from domain.params import param_info

from . import curves
from .catalogue import OUTPUT_USES, PROSE
from .errors import abort, field_errors
from .parsing import Blueprint
from .schemas import ActivationDetailSchema, ActivationListSchema, CurveQuerySchema

blp = Blueprint(
    "activations",
    __name__,
    url_prefix="/activations",
    description="The activation catalogue: formulas, uses, pitfalls and sampled curves.",
)

CURVE_KEYS = ("start", "stop", "points")


def names() -> list[str]:
    """Every activation, hidden ones in registry order, then output-only ones."""
    return [*nn.ACTIVATIONS, *(name for name in nn.OUTPUTS if name not in nn.ACTIVATIONS)]


def describe(name: str) -> dict:
    """The catalogue entry of a registered activation (not an alias)."""
    hidden = nn.ACTIVATIONS.get(name)
    output = nn.OUTPUTS.get(name)
    prose = PROSE[name]
    return {
        "name": name,
        "aliases": sorted(alias for alias, target in nn.ALIASES.items() if target == name),
        "formula": prose.formula,
        "derivative": prose.derivative,
        "output_range": prose.output_range,
        "params": [param_info(k, p) for k, p in (hidden.params if hidden else {}).items()],
        "usage": [use for use, entry in (("hidden", hidden), ("output", output)) if entry],
        "init": hidden.init if hidden else None,
        "output": {"loss": output.loss_name, "use": OUTPUT_USES[name]} if output else None,
        "pitfalls": prose.pitfalls,
        "dies": bool(hidden and hidden.dies),
        "saturates": bool(hidden and hidden.saturates),
        "curve_slice": curves.SLICES.get(name),
    }


def _query_error(field: str, reason: str):
    abort(422, f"{field}: {reason}", field_errors((field,), reason, "query"))


def _curve_params(name: str, query: dict) -> dict:
    """The activation's own parameters from the query, checked, defaults filled in."""
    own = nn.ACTIVATIONS[name].params if name in nn.ACTIVATIONS else {}
    for key in query:
        if key not in CURVE_KEYS and key not in own:
            takes = ", ".join(own) or "no parameters"
            _query_error(key, f"not a parameter of {name}; {name} takes: {takes}")
    params = {}
    for key, param in own.items():
        try:
            params[key] = param.check(query.get(key, param.default), key)
        except nn.SpecError as e:
            _query_error(key, e.reason)
    return params


@blp.route("")
class Activations(MethodView):
    @blp.response(200, ActivationListSchema)
    def get(self):
        """List every activation: formulas, parameters, uses and pitfalls."""
        return {"items": [describe(name) for name in names()]}


@blp.route("/<string:name>")
class Activation(MethodView):
    @blp.arguments(CurveQuerySchema, location="query")
    @blp.response(200, ActivationDetailSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, query, name):
        """One activation (or alias) with its curve and derivative sampled on a range."""
        canonical = nn.ALIASES.get(name, name)
        if canonical not in names():
            abort(404, f"no activation {name!r}; choose one of: {', '.join(names())}")
        params = _curve_params(canonical, query)
        x = np.linspace(query["start"], query["stop"], query["points"])
        with np.errstate(all="ignore"):
            y, dy = curves.curve(canonical, x, params)
        entry = describe(canonical)
        entry["curve"] = {"x": x.tolist(), "y": y.tolist(), "dy": dy.tolist(), "params": params}
        return entry
