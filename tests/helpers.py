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


def check_network_gradient(net: Network, X, Y, l2=0.0, dropout_seed=None, rtol=1e-5, atol=1e-7):
    """Compare backprop gradients of ``net`` with central differences (float64)."""

    def rng():
        return None if dropout_seed is None else np.random.default_rng(dropout_seed)

    def loss():
        loss_sum, _ = net.train_batch(X, Y, l2, rng())
        return loss_sum / len(X) + net.penalty(l2)

    loss()
    analytic = net.grads.copy()
    numeric = numeric_grad(loss, net.params)
    np.testing.assert_allclose(analytic, numeric, rtol=rtol, atol=atol)
