"""Weight initializers, chosen by the activation that follows the weights.

He (normal, variance 2/fan_in) for the ReLU family, Glorot (uniform, variance
2/(fan_in + fan_out)) for tanh, sigmoid and linear, LeCun (normal, variance 1/fan_in) for
SELU. Weights are drawn in float64 from the given generator and then cast, so the same
seed gives the same network in float32 and float64.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

import numpy as np


def he(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    """He normal: N(0, 2 / fan_in), shape (fan_in, fan_out)."""
    return rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)


def glorot(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    """Glorot uniform: U(-l, l) with l = sqrt(6 / (fan_in + fan_out)), shape (fan_in, fan_out)."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, (fan_in, fan_out))


def lecun(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    """LeCun normal: N(0, 1 / fan_in), shape (fan_in, fan_out)."""
    return rng.standard_normal((fan_in, fan_out)) * np.sqrt(1.0 / fan_in)


INITIALIZERS: Mapping[str, Callable[..., np.ndarray]] = MappingProxyType(
    {"he": he, "glorot": glorot, "lecun": lecun}
)
