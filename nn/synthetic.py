"""Synthetic two-dimensional datasets in the manner of TensorFlow Playground.

Points lie roughly in the square [-1, 1] x [-1, 1]; ``noise`` is the standard deviation
of Gaussian jitter added to each coordinate in those units (0 gives clean data). Labels
are 0/1 for the classification sets; ``plane`` is a regression target.

>>> X, y = make("spiral", n_samples=400, noise=0.05, seed=0)
>>> X.shape, y.shape
((400, 2), (400,))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

import numpy as np

from .errors import SpecError
from .params import Param

Array = np.ndarray
Maker = Callable[[int, float, np.random.Generator], tuple[Array, Array]]


def _halves(n: int) -> tuple[int, int]:
    return n // 2, n - n // 2


def circle(n: int, noise: float, rng: np.random.Generator) -> tuple[Array, Array]:
    """Class 1 inside a disc of radius 0.5, class 0 on a ring from 0.7 to 1.0."""
    n_in, n_out = _halves(n)
    radius = np.concatenate([rng.uniform(0, 0.5, n_in), rng.uniform(0.7, 1.0, n_out)])
    angle = rng.uniform(0, 2 * np.pi, n)
    X = np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])
    y = np.concatenate([np.ones(n_in, int), np.zeros(n_out, int)])
    return X, y


def xor(n: int, noise: float, rng: np.random.Generator) -> tuple[Array, Array]:
    """Uniform points kept off the axes; class 1 where x and y share a sign."""
    X = rng.uniform(-1, 1, (n, 2))
    # push points 0.06 away from the axes so clean data has a margin, as the Playground does
    X += np.sign(X) * 0.06
    y = (X[:, 0] * X[:, 1] >= 0).astype(int)
    return X, y


def gaussian(n: int, noise: float, rng: np.random.Generator) -> tuple[Array, Array]:
    """Two Gaussian blobs centred at (0.4, 0.4) (class 1) and (-0.4, -0.4) (class 0)."""
    n_pos, n_neg = _halves(n)
    X = np.concatenate([rng.normal(0.4, 0.15, (n_pos, 2)), rng.normal(-0.4, 0.15, (n_neg, 2))])
    y = np.concatenate([np.ones(n_pos, int), np.zeros(n_neg, int)])
    return X, y


def spiral(n: int, noise: float, rng: np.random.Generator) -> tuple[Array, Array]:
    """Two interleaved arms turning 1.75 times around the origin, one per class."""
    parts = []
    for label, (count, offset) in enumerate(zip(_halves(n), (0.0, np.pi), strict=True)):
        t = np.arange(count) / count
        angle = 1.75 * 2 * np.pi * t + offset
        parts.append(
            (np.column_stack([t * np.sin(angle), t * np.cos(angle)]), np.full(count, label))
        )
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def moons(n: int, noise: float, rng: np.random.Generator) -> tuple[Array, Array]:
    """Two interleaving half circles (class 0 on top), scaled into [-1, 1]."""
    n_top, n_bottom = _halves(n)
    a, b = np.linspace(0, np.pi, n_top), np.linspace(0, np.pi, n_bottom)
    X = np.concatenate(
        [np.column_stack([np.cos(a), np.sin(a)]), np.column_stack([1 - np.cos(b), 0.5 - np.sin(b)])]
    )
    X = (X - [0.5, 0.25]) / 1.5
    y = np.concatenate([np.zeros(n_top, int), np.ones(n_bottom, int)])
    return X, y


def plane(n: int, noise: float, rng: np.random.Generator) -> tuple[Array, Array]:
    """Regression: uniform points, target ``x + y`` (noise is added to the target too)."""
    X = rng.uniform(-1, 1, (n, 2))
    return X, X.sum(axis=1)


#: name -> (maker, task)
DATASETS: Mapping[str, tuple[Maker, str]] = MappingProxyType(
    {
        "circle": (circle, "classification"),
        "xor": (xor, "classification"),
        "gaussian": (gaussian, "classification"),
        "spiral": (spiral, "classification"),
        "moons": (moons, "classification"),
        "plane": (plane, "regression"),
    }
)

PARAMS = {
    "n_samples": Param(400, 4, 1_000_000, kind=int),
    "noise": Param(0.0, 0.0, 1.0),
    "seed": Param(0, 0, 2**32 - 1, kind=int),
}


def make(name: str, n_samples: int = 400, noise: float = 0.0, seed: int = 0) -> tuple[Array, Array]:
    """Generate a dataset.

    Parameters
    ----------
    name : str
        One of :data:`DATASETS`.
    n_samples : int
        Number of points (split evenly between the two classes).
    noise : float
        Standard deviation of the Gaussian jitter added to each coordinate, in [0, 1].
    seed : int

    Returns
    -------
    X : ndarray, shape (n_samples, 2), float64
    y : ndarray, shape (n_samples,)
        int 0/1 labels, or float targets for ``plane``.
    """
    if name not in DATASETS:
        raise SpecError("name", f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    n = PARAMS["n_samples"].check(n_samples, "n_samples")
    noise = PARAMS["noise"].check(noise, "noise")
    rng = np.random.default_rng(PARAMS["seed"].check(seed, "seed"))
    maker, task = DATASETS[name]
    X, y = maker(n, noise, rng)
    # the jitter is drawn after the shape so that noise=0 and noise>0 share the clean points
    X = X + rng.normal(0, noise, X.shape) if noise else X
    if task == "regression" and noise:
        y = y + rng.normal(0, noise, y.shape)
    return X, y
