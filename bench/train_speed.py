"""Training throughput of ``nn.fit`` against scikit-learn's ``MLPClassifier``.

Both libraries train the same architecture with Adam on the same standardized rows, with
the same learning rate, batch size and number of epochs, and are scored on the same
held-out rows. Throughput is training rows x epochs / wall seconds of the fit call alone.

Each config runs ``--repeat`` paired rounds: in round k both libraries train on the
config's data variant k (rows drawn with another seed, the same rows for both), back to
back, nn first in even rounds and scikit-learn first in odd ones. Every round's ratio is
reported; the goal is on the lowest.

    python bench/train_speed.py [--json] [--configs a,b,c,d,e] [--repeat N] [--threads N]

The script always exits 0 when it completes: a missed goal is a measurement, reported as
MISS, not a failure.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import time
import warnings

import numpy as np
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

import nn

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # scikit-learn depends on it, but the script should not
    threadpool_limits = None

# the configs live in their own module; train_torch.py and diagnostics.py reach them
# through this one (ts.Config, ts.CONFIGS)
from train_configs import CONFIGS, Array, Config

ACCURACY_TOLERANCE = 0.01
SPREAD_WARNING = 1.5


def standardize(X_train: Array, X_test: Array) -> tuple[Array, Array]:
    # MLPClassifier does not scale its inputs and nn.fit does; handing both the same
    # standardized rows keeps the data identical (nn's own scaling is then a no-op)
    mean, std = X_train.mean(axis=0), X_train.std(axis=0)
    std[std == 0] = 1.0
    return (X_train - mean) / std, (X_test - mean) / std


def nn_spec(cfg: Config, epochs: int, seed: int, init: str = "glorot") -> dict:
    return {
        "layers": [{"units": u, "activation": cfg.activation} for u in cfg.units],
        "training": {
            "epochs": epochs,
            "batch_size": cfg.batch_size,
            "optimizer": "adam",
            "learning_rate": cfg.learning_rate,
            "l2": 0.0,
            "early_stopping": False,
            "validation_split": 0,
            "seed": seed,
            # MLPClassifier draws every layer Glorot-uniform; nn's default for ReLU layers
            # is He, which the README's "Initialization" section compares
            "init": init,
            # the permutation importance nn.fit computes after training by default (5
            # forward passes per feature over the rows) has no counterpart in
            # MLPClassifier.fit; the README gives its cost
            "importance_repeats": 0,
        },
    }


def sklearn_model(cfg: Config, epochs: int, seed: int) -> MLPClassifier:
    return MLPClassifier(
        hidden_layer_sizes=cfg.units,
        activation=cfg.activation,
        solver="adam",
        alpha=0.0,
        batch_size=cfg.batch_size,
        learning_rate_init=cfg.learning_rate,
        max_iter=epochs,
        shuffle=True,
        random_state=seed,
        # never stop early, so that it runs exactly max_iter epochs as nn does
        tol=0.0,
        n_iter_no_change=np.inf,
        early_stopping=False,
    )


def fit_nn(cfg: Config, X: Array, y: Array, epochs: int, seed: int):
    spec = nn_spec(cfg, epochs, seed)
    gc.collect()
    start = time.perf_counter()
    model, history = nn.fit(spec, X, y)
    seconds = time.perf_counter() - start
    if history.epochs_run != epochs:
        raise RuntimeError(f"nn ran {history.epochs_run} epochs instead of {epochs}")
    return model, seconds


def fit_sklearn(cfg: Config, X: Array, y: Array, epochs: int, seed: int):
    clf = sklearn_model(cfg, epochs, seed)
    gc.collect()
    with warnings.catch_warnings():
        # reaching max_iter is the point here, not a convergence problem
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        clf.fit(X, y)
        seconds = time.perf_counter() - start
    if clf.n_iter_ != epochs:
        raise RuntimeError(f"scikit-learn ran {clf.n_iter_} epochs instead of {epochs}")
    return clf, seconds


def accuracy(predicted, expected: Array) -> float:
    return float(np.mean(np.asarray(predicted) == expected))


def timed_pair(cfg: Config, variant: int, seed: int, nn_first: bool) -> dict:
    """One paired round on data variant ``variant``: both fits back to back, scored."""
    X_raw, y, X_test_raw, y_test = cfg.make_data(variant)
    X, X_test = standardize(X_raw, X_test_raw)
    out = {}
    for side in ("nn", "sklearn") if nn_first else ("sklearn", "nn"):
        if side == "nn":
            model, out["nn_seconds"] = fit_nn(cfg, X, y, cfg.epochs, seed)
            out["nn_accuracy"] = accuracy(model.predict(X_test)["predictions"], y_test)
        else:
            clf, out["sklearn_seconds"] = fit_sklearn(cfg, X, y, cfg.epochs, seed)
            out["sklearn_accuracy"] = accuracy(clf.predict(X_test), y_test)
    out["ratio"] = out["sklearn_seconds"] / out["nn_seconds"]
    out["samples"] = len(X) * cfg.epochs
    out["rows"], out["test_rows"], out["features"] = len(X), len(y_test), X.shape[1]
    return out


def accuracy_gap_met(gap: float, test_rows: int) -> bool:
    # compared in whole test rows, so that a gap of exactly 1% is not lost to rounding
    return round(gap * test_rows) <= ACCURACY_TOLERANCE * test_rows


def run_config(cfg: Config, repeat: int, seed: int) -> dict:
    # the first fit pays for allocator growth and BLAS thread start-up; its rows are drawn at
    # random because the spiral is ordered by class
    X, y, _, _ = cfg.make_data(0)
    warm = np.random.default_rng(0).choice(
        len(X), size=min(len(X), 4 * cfg.batch_size), replace=False
    )
    Xw = standardize(X[warm], X[warm])[0]
    fit_nn(cfg, Xw, y[warm], 1, seed)
    fit_sklearn(cfg, Xw, y[warm], 1, seed)

    # alternating which side goes first keeps a drift in machine load from favouring either
    pairs = [timed_pair(cfg, k, seed, nn_first=k % 2 == 0) for k in range(repeat)]
    ratios = [p["ratio"] for p in pairs]
    gaps = [abs(p["nn_accuracy"] - p["sklearn_accuracy"]) for p in pairs]
    worst = min(range(repeat), key=lambda k: ratios[k])
    test_rows = pairs[0]["test_rows"]
    ratio_met = min(ratios) >= cfg.goal_ratio
    accuracy_met = all(
        accuracy_gap_met(g, p["test_rows"]) for g, p in zip(gaps, pairs, strict=True)
    )
    samples = pairs[0]["samples"]
    return {
        "config": cfg.name,
        "name": "speed_vs_sklearn",
        "title": cfg.title,
        "rows": pairs[0]["rows"],
        "test_rows": test_rows,
        "features": pairs[0]["features"],
        "hidden": list(cfg.units),
        "activation": cfg.activation,
        "batch_size": cfg.batch_size,
        "epochs": cfg.epochs,
        "learning_rate": cfg.learning_rate,
        # the round with the lowest ratio: the one the goal is judged on
        "samples_per_s": samples / pairs[worst]["nn_seconds"],
        "sklearn_samples_per_s": samples / pairs[worst]["sklearn_seconds"],
        "ratio": min(ratios),
        "median_ratio": float(np.median(ratios)),
        "ratios": ratios,
        "accuracy": float(np.mean([p["nn_accuracy"] for p in pairs])),
        "sklearn_accuracy": float(np.mean([p["sklearn_accuracy"] for p in pairs])),
        "accuracies": [p["nn_accuracy"] for p in pairs],
        "sklearn_accuracies": [p["sklearn_accuracy"] for p in pairs],
        "max_accuracy_gap": max(gaps),
        "seconds": pairs[worst]["nn_seconds"],
        "sklearn_seconds": pairs[worst]["sklearn_seconds"],
        "all_seconds": [p["nn_seconds"] for p in pairs],
        "all_sklearn_seconds": [p["sklearn_seconds"] for p in pairs],
        "goal_ratio": cfg.goal_ratio,
        "goal_accuracy_gap": ACCURACY_TOLERANCE,
        "ratio_met": ratio_met,
        "accuracy_met": accuracy_met,
        "met": ratio_met and accuracy_met,
        # the benchmarks' common recording keys: the quantity a goal is about
        "bench": "train",
        "vs": "sklearn",
        "value": min(ratios),
        "goal": cfg.goal_ratio,
        "better": "higher",
    }


def accuracy_record(row: dict) -> dict:
    """The accuracy goal of a config as a record of its own."""
    return {
        "bench": "train",
        "config": row["config"],
        "name": "accuracy_gap_vs_sklearn",
        # accuracies are whole test rows over test rows: rounding drops the float noise that
        # made a gap of exactly one point read as 0.010000000000000009
        "value": round(row["max_accuracy_gap"], 6),
        "goal": ACCURACY_TOLERANCE,
        "better": "lower",
        "accuracies": row["accuracies"],
        "sklearn_accuracies": row["sklearn_accuracies"],
        "met": row["accuracy_met"],
    }


def seconds_list(times: list[float]) -> str:
    return ", ".join(f"{t:.2f}" for t in times) + " s"


def verdict(row: dict) -> str:
    missed = [k for k in ("ratio", "accuracy") if not row[f"{k}_met"]]
    return "PASS" if not missed else f"MISS ({', '.join(missed)})"


COLUMNS = [
    ("config", "<", lambda r: r["config"]),
    ("rows", ">", lambda r: f"{r['rows']:,}"),
    ("epochs", ">", lambda r: str(r["epochs"])),
    ("nn samples/s", ">", lambda r: f"{r['samples_per_s']:,.0f}"),
    ("sklearn samples/s", ">", lambda r: f"{r['sklearn_samples_per_s']:,.0f}"),
    ("lowest ratio", ">", lambda r: f"{r['ratio']:.2f}x"),
    ("every round", "<", lambda r: ", ".join(f"{x:.2f}" for x in r["ratios"])),
    ("nn acc", ">", lambda r: f"{r['accuracy']:.4f}"),
    ("sklearn acc", ">", lambda r: f"{r['sklearn_accuracy']:.4f}"),
    ("max gap", ">", lambda r: f"{r['max_accuracy_gap']:.4f}"),
    ("goal", "<", lambda r: f"ratio >= {r['goal_ratio']:g}, acc within {r['goal_accuracy_gap']:g}"),
    ("result", "<", verdict),
]


def print_table(rows: list[dict]) -> None:
    cells = [[fmt(r) for _, _, fmt in COLUMNS] for r in rows]
    widths = [max(len(name), *(len(c[i]) for c in cells)) for i, (name, _, _) in enumerate(COLUMNS)]

    def line(values):
        return "  ".join(
            f"{v:{align}{w}}" for v, (_, align, _), w in zip(values, COLUMNS, widths, strict=True)
        ).rstrip()

    print(line([name for name, _, _ in COLUMNS]))
    print(line(["-" * w for w in widths]))
    for c in cells:
        print(line(c))


def load_average() -> str:
    """The 1-minute load average now, as the figures should be read against."""
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "unknown"


def environment(threads: int | None) -> str:
    return (
        f"Python {platform.python_version()}, numpy {np.__version__}, "
        f"scikit-learn {sklearn.__version__}, {os.cpu_count()} cores, "
        f"BLAS threads: {threads if threads else 'default'}"
    )


def config_names(parser: argparse.ArgumentParser, text: str) -> list[str]:
    """The configs a comma-separated ``--configs`` names; a usage error for unknown ones."""
    names = [c.strip() for c in text.split(",") if c.strip()]
    unknown = [c for c in names if c not in CONFIGS]
    if not names or unknown:
        parser.error(
            f"unknown config(s) {', '.join(unknown) or '(none given)'}; "
            f"choose from {', '.join(CONFIGS)}"
        )
    return names


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Training throughput of nn.fit against scikit-learn's MLPClassifier."
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object per config and nothing else"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a run under a minute: configs c and e, two rounds",
    )
    parser.add_argument(
        "--configs",
        default=None,
        help=f"comma-separated configs to run (default: {','.join(CONFIGS)})",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=5,
        help="paired rounds per config, each on its own data variant (default: 5)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="BLAS threads for both libraries (default: leave as is)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="training seed for both libraries (default: 0); the rounds' data variants "
        "do not depend on it",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.repeat = 2
    default = "c,e" if args.quick else ",".join(CONFIGS)
    names = config_names(parser, args.configs or default)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.threads is not None and args.threads < 1:
        parser.error("--threads must be at least 1")
    args.configs = names
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads is not None:
        # nn.set_blas_threads reaches the first OpenBLAS it finds, which may be SciPy's
        # copy rather than NumPy's once scikit-learn is imported; threadpoolctl sets them all
        nn.set_blas_threads(args.threads)
        if threadpool_limits is not None:
            threadpool_limits(limits=args.threads)

    if not args.json:
        print(environment(args.threads))
        print(
            f"{args.repeat} paired round(s) per config, each on its own data variant; "
            f"training seed {args.seed}; load average {load_average()}"
        )
        print()
    rows = []
    for name in args.configs:
        row = run_config(CONFIGS[name], args.repeat, args.seed)
        row["threads"] = args.threads
        row["repeat"] = args.repeat
        row["seed"] = args.seed
        row["load_average"] = load_average()
        rows.append(row)
        if args.json:
            print(json.dumps(row), flush=True)
            print(json.dumps(accuracy_record(row)), flush=True)
        else:
            print(
                f"  {name}: {row['title']}, hidden {row['hidden']} {row['activation']}, "
                f"batch {row['batch_size']}, lr {row['learning_rate']:g}: "
                f"nn {seconds_list(row['all_seconds'])}, "
                f"scikit-learn {seconds_list(row['all_sklearn_seconds'])}; "
                f"load average {row['load_average']}",
                flush=True,
            )

    if not args.json:
        print()
        print_table(rows)
        missed = [r["config"] for r in rows if not r["met"]]
        print()
        print("all goals met" if not missed else f"MISS: goal not met for {', '.join(missed)}")
        spread = max(max(r["ratios"]) / min(r["ratios"]) for r in rows)
        if spread > SPREAD_WARNING:
            print(
                f"note: one config's rounds differed in ratio by up to {spread:.1f}x; the "
                "machine may have been busy"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
