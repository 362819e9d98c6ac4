"""Synthetic datasets: shapes, balance, determinism, noise and refusals."""

import numpy as np
import pytest

import nn
from nn.synthetic import DATASETS


@pytest.mark.parametrize("name", list(DATASETS))
def test_shapes_determinism_and_noise(name):
    X, y = nn.synthetic.make(name, n_samples=301, noise=0.0, seed=3)
    assert X.shape == (301, 2) and y.shape == (301,)
    assert np.isfinite(X).all() and np.abs(X).max() <= 1.5
    X2, y2 = nn.synthetic.make(name, n_samples=301, noise=0.0, seed=3)
    assert np.array_equal(X, X2) and np.array_equal(y, y2)
    Xn, _ = nn.synthetic.make(name, n_samples=301, noise=0.2, seed=3)
    jitter = np.std(Xn - X)
    assert 0.15 < jitter < 0.25
    if DATASETS[name][1] == "classification":
        assert set(np.unique(y)) == {0, 1}
        assert abs(np.sum(y == 1) - np.sum(y == 0)) <= 1 or name == "xor"


def test_clean_labels_follow_their_rule():
    X, y = nn.synthetic.make("circle", n_samples=500)
    r = np.hypot(X[:, 0], X[:, 1])
    assert np.all(r[y == 1] <= 0.5) and np.all(r[y == 0] >= 0.7)
    X, y = nn.synthetic.make("xor", n_samples=500)
    assert np.array_equal(y, (X[:, 0] * X[:, 1] >= 0).astype(int))
    X, y = nn.synthetic.make("plane", n_samples=50)
    np.testing.assert_allclose(y, X.sum(axis=1))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "swirl"}, "name"),
        ({"name": "spiral", "n_samples": 1}, "n_samples"),
        ({"name": "spiral", "noise": -0.1}, "noise"),
        ({"name": "spiral", "seed": -1}, "seed"),
    ],
)
def test_bad_arguments_are_refused(kwargs, field):
    with pytest.raises(nn.SpecError) as e:
        nn.synthetic.make(**kwargs)
    assert e.value.field == field
