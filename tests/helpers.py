"""Shared helpers for the nn tests."""

from __future__ import annotations

import numpy as np

from nn.network import Network


def numeric_grad(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central-difference gradient of scalar ``f()`` with respect to ``x`` (changed in place)."""
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        up = f()
        flat[i] = old - eps
        down = f()
        flat[i] = old
        gflat[i] = (up - down) / (2 * eps)
    return grad


def check_network_gradient(
    net: Network, X, Y, l2=0.0, dropout_seed=None, rtol=1e-5, atol=1e-7, weights=None
):
    """Compare backprop gradients of ``net`` with central differences (float64); with
    ``weights`` (one per row), of the weighted loss."""

    def rng():
        return None if dropout_seed is None else np.random.default_rng(dropout_seed)

    def loss():
        loss_sum, _ = net.train_batch(X, Y, l2, rng(), weights)
        return loss_sum / len(X) + net.penalty(l2)

    loss()
    analytic = net.grads.copy()
    numeric = numeric_grad(loss, net.params)
    np.testing.assert_allclose(analytic, numeric, rtol=rtol, atol=atol)


def targets_for(output: str, rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """Random targets (n, k) of an output: one-hot rows (softmax), 0/1 (sigmoid) or values."""
    if output == "softmax":
        return np.eye(k)[rng.integers(0, k, n)]
    if output == "sigmoid":
        return rng.integers(0, 2, (n, k)).astype(float)
    return rng.normal(size=(n, k))
