"""Activation functions and their derivatives, in one registry.

Each entry of :data:`ACTIVATIONS` is built from the functions themselves; adding an
activation is adding one entry. The API takes its list of allowed names from here.

Conventions: ``z`` is the pre-activation of a layer, shape ``(n_samples, width)``, and
``a = forward(z)`` has shape ``(n_samples, units)``; ``width == units`` for every
activation except ``maxout``, whose layer computes ``pieces`` linear pieces per unit.
``backward(grad_a, z, a)`` returns dL/dz and may overwrite ``grad_a``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from .errors import SpecError
from .params import Param

Array = np.ndarray


@dataclass(frozen=True)
class Activation:
    """One registered activation.

    Attributes
    ----------
    name : str
    forward : callable ``(z, **params) -> a``
    backward : callable ``(grad_a, z, a, **params) -> grad_z``
    init : str
        Name of the weight initializer that suits it (see :mod:`nn.initializers`).
    params : mapping of str to Param
        The activation's own parameters, which sit beside it in a layer spec.
    pieces_param : str or None
        Name of the parameter that multiplies the layer's width (maxout's ``pieces``).
    derivative : callable ``(z, a, **params) -> da/dz`` or None
        The elementwise derivative (None for maxout, which is not elementwise).
    dies : bool
        Its derivative is exactly 0 on a whole half-line, so a unit whose input stays
        there stops learning (ReLU). :mod:`nn.diagnostics` reports such dead units.
    saturates : bool
        Its derivative tends to 0 in a tail (sigmoid and tanh on both sides, softplus,
        ELU and SELU on the negative side); :mod:`nn.diagnostics` reports saturated units.
    gate : bool
        Its derivative is 1 where ``z > 0`` and 0 elsewhere, and ``a = z * (z > 0)``
        (ReLU): training computes the 0/1 gate once and uses it both ways, in place
        (:meth:`nn.network.Network.forward`), instead of calling ``forward`` and
        ``backward``.
    """

    name: str
    forward: Callable[..., Array]
    backward: Callable[..., Array]
    init: str
    params: Mapping[str, Param] = field(default_factory=dict)
    pieces_param: str | None = None
    derivative: Callable[..., Array] | None = None
    dies: bool = False
    saturates: bool = False
    gate: bool = False

    def width(self, units: int, params: Mapping) -> int:
        """Number of pre-activation columns a layer of ``units`` units needs."""
        return units * int(params[self.pieces_param]) if self.pieces_param else units


def elementwise(name, f, df, init, params=None, **traits) -> Activation:
    """Build an Activation from ``f(z, **p)`` and its derivative ``df(z, a, **p)``."""

    def backward(grad_a, z, a, **p):
        grad_a *= df(z, a, **p)
        return grad_a

    return Activation(
        name, f, backward, init, MappingProxyType(dict(params or {})), derivative=df, **traits
    )


# -- the functions ---------------------------------------------------------------------


def sigmoid(z: Array) -> Array:
    """Logistic function, computed without overflow for any finite or infinite z."""
    # exp(-|z|) is at most 1, so neither branch can overflow (1/(1+exp(-z)) would for z << 0)
    e = np.exp(-np.abs(z))
    d = e + 1
    return np.where(z >= 0, 1, e) / d


def _linear(z):
    return z


def _d_linear(z, a):
    return np.ones_like(z)


def _d_sigmoid(z, a):
    return a * (1 - a)


def _tanh(z):
    return np.tanh(z)


def _d_tanh(z, a):
    return 1 - a * a


def _relu(z):
    # z * (z > 0) is about twice as fast as np.maximum(z, 0) on float32 here
    return np.multiply(z, z > 0)


def _d_relu(z, a):
    return z > 0


def _leaky_relu(z, alpha):
    return np.where(z > 0, z, z * z.dtype.type(alpha))


def _d_leaky_relu(z, a, alpha):
    return np.where(z > 0, z.dtype.type(1), z.dtype.type(alpha))


def _elu(z, alpha):
    # expm1 of the clipped value: exp of a large positive z would overflow and is discarded anyway
    return np.where(z > 0, z, z.dtype.type(alpha) * np.expm1(np.minimum(z, 0)))


def _d_elu(z, a, alpha):
    return np.where(z > 0, z.dtype.type(1), a + z.dtype.type(alpha))


SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _selu(z):
    t = z.dtype.type
    return t(SELU_SCALE) * np.where(z > 0, z, t(SELU_ALPHA) * np.expm1(np.minimum(z, 0)))


def _d_selu(z, a):
    t = z.dtype.type
    return np.where(z > 0, t(SELU_SCALE), a + t(SELU_SCALE * SELU_ALPHA))


GELU_C = math.sqrt(2.0 / math.pi)
GELU_K = 0.044715
# beyond |z| = 10, tanh(...) is exactly +-1 even in float64; clipping keeps z**3 from overflowing
GELU_CLIP = 10.0


def _gelu_inner(z):
    zc = np.clip(z, -GELU_CLIP, GELU_CLIP)
    return zc, np.tanh(z.dtype.type(GELU_C) * (zc + z.dtype.type(GELU_K) * zc * zc * zc))


def _gelu(z):
    _, t = _gelu_inner(z)
    return 0.5 * z * (1 + t)


def _d_gelu(z, a):
    zc, t = _gelu_inner(z)
    k = z.dtype.type
    return 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * k(GELU_C) * (1 + k(3 * GELU_K) * zc * zc)


def _silu(z):
    return z * sigmoid(z)


def _d_silu(z, a):
    s = sigmoid(z)
    return s * (1 + z * (1 - s))


def _softplus(z):
    return np.logaddexp(z.dtype.type(0), z)


def _d_softplus(z, a):
    return sigmoid(z)


def _maxout(z, pieces):
    n, width = z.shape
    return z.reshape(n, width // pieces, pieces).max(axis=2)


def _maxout_backward(grad_a, z, a, pieces):
    # the gradient flows only to the winning piece of each unit
    n, width = z.shape
    z3 = z.reshape(n, width // pieces, pieces)
    winner = z3.argmax(axis=2)[..., None]
    grad_z = np.zeros_like(z3)
    np.put_along_axis(grad_z, winner, grad_a[..., None], axis=2)
    return grad_z.reshape(n, width)


# -- the registry ----------------------------------------------------------------------

_HIDDEN = [
    elementwise("linear", _linear, _d_linear, "glorot"),
    elementwise("sigmoid", sigmoid, _d_sigmoid, "glorot", saturates=True),
    elementwise("tanh", _tanh, _d_tanh, "glorot", saturates=True),
    elementwise("relu", _relu, _d_relu, "he", dies=True, gate=True),
    elementwise(
        "leaky_relu",
        _leaky_relu,
        _d_leaky_relu,
        "he",
        params={"alpha": Param(0.01, 0.0, 1.0, high_open=True)},
    ),
    elementwise(
        "elu",
        _elu,
        _d_elu,
        "he",
        params={"alpha": Param(1.0, 0.0, None, low_open=True)},
        saturates=True,
    ),
    elementwise("selu", _selu, _d_selu, "lecun", saturates=True),
    elementwise("gelu", _gelu, _d_gelu, "he"),
    elementwise("silu", _silu, _d_silu, "he"),
    elementwise("softplus", _softplus, _d_softplus, "he", saturates=True),
    Activation(
        "maxout",
        _maxout,
        _maxout_backward,
        "he",
        MappingProxyType({"pieces": Param(2, 2, 16, kind=int)}),
        pieces_param="pieces",
    ),
]

#: name -> Activation for hidden layers.
ACTIVATIONS: Mapping[str, Activation] = MappingProxyType({a.name: a for a in _HIDDEN})

#: Other names accepted for a registered activation.
ALIASES: Mapping[str, str] = MappingProxyType({"swish": "silu"})


def hidden_activation_names() -> list[str]:
    """Every name accepted for a hidden layer (registered names and aliases), sorted."""
    return sorted([*ACTIVATIONS, *ALIASES])


def get(name) -> Activation:
    """Look up a hidden activation by name or alias, or raise SpecError listing the choices."""
    if isinstance(name, str):
        name = ALIASES.get(name, name)
        if name in ACTIVATIONS:
            return ACTIVATIONS[name]
    hint = ""
    if name == "softmax":
        hint = "softmax is an output activation (it couples the units of a layer); "
    raise SpecError(
        "activation",
        f"{hint}unknown activation {name!r}; choose one of: {', '.join(hidden_activation_names())}",
    )
