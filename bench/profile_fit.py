"""Where the time of one ``nn.fit`` goes, piece by piece, on a config of train_speed.py.

    python bench/profile_fit.py [--configs b,c] [--threads N]

It replays fit's training loop (same data preparation, network, optimizer, batch order,
arrays kept between batches and BLAS threads) with a wall clock around each piece: the
per-epoch shuffle, the matrix products, the element-wise work of the forward and backward
passes (bias, activation, its derivative, bias gradients), the loss and its gradient, the
optimizer step and the per-batch accuracy bookkeeping. Whatever the clocks do not cover is
the Python loop itself. The diagnostics and the evaluation after training are left out;
``nn.fit``, printed beside, includes them. The replay uses nn's internals
(``nn.training.prepare``, the network's arrays), so it follows the library as it is today;
its total is printed beside a plain ``nn.fit`` of the same job so
that a drift between the two shows.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections import defaultdict

import numpy as np
from train_speed import CONFIGS, Config, config_names, nn_spec, standardize

import nn
from nn.model import build_network
from nn.optimizers import OPTIMIZERS
from nn.threads import blas_threads_at_most
from nn.training import _training_threads, prepare

try:
    from threadpoolctl import threadpool_limits
except ImportError:
    threadpool_limits = None

PIECES = [
    ("shuffle", "per-epoch permutation and gather"),
    ("matmul", "matrix products, forward and backward"),
    ("forward_elementwise", "bias add and activation"),
    ("loss", "loss and its gradient, scaled by 1/batch"),
    ("backward_elementwise", "activation derivative and bias gradients"),
    ("optimizer", "Adam step over the flat parameter vector"),
    ("metrics", "per-batch accuracy bookkeeping"),
]


def replay(cfg: Config, X: np.ndarray, y: np.ndarray, seed: int) -> tuple[dict, float]:
    p = prepare(nn_spec(cfg, cfg.epochs, seed), X, y)
    tr = p.spec["training"]
    net = build_network(p.spec, p.n_features, p.targets.n_outputs)
    net.initialize(p.init_rng)
    opt_cls = OPTIMIZERS[tr["optimizer"]]
    optimizer = opt_cls(tr["learning_rate"], **{k: tr[k] for k in opt_cls.params})
    loss_fn = net.output.loss
    multiclass = p.targets.kind == "multiclass"
    x_train, y_train = p.x_train, p.y_train
    n, bs = len(x_train), min(tr["batch_size"], len(x_train))
    x_buf, y_buf = np.empty_like(x_train), np.empty_like(y_train)
    layers = net.layers
    t = defaultdict(float)
    clock = time.perf_counter

    with blas_threads_at_most(_training_threads(net, bs)):
        start = clock()
        for _ in range(tr["epochs"]):
            t0 = clock()
            order = p.shuffle_rng.permutation(n)
            np.take(x_train, order, axis=0, out=x_buf)
            np.take(y_train, order, axis=0, out=y_buf)
            t["shuffle"] += clock() - t0
            for b in range(math.ceil(n / bs)):
                xb, yb = x_buf[b * bs : (b + 1) * bs], y_buf[b * bs : (b + 1) * bs]
                step(net, layers, xb, yb, loss_fn, multiclass, optimizer, t)
        total = clock() - start
    t["python loop (not covered above)"] = total - sum(t.values())
    return dict(t), total


def step(net, layers, xb, yb, loss_fn, multiclass, optimizer, t) -> None:
    """One training step as Network.train_batch and the training loop take it, clocked."""
    clock = time.perf_counter
    scratch, ones = net._scratch(len(xb))
    cache, a = [], xb
    for layer, W, bias, (z_buf, gate, _) in zip(layers, net.W, net.b, scratch, strict=False):
        t0 = clock()
        z = np.matmul(a, W, out=z_buf)
        t1 = clock()
        z += bias
        if gate is not None:
            np.greater(z, 0, out=gate)
            h = np.multiply(z, gate, out=z)
        else:
            h = layer.activation.forward(z, **layer.params)
        t2 = clock()
        t["matmul"] += t1 - t0
        t["forward_elementwise"] += t2 - t1
        cache.append((a, z, h))
        a = h
    t0 = clock()
    z = a @ net.W[-1]
    t1 = clock()
    z += net.b[-1]
    t2 = clock()
    loss_sum, delta = loss_fn(z, yb)
    delta *= net.dtype.type(1.0 / len(xb))
    t3 = clock()
    t["matmul"] += t1 - t0
    t["forward_elementwise"] += t2 - t1
    t["loss"] += t3 - t2

    for i in range(len(layers), -1, -1):
        a_prev = xb if i == 0 else cache[i - 1][2]
        t0 = clock()
        np.matmul(a_prev.T, delta, out=net.gW[i])
        t1 = clock()
        np.matmul(ones, delta, out=net.gb[i][None, :])
        t2 = clock()
        t["matmul"] += t1 - t0
        t["backward_elementwise"] += t2 - t1
        if i == 0:
            break
        _, gate, grad_buf = scratch[i - 1]
        t0 = clock()
        grad = np.matmul(delta, net.W[i].T, out=grad_buf)
        t1 = clock()
        if gate is not None:
            grad *= gate
            delta = grad
        else:
            layer = layers[i - 1]
            _, z_prev, h_prev = cache[i - 1]
            delta = layer.activation.backward(grad, z_prev, h_prev, **layer.params)
        t2 = clock()
        t["matmul"] += t1 - t0
        t["backward_elementwise"] += t2 - t1

    t0 = clock()
    if multiclass:
        np.count_nonzero(z.argmax(axis=1) == yb.argmax(axis=1))
    else:
        np.count_nonzero((z[:, 0] >= 0) == (yb[:, 0] > 0.5))
    t1 = clock()
    optimizer.step(net.params, net.grads)
    t2 = clock()
    t["metrics"] += t1 - t0
    t["optimizer"] += t2 - t1
    if not math.isfinite(loss_sum):
        raise RuntimeError("the replay diverged")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default="b,c", help="comma-separated (default: b,c)")
    parser.add_argument("--threads", type=int, default=None, help="BLAS threads")
    parser.add_argument("--seed", type=int, default=0, help="training seed (default: 0)")
    args = parser.parse_args(argv)
    if args.threads is not None and threadpool_limits is not None:
        threadpool_limits(limits=args.threads)

    names = config_names(parser, args.configs)
    labels = dict(PIECES)
    for name in names:
        cfg = CONFIGS[name]
        X_raw, y, X_test_raw, _ = cfg.make_data()
        X, _ = standardize(X_raw, X_test_raw)
        steps = math.ceil(len(X) / cfg.batch_size) * cfg.epochs
        warm = np.random.default_rng(0).choice(len(X), min(len(X), 4 * cfg.batch_size), False)
        nn.fit(nn_spec(cfg, 1, args.seed), X[warm], y[warm])

        start = time.perf_counter()
        nn.fit(nn_spec(cfg, cfg.epochs, args.seed), X, y)
        fit_seconds = time.perf_counter() - start
        pieces, total = replay(cfg, X, y, args.seed)

        print(
            f"config {cfg.name}: {cfg.title}, hidden {list(cfg.units)} {cfg.activation}, "
            f"batch {cfg.batch_size}, {cfg.epochs} epochs = {steps:,} steps"
        )
        print(
            f"  nn.fit {fit_seconds:.2f} s; replay {total:.2f} s "
            f"({total / steps * 1e6:.0f} us per step)"
        )
        for key, seconds in sorted(pieces.items(), key=lambda kv: -kv[1]):
            line = (
                f"  {key:<32} {seconds:7.3f} s  {seconds / total:6.1%}  "
                f"{seconds / steps * 1e6:7.1f} us/step  {labels.get(key, '')}"
            )
            print(line.rstrip())
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
