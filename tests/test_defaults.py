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


@pytest.mark.parametrize("seed", [0, 3])
def test_the_straight_line_it_learns_is_as_good_as_logistic_regression(seed):
    """Compared on unseen points, in the log loss both minimise. Only on the spiral, where
    a line has something to find: on circle and xor every line, an untrained one included,
    is within 0.02 of logistic regression's loss (bench/README.md, "Defaults")."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss

    X, y = nn.synthetic.make("spiral", n_samples=400, seed=seed)
    X_new, y_new = nn.synthetic.make("spiral", n_samples=20_000, seed=10_000 + seed)
    model, _ = nn.fit({"activation": "linear", "training": {"seed": seed}}, X, y)
    line = LogisticRegression(C=1e4).fit(X, y)
    network_loss = log_loss(y_new, model.predict(X_new)["probabilities"])
    assert network_loss <= log_loss(y_new, line.predict_proba(X_new)[:, 1]) + 0.02
