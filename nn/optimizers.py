"""Optimizers over one flat parameter vector.

``step(params, grads)`` updates ``params`` in place. An optimizer holds only its own
state (moments, step count); because the network keeps every weight and bias in one
contiguous vector, a step is a handful of NumPy calls whatever the depth of the network.
``step`` may overwrite ``grads``, which the network recomputes before the next step.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType

import numpy as np

from .errors import SpecError
from .params import Param

Array = np.ndarray


class Optimizer:
    """Base class: ``params`` declares the optimizer's own settings and their defaults."""

    name = ""
    params: Mapping[str, Param] = MappingProxyType({})

    def __init__(self, learning_rate: float, **settings):
        self.learning_rate = float(learning_rate)
        for key, param in self.params.items():
            setattr(self, key, settings.get(key, param.default))

    def step(self, params: Array, grads: Array) -> None:
        """Update ``params`` (shape (n,)) in place from ``grads`` (shape (n,))."""
        raise NotImplementedError


class SGD(Optimizer):
    """Plain gradient descent: ``p -= lr * g``."""

    name = "sgd"

    def step(self, params, grads):
        grads *= self.learning_rate
        params -= grads


class Momentum(Optimizer):
    """Heavy-ball momentum, or Nesterov's look-ahead form with ``nesterov=True``."""

    name = "momentum"
    params = MappingProxyType(
        {"momentum": Param(0.9, 0.0, 1.0, high_open=True), "nesterov": Param(False, kind=bool)}
    )

    def __init__(self, learning_rate, **settings):
        super().__init__(learning_rate, **settings)
        self.velocity = None

    def step(self, params, grads):
        if self.velocity is None:
            self.velocity = np.zeros_like(params)
        v, mu = self.velocity, params.dtype.type(self.momentum)
        grads *= self.learning_rate
        v *= mu
        v -= grads
        if self.nesterov:
            # p += mu * v_new - lr * g, written without a temporary
            params -= grads
            grads[...] = v
            grads *= mu
            params += grads
        else:
            params += v


class RMSprop(Optimizer):
    """Divides the step by a running root mean square of the gradient."""

    name = "rmsprop"
    params = MappingProxyType(
        {
            "rho": Param(0.9, 0.0, 1.0, high_open=True),
            "epsilon": Param(1e-7, 0.0, 1.0, low_open=True),
        }
    )

    def __init__(self, learning_rate, **settings):
        super().__init__(learning_rate, **settings)
        self.square = None

    def step(self, params, grads):
        if self.square is None:
            self.square = np.zeros_like(params)
            self._tmp = np.empty_like(params)
        s, tmp = self.square, self._tmp
        s *= self.rho
        np.multiply(grads, grads, out=tmp)
        tmp *= 1 - self.rho
        s += tmp
        np.sqrt(s, out=tmp)
        tmp += self.epsilon
        grads /= tmp
        grads *= self.learning_rate
        params -= grads


class Adam(Optimizer):
    """Adam (Kingma and Ba), with the bias correction folded into the step size."""

    name = "adam"
    params = MappingProxyType(
        {
            "beta_1": Param(0.9, 0.0, 1.0, high_open=True),
            "beta_2": Param(0.999, 0.0, 1.0, high_open=True),
            "epsilon": Param(1e-8, 0.0, 1.0, low_open=True),
        }
    )

    def __init__(self, learning_rate, **settings):
        super().__init__(learning_rate, **settings)
        self.m = self.v = None
        self.t = 0

    def step(self, params, grads):
        if self.m is None:
            self.m, self.v = np.zeros_like(params), np.zeros_like(params)
            self._tmp = np.empty_like(params)
        m, v, tmp = self.m, self.v, self._tmp
        self.t += 1
        b1, b2 = self.beta_1, self.beta_2
        # a Python float: multiplying float32 by a NumPy float64 scalar is several times slower
        lr = self.learning_rate * math.sqrt(1 - b2**self.t) / (1 - b1**self.t)
        m *= b1
        np.multiply(grads, 1 - b1, out=tmp)
        m += tmp
        v *= b2
        np.multiply(grads, grads, out=tmp)
        tmp *= 1 - b2
        v += tmp
        np.sqrt(v, out=tmp)
        tmp += self.epsilon
        np.divide(m, tmp, out=tmp)
        tmp *= lr
        params -= tmp


OPTIMIZERS: Mapping[str, type[Optimizer]] = MappingProxyType(
    {cls.name: cls for cls in (SGD, Momentum, RMSprop, Adam)}
)


#: the optimizer of a job that names none
DEFAULT_OPTIMIZER = Adam.name


def get_optimizer(name) -> type[Optimizer]:
    """Look up an optimizer class, or raise SpecError listing the choices."""
    if isinstance(name, str) and name in OPTIMIZERS:
        return OPTIMIZERS[name]
    raise SpecError(
        "training.optimizer", f"unknown optimizer {name!r}; choose one of: {', '.join(OPTIMIZERS)}"
    )
