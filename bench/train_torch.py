"""nn.fit against PyTorch on the CPU, achieved GFLOP/s, and peak memory of a training run.

The companion of ``train_speed.py`` (same configs, data and nn settings):

- **vs PyTorch**: a plain float32 PyTorch MLP, the same architecture, Adam, learning rate,
  batch size and epochs, mini-batches sliced from a tensor shuffled once per epoch (no
  DataLoader), ``torch.set_num_threads`` at the run's thread count. Goals: >= 2x on b,
  >= 4x on c; a is reported without a goal.
- **GFLOP/s on b**: 6 x parameters x samples per epoch x epochs / seconds of nn.fit, as a
  fraction of the float32 matrix-product ceiling (the best of several 2048^3 products)
  measured right after it. Goal: >= 0.5.

``--repeat N`` runs N paired rounds per config, round k on data variant k, nn first in
even rounds and PyTorch first in odd ones; each figure's ``value`` is its lowest round.
- **Peak memory on b**: the peak of NumPy's traced allocations during nn.fit (tracemalloc),
  over the size of the float32 training data plus the parameters. Goal: < 3.

``--json`` prints one object per measurement with ``bench``, ``config``, ``name``,
``value``, ``goal`` and ``better``. PyTorch is a benchmark-only dependency
(``pip install -e '.[bench]'``, which ``make bench`` does).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_speed as ts

import nn

TORCH_GOALS = {"b": 2.0, "c": 4.0}
GFLOPS_GOAL = 0.5
MEMORY_GOAL = 3.0


def fit_torch(cfg: ts.Config, X: np.ndarray, y: np.ndarray, seed: int, threads: int):
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    classes = np.unique(y)
    binary = len(classes) == 2
    layers, fan_in = [], X.shape[1]
    act = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh}[cfg.activation]
    for units in cfg.units:
        layers += [torch.nn.Linear(fan_in, units), act()]
        fan_in = units
    # one logit with BCE for two classes, as nn's sigmoid output; softmax CE otherwise
    layers.append(torch.nn.Linear(fan_in, 1 if binary else len(classes)))
    model = torch.nn.Sequential(*layers)
    loss_fn = torch.nn.BCEWithLogitsLoss() if binary else torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)
    xt = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
    labels = np.searchsorted(classes, y)
    yt = torch.from_numpy(labels.astype(np.float32)[:, None] if binary else labels)
    generator = torch.Generator().manual_seed(seed)
    n, batch = len(X), cfg.batch_size
    gc.collect()
    start = time.perf_counter()
    for _ in range(cfg.epochs):
        order = torch.randperm(n, generator=generator)
        xs, ys = xt[order], yt[order]
        for i in range(0, n, batch):
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(xs[i : i + batch]), ys[i : i + batch])
            loss.backward()
            optimizer.step()
    seconds = time.perf_counter() - start
    return model, binary, classes, seconds


def torch_accuracy(model, binary, classes, X_test, y_test) -> float:
    import torch

    with torch.no_grad():
        out = model(torch.from_numpy(np.ascontiguousarray(X_test, dtype=np.float32))).numpy()
    idx = (out[:, 0] >= 0).astype(int) if binary else out.argmax(axis=1)
    return float(np.mean(classes[idx] == y_test))


def matmul_ceiling(size: int = 2048, tries: int = 5) -> float:
    """Best float32 GFLOP/s of a size^3 matrix product on this machine, now."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    a @ b  # thread start-up
    best = min(_timed(lambda: a @ b) for _ in range(tries))
    return 2 * size**3 / best / 1e9


def _timed(f) -> float:
    start = time.perf_counter()
    f()
    return time.perf_counter() - start


def peak_memory(cfg: ts.Config, X: np.ndarray, y: np.ndarray, seed: int) -> tuple[int, int]:
    """(peak traced bytes during nn.fit, float32 training data + parameter bytes)."""
    spec = ts.nn_spec(cfg, 1, seed)  # one epoch: the peak does not grow with epochs
    gc.collect()
    tracemalloc.start()
    model, _ = nn.fit(spec, X, y)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak, X.shape[0] * X.shape[1] * 4 + model.network.params.nbytes


def measure(name: str, repeat: int, seed: int, threads: int, with_torch: bool) -> list[dict]:
    """Paired rounds on a config: round k trains nn and PyTorch on data variant k back to
    back (nn first in even rounds), and on b measures the matmul ceiling beside them."""
    cfg = ts.CONFIGS[name]
    X0, y0, _, _ = cfg.make_data(0)
    warm = np.random.default_rng(0).choice(len(X0), size=min(len(X0), 4 * cfg.batch_size))
    Xw = ts.standardize(X0[warm], X0[warm])[0]
    ts.fit_nn(cfg, Xw, y0[warm], 1, seed)
    if with_torch:
        fit_torch(cfg, Xw, y0[warm], seed, threads)
    rounds = []
    for k in range(repeat):
        X_raw, y, X_test_raw, y_test = cfg.make_data(k)
        X, X_test = ts.standardize(X_raw, X_test_raw)
        r = {"samples": len(X) * cfg.epochs}
        sides = ["nn", "torch"] if with_torch else ["nn"]
        for side in sides if k % 2 == 0 else sides[::-1]:
            if side == "nn":
                model, r["nn_seconds"] = ts.fit_nn(cfg, X, y, cfg.epochs, seed)
                r["accuracy"] = ts.accuracy(model.predict(X_test)["predictions"], y_test)
                r["params"] = model.network.n_params
            else:
                *fitted, r["torch_seconds"] = fit_torch(cfg, X, y, seed, threads)
                r["torch_accuracy"] = torch_accuracy(*fitted, X_test, y_test)
        if name == "b":
            r["ceiling"] = matmul_ceiling()
        rounds.append(r)

    rows = []
    nn_seconds = [r["nn_seconds"] for r in rounds]
    if with_torch:
        ratios = [r["torch_seconds"] / r["nn_seconds"] for r in rounds]
        worst = int(np.argmin(ratios))
        rows.append(
            {
                "bench": "train",
                "config": name,
                "vs": "torch",
                "name": "speed_vs_torch",
                "value": min(ratios),
                "goal": TORCH_GOALS.get(name),
                "better": "higher",
                "ratios": ratios,
                "median_ratio": float(np.median(ratios)),
                "samples_per_s": rounds[worst]["samples"] / nn_seconds[worst],
                "torch_samples_per_s": rounds[worst]["samples"] / rounds[worst]["torch_seconds"],
                "all_seconds": nn_seconds,
                "all_torch_seconds": [r["torch_seconds"] for r in rounds],
                "accuracies": [r["accuracy"] for r in rounds],
                "torch_accuracies": [r["torch_accuracy"] for r in rounds],
                "threads": threads,
            }
        )

    if name == "b":
        achieved = [6 * r["params"] * r["samples"] / r["nn_seconds"] / 1e9 for r in rounds]
        fractions = [a / r["ceiling"] for a, r in zip(achieved, rounds, strict=True)]
        rows.append(
            {
                "bench": "train",
                "config": name,
                "name": "gflops_fraction",
                "value": min(fractions),
                "goal": GFLOPS_GOAL,
                "better": "higher",
                "fractions": fractions,
                "gflops": achieved,
                "matmul_ceiling_gflops": [r["ceiling"] for r in rounds],
                "threads": threads,
            }
        )
        peak, base = peak_memory(cfg, X0, y0, seed)
        rows.append(
            {
                "bench": "train",
                "config": name,
                "name": "peak_memory_ratio",
                "value": peak / base,
                "goal": MEMORY_GOAL,
                "better": "lower",
                "peak_mb": peak / 2**20,
                "data_and_params_mb": base / 2**20,
            }
        )
    return rows


def met(row: dict) -> str:
    if row["goal"] is None:
        return "-"
    ok = row["value"] >= row["goal"] if row["better"] == "higher" else row["value"] < row["goal"]
    return "PASS" if ok else "MISS"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="one JSON object per measurement")
    parser.add_argument("--configs", default="a,b,c")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="paired rounds per config, each on its own data variant; the lowest counts",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--quick", action="store_true", help="c only, one repeat")
    args = parser.parse_args(argv)
    names = ["c"] if args.quick else ts.config_names(parser, args.configs)
    if args.quick:
        args.repeat = 1
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    try:
        import torch  # noqa: F401

        with_torch = True
    except ImportError:
        with_torch = False
        print(
            "PyTorch is not installed (pip install -e '.[bench]'): no torch figures",
            file=sys.stderr,
        )
    nn.set_blas_threads(args.threads)
    for name in names:
        for row in measure(name, args.repeat, args.seed, args.threads, with_torch):
            row["load_average"] = ts.load_average()
            if args.json:
                print(json.dumps(row), flush=True)
            else:
                goal = (
                    ""
                    if row["goal"] is None
                    else f" (goal {'>=' if row['better'] == 'higher' else '<'} {row['goal']})"
                )
                extra = {
                    k: round(v, 4) if isinstance(v, float) else v
                    for k, v in row.items()
                    if k not in ("bench", "config", "name", "value", "goal", "better", "vs")
                }
                print(
                    f"{name} {row['name']}: {row['value']:.3f}{goal} {met(row)}  {extra}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
