"""Synthetic sets: what there is, and the points a job naming one trains on."""

from __future__ import annotations

import dataclasses
import inspect

import nn

from .errors import Invalid, NotFound
from .inputs import synthetic
from .params import param_info


def catalogue(max_values: int) -> list[dict]:
    """The synthetic sets and the ranges of their parameters; n_samples stops where X
    would pass the values limit."""
    max_rows = max_values // 2
    params = []
    for name, param in nn.synthetic.PARAMS.items():
        if name == "n_samples":
            param = dataclasses.replace(param, high=min(param.high, max_rows))
        params.append(param_info(name, param))
    return [
        {
            "name": name,
            "task": task,
            "description": inspect.getdoc(maker).split("\n")[0],
            "params": params,
        }
        for name, (maker, task) in nn.synthetic.DATASETS.items()
    ]


def points(name: str, params: dict, max_values: int, location: str = "query") -> dict:
    """The points of a set: those a job with the same parameters trains on; a refusal
    names the parameter in ``location``, where the request holds them."""
    if name not in nn.synthetic.DATASETS:
        raise NotFound(f"no dataset {name!r}; choose one of: {', '.join(nn.synthetic.DATASETS)}")
    try:
        X, y, params = synthetic({"name": name, **params}, max_values)
    except nn.SpecError as e:
        raise Invalid(e, (), location) from None
    return {**params, "task": nn.synthetic.DATASETS[name][1], "X": X.tolist(), "y": y.tolist()}
