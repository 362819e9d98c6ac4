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

Array = np.ndarray


@dataclass(frozen=True)
class Param:
    """A numeric parameter of an activation or optimizer, with its default and bounds."""

    default: float | int | bool
    low: float | None = None
    high: float | None = None
    kind: type = float
    low_open: bool = False
    high_open: bool = False

    def check(self, value, field: str):
        """Return ``value`` converted to this parameter's kind, or raise SpecError."""
        if self.kind is bool:
            if not isinstance(value, bool):
                raise SpecError(field, "must be true or false")
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SpecError(field, f"must be a{'n integer' if self.kind is int else ' number'}")
        if self.kind is int and not float(value).is_integer():
            raise SpecError(field, "must be an integer")
        if not math.isfinite(value):
            raise SpecError(field, "must be a finite number")
        below = self.low is not None and (value <= self.low if self.low_open else value < self.low)
        above = self.high is not None and (
            value >= self.high if self.high_open else value > self.high
        )
        if below or above:
            raise SpecError(field, f"must be {self.describe_range()}")
        return self.kind(value)

    def describe_range(self) -> str:
        lo = "(" if self.low_open else "["
        hi = ")" if self.high_open else "]"
        low = "-inf" if self.low is None else _num(self.low)
        high = "inf" if self.high is None else _num(self.high)
        if self.low is not None and self.high is None:
            return f"{'>' if self.low_open else '>='} {low}"
        if self.high is not None and self.low is None:
            return f"{'<' if self.high_open else '<='} {high}"
        return f"in {lo}{low}, {high}{hi}"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


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
    formula, derivative_formula, output_range, pitfalls : str
        Plain-language description (shown by the activation catalogue).
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
    """

    name: str
    forward: Callable[..., Array]
    backward: Callable[..., Array]
    init: str
    params: Mapping[str, Param] = field(default_factory=dict)
    formula: str = ""
    output_range: str = ""
    pitfalls: str = ""
    pieces_param: str | None = None
    derivative: Callable[..., Array] | None = None
    derivative_formula: str = ""
    dies: bool = False
    saturates: bool = False

    def width(self, units: int, params: Mapping) -> int:
        """Number of pre-activation columns a layer of ``units`` units needs."""
        return units * int(params[self.pieces_param]) if self.pieces_param else units


def elementwise(name, f, df, init, params=None, **doc) -> Activation:
    """Build an Activation from ``f(z, **p)`` and its derivative ``df(z, a, **p)``."""

    def backward(grad_a, z, a, **p):
        grad_a *= df(z, a, **p)
        return grad_a

    return Activation(
        name, f, backward, init, MappingProxyType(dict(params or {})), derivative=df, **doc
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


_GELU_C = math.sqrt(2.0 / math.pi)
_GELU_K = 0.044715
# beyond |z| = 10, tanh(...) is exactly +-1 even in float64; clipping keeps z**3 from overflowing
_GELU_CLIP = 10.0


def _gelu_inner(z):
    zc = np.clip(z, -_GELU_CLIP, _GELU_CLIP)
    return zc, np.tanh(z.dtype.type(_GELU_C) * (zc + z.dtype.type(_GELU_K) * zc * zc * zc))


def _gelu(z):
    _, t = _gelu_inner(z)
    return 0.5 * z * (1 + t)


def _d_gelu(z, a):
    zc, t = _gelu_inner(z)
    k = z.dtype.type
    return 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * k(_GELU_C) * (1 + k(3 * _GELU_K) * zc * zc)


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
    elementwise(
        "linear",
        _linear,
        _d_linear,
        "glorot",
        formula="f(x) = x",
        derivative_formula="f'(x) = 1",
        output_range="(-inf, inf)",
        pitfalls="Stacked linear layers collapse into one linear map: the network can only "
        "draw straight decision boundaries, however deep it is.",
    ),
    elementwise(
        "sigmoid",
        sigmoid,
        _d_sigmoid,
        "glorot",
        formula="f(x) = 1 / (1 + e^-x)",
        derivative_formula="f'(x) = f(x) * (1 - f(x))",
        saturates=True,
        output_range="(0, 1)",
        pitfalls="Saturates for large |x| (derivative at most 0.25, near 0 in the tails): "
        "gradients vanish in deep stacks; outputs are not zero-centred.",
    ),
    elementwise(
        "tanh",
        _tanh,
        _d_tanh,
        "glorot",
        formula="f(x) = (e^x - e^-x) / (e^x + e^-x)",
        derivative_formula="f'(x) = 1 - f(x)^2",
        saturates=True,
        output_range="(-1, 1)",
        pitfalls="Zero-centred and steeper than sigmoid, but it saturates too: gradients "
        "vanish for large |x|.",
    ),
    elementwise(
        "relu",
        _relu,
        _d_relu,
        "he",
        formula="f(x) = max(0, x)",
        derivative_formula="f'(x) = 1 if x > 0 else 0",
        dies=True,
        output_range="[0, inf)",
        pitfalls="Units whose input stays negative output 0 with gradient 0 and stop "
        "learning (dying ReLU), more so with a large learning rate.",
    ),
    elementwise(
        "leaky_relu",
        _leaky_relu,
        _d_leaky_relu,
        "he",
        params={"alpha": Param(0.01, 0.0, 1.0, high_open=True)},
        formula="f(x) = x if x > 0 else alpha * x",
        derivative_formula="f'(x) = 1 if x > 0 else alpha",
        output_range="(-inf, inf)",
        pitfalls="A small negative slope keeps dead units learning; alpha is one more "
        "setting to choose.",
    ),
    elementwise(
        "elu",
        _elu,
        _d_elu,
        "he",
        params={"alpha": Param(1.0, 0.0, None, low_open=True)},
        formula="f(x) = x if x > 0 else alpha * (e^x - 1)",
        derivative_formula="f'(x) = 1 if x > 0 else f(x) + alpha",
        saturates=True,
        output_range="(-alpha, inf)",
        pitfalls="Smooth and negative-saturating; costs an exponential per unit.",
    ),
    elementwise(
        "selu",
        _selu,
        _d_selu,
        "lecun",
        formula="f(x) = scale * (x if x > 0 else alpha * (e^x - 1)), "
        "alpha = 1.67326, scale = 1.05070",
        derivative_formula="f'(x) = scale if x > 0 else f(x) + scale * alpha",
        saturates=True,
        output_range="(-1.7581, inf)",
        pitfalls="Self-normalizes only with LeCun-normal weights and standardized inputs, "
        "and dropout breaks it.",
    ),
    elementwise(
        "gelu",
        _gelu,
        _d_gelu,
        "he",
        formula="f(x) = x * Phi(x), tanh approximation: "
        "0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))",
        derivative_formula="f'(x) = 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) "
        "(1 + 3 * 0.044715 x^2), t = tanh(sqrt(2/pi) (x + 0.044715 x^3))",
        output_range="(-0.17, inf)",
        pitfalls="Smooth ReLU-like curve; several transcendental operations per unit.",
    ),
    elementwise(
        "silu",
        _silu,
        _d_silu,
        "he",
        formula="f(x) = x * sigmoid(x)",
        derivative_formula="f'(x) = sigmoid(x) * (1 + x * (1 - sigmoid(x)))",
        output_range="(-0.28, inf)",
        pitfalls="Smooth and non-monotonic; costs an exponential per unit.",
    ),
    elementwise(
        "softplus",
        _softplus,
        _d_softplus,
        "he",
        formula="f(x) = log(1 + e^x)",
        derivative_formula="f'(x) = sigmoid(x) = 1 / (1 + e^-x)",
        saturates=True,
        output_range="(0, inf)",
        pitfalls="A smooth ReLU whose gradient never reaches 0 on the negative side, but "
        "it is not zero-centred and costs a log and an exp per unit.",
    ),
    Activation(
        "maxout",
        _maxout,
        _maxout_backward,
        "he",
        MappingProxyType({"pieces": Param(2, 2, 16, kind=int)}),
        formula="f(x) = max_k (w_k . x + b_k) over `pieces` linear pieces",
        derivative_formula="df/dz_k = 1 for the winning piece k, 0 for the others",
        output_range="(-inf, inf)",
        pitfalls="Learns its own piecewise-linear activation, never dies, but holds "
        "`pieces` times the weights of a plain layer.",
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
