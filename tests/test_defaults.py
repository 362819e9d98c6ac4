"""The defaults teach the seeds' lesson: given only data and an activation, a ReLU or tanh
network bends around the spiral and the circle, a straight line cannot. The full matrix
(every activation, set and five seeds) is bench/defaults.py."""

import pytest

import nn


def _val_accuracy(dataset: str, activation: str, seed: int) -> float:
    X, y = nn.synthetic.make(dataset, n_samples=400, seed=seed)
    model, _ = nn.fit({"activation": activation, "training": {"seed": seed}}, X, y)
    return model.metrics["val_accuracy"]


@pytest.mark.parametrize("seed", [0, 2])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("dataset", ["spiral", "circle"])
def test_a_bending_activation_learns_with_the_defaults(dataset, activation, seed):
    assert _val_accuracy(dataset, activation, seed) >= 0.95


@pytest.mark.parametrize("seed", [0, 2])
@pytest.mark.parametrize("dataset", ["spiral", "circle"])
def test_a_straight_line_does_not(dataset, seed):
    assert _val_accuracy(dataset, "linear", seed) <= 0.75
