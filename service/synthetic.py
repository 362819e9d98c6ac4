"""Synthetic datasets: what there is, and the points a job naming one trains on."""

from __future__ import annotations

import dataclasses
import inspect

from flask.views import MethodView

import nn

from .activations import param_info
from .context import services
from .errors import abort, refuse
from .parsing import Blueprint
from .schemas import SyntheticListSchema, SyntheticPointsSchema, SyntheticQuerySchema

blp = Blueprint(
    "synthetic",
    __name__,
    url_prefix="/synthetic",
    description="Synthetic two-dimensional datasets, as jobs name them in data.synthetic.",
)


def make(params: dict, prefix: tuple = (), location: str = "json") -> tuple:
    """``(X, y, params)`` for a synthetic dataset, every default filled in.

    The same refusals as a job's: ``nn.synthetic``' ranges (422) and the service's limit
    on the values in ``X`` (413), naming the field under ``prefix`` in ``location``.
    """
    params = {**{k: p.default for k, p in nn.synthetic.PARAMS.items()}, **params}
    try:
        X, y = nn.synthetic.make(**params)
    except nn.SpecError as e:
        refuse(e, prefix, location)
    max_values = services().settings["NNJOBS_MAX_VALUES"]
    if X.size > max_values:
        refuse(
            nn.LimitError(
                "n_samples",
                f"{X.size} values in X, over the limit of {max_values} (NNJOBS_MAX_VALUES)",
            ),
            prefix,
            location,
        )
    return X, y, params


def _params() -> list[dict]:
    """The parameters' ranges; n_samples stops where X would pass the values limit."""
    max_rows = services().settings["NNJOBS_MAX_VALUES"] // 2
    out = []
    for name, param in nn.synthetic.PARAMS.items():
        if name == "n_samples":
            param = dataclasses.replace(param, high=min(param.high, max_rows))
        out.append(param_info(name, param))
    return out


@blp.route("")
class Datasets(MethodView):
    @blp.response(200, SyntheticListSchema)
    def get(self):
        """The synthetic datasets and the ranges of their parameters."""
        params = _params()
        return {
            "items": [
                {
                    "name": name,
                    "task": task,
                    "description": inspect.getdoc(maker).split("\n")[0],
                    "params": params,
                }
                for name, (maker, task) in nn.synthetic.DATASETS.items()
            ]
        }


@blp.route("/<string:name>")
class Points(MethodView):
    @blp.arguments(SyntheticQuerySchema, location="query")
    @blp.response(200, SyntheticPointsSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(413, response="REQUEST_ENTITY_TOO_LARGE")
    def get(self, query, name):
        """The points of a dataset: those a job with the same parameters trains on."""
        if name not in nn.synthetic.DATASETS:
            abort(404, f"no dataset {name!r}; choose one of: {', '.join(nn.synthetic.DATASETS)}")
        X, y, params = make({"name": name, **query}, location="query")
        return {
            **params,
            "task": nn.synthetic.DATASETS[name][1],
            "X": X.tolist(),
            "y": y.tolist(),
        }
