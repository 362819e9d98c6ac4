"""Sampled curves of activations and their derivatives, for the activation catalogue.

Element-wise activations are sampled as they are: ``y = f(x)`` and ``dy = f'(x)``, with the
functions ``nn`` trains networks with. The two vector activations are sampled on a documented
one-dimensional slice (:data:`SLICES`), since they map a vector to a vector:

- softmax over the two logits ``(x, 0)``: ``y`` is the first probability
  ``e^x / (e^x + 1)`` (the sigmoid) and ``dy`` its derivative in ``x``, the diagonal
  entry ``p (1 - p)`` of softmax's Jacobian;
- maxout over ``pieces`` pre-activations ``(x, 0, ..., 0)``: ``y = max(x, 0)`` and ``dy``
  is 1 where ``x`` is the winning piece (ties go to the first piece, so ``dy(0) = 1``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from nn import ACTIVATIONS, OUTPUTS

Array = np.ndarray

SLICES: Mapping[str, str] = {
    "softmax": "softmax of the two logits (x, 0): y is the first probability, "
    "dy = p * (1 - p) its derivative in x (the diagonal of the Jacobian)",
    "maxout": "maxout of the pieces (x, 0, ..., 0): y = max(x, 0), dy = 1 where x wins "
    "(ties go to x)",
}


def curve(name: str, x: Array, params: Mapping | None = None) -> tuple[Array, Array]:
    """``(y, dy)`` of activation ``name`` (hidden or output) at the points ``x`` (1-D).

    ``params`` are the activation's own parameters, already checked. Vector activations
    are sampled on the slice :data:`SLICES` describes.
    """
    params = dict(params or {})
    x = np.asarray(x, dtype=np.float64)
    if name == "maxout":
        act = ACTIVATIONS[name]
        pieces = int(params["pieces"])
        z = np.zeros((len(x), pieces))
        z[:, 0] = x
        y = act.forward(z, **params)[:, 0]
        dz = act.backward(np.ones((len(x), 1)), z, y[:, None], **params)
        return y, dz[:, 0]
    if name in ACTIVATIONS:
        act = ACTIVATIONS[name]
        y = act.forward(x, **params)
        return y, act.derivative(x, y, **params).astype(np.float64)
    if name == "softmax":
        p = OUTPUTS[name].activation(np.stack([x, np.zeros_like(x)], axis=1))[:, 0]
        return p, p * (1 - p)
    raise KeyError(name)
