"""Do the defaults work? Every hidden activation on every set, with only data and activation.

Trains ``nn.fit({"activation": A, "training": {"seed": s}}, X, y)`` (the job a new user
writes) on the six synthetic sets (400 points, no noise, data seed = training seed) and on
scikit-learn's bundled iris, wine, breast cancer and digits (70/30 stratified split by
seed; nn holds out its own validation split of the 70%), for every hidden activation and
every seed, and reports the validation accuracy (synthetic sets; r2 on ``plane``) or the
held-out accuracy (bundled sets), the epochs run, the stop reason and the seconds.

References, measured in the same run:

- the best straight line on each synthetic set: scikit-learn's ``LogisticRegression``
  fitted on the same 400 points the network was given; the line and the ``linear``
  network are both scored on 20,000 fresh points of the same set (data seed 10,000 + s),
  as 80 validation points are too few to compare two lines on and a line scored on the
  points it was fitted to has an advantage; accuracy and log loss; goal: ``linear``
  within 0.1 of its accuracy on circle, xor and spiral;
- ``MLPClassifier()`` with every default, behind a ``StandardScaler`` (nn standardizes by
  default), on the same split of each bundled set (goal: nn's relu at or above it).

Goals: relu, tanh, elu, selu, gelu, silu, leaky_relu and maxout >= 0.95 on circle, xor,
gaussian, moons and spiral in every seed; a 400-point synthetic job under 3 s.

    python bench/defaults.py [--json] [--quick] [--seeds N] [--activations a,b]
                             [--datasets a,b] [--training JSON] [--table FILE]

``--quick`` runs 2 seeds of relu, tanh and linear on spiral, circle and iris.
``--training`` merges a JSON object into every job's ``training`` (to measure candidate
defaults without editing them). Exits 0 whether the goals are met or not.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings

import numpy as np

import nn

SYNTHETIC = ("circle", "xor", "gaussian", "moons", "spiral", "plane")
BUNDLED = ("iris", "wine", "breast_cancer", "digits")
GOAL_SETS = ("circle", "xor", "gaussian", "moons", "spiral")
GOAL_ACTIVATIONS = ("relu", "tanh", "elu", "selu", "gelu", "silu", "leaky_relu", "maxout")
LINE_SETS = ("circle", "xor", "spiral")
GOAL_ACCURACY, LINE_GAP, GOAL_SECONDS = 0.95, 0.1, 3.0
FRESH_POINTS, FRESH_SEED = 20_000, 10_000


def fresh(name: str, seed: int):
    """Unseen points of a synthetic set: what a line and the network are compared on."""
    return nn.synthetic.make(name, n_samples=FRESH_POINTS, seed=FRESH_SEED + seed)


def log_loss(y, p) -> float:
    p = np.clip(np.asarray(p, dtype=float), 1e-12, 1 - 1e-12)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def data(name: str, seed: int):
    """(X_train, y_train, X_test, y_test); the test half is None for synthetic sets."""
    if name in SYNTHETIC:
        X, y = nn.synthetic.make(name, n_samples=400, seed=seed)
        return X, y, None, None
    from sklearn import datasets
    from sklearn.model_selection import train_test_split

    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, stratify=y, random_state=seed)
    return Xtr, ytr, Xte, yte


def run(name: str, activation: str, seed: int, training: dict) -> dict:
    X, y, Xte, yte = data(name, seed)
    spec = {"activation": activation, "training": {"seed": seed, **training}}
    start = time.perf_counter()
    model, history = nn.fit(spec, X, y)
    seconds = time.perf_counter() - start
    if Xte is not None:
        score = float(np.mean(np.asarray(model.predict(Xte)["predictions"]) == yte))
    else:
        score = model.metrics.get("val_accuracy", model.metrics.get("val_r2"))
    row = {
        "bench": "defaults",
        "dataset": name,
        "activation": activation,
        "seed": seed,
        "score": round(float(score), 4),
        "epochs": history.epochs_run,
        "best_epoch": history.best_epoch,
        "stop_reason": history.stop_reason,
        "learning_rate": model.spec["training"]["learning_rate"],
        "seconds": round(seconds, 3),
    }
    if name in LINE_SETS:
        Xf, yf = fresh(name, seed)
        out = model.predict(Xf)
        row["fresh_score"] = round(float(np.mean(np.asarray(out["predictions"]) == yf)), 4)
        row["fresh_loss"] = round(log_loss(yf, out["probabilities"]), 4)
    return row


def reference(name: str, seed: int) -> dict | None:
    """Best straight line (synthetic classification) or MLPClassifier() (bundled):
    ``score``, and for the line ``fresh_score`` and ``fresh_loss`` on unseen points."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if name == "plane":
        return None
    if name in SYNTHETIC:
        X, y, _, _ = data(name, seed)
        line = LogisticRegression(C=1e4).fit(X, y)
        Xf, yf = fresh(name, seed)
        return {
            "score": float(line.score(X, y)),
            "fresh_score": float(line.score(Xf, yf)),
            "fresh_loss": log_loss(yf, line.predict_proba(Xf)[:, 1]),
        }
    Xtr, ytr, Xte, yte = data(name, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = make_pipeline(StandardScaler(), MLPClassifier(random_state=seed)).fit(Xtr, ytr)
    return {"score": float(mlp.score(Xte, yte))}


def _join(values) -> str:
    return " ".join(f"{v:.3f}" for v in values)


def verdicts(rows: list[dict], refs: dict) -> list[str]:
    out = []
    by = {}
    for r in rows:
        by.setdefault((r["dataset"], r["activation"]), []).append(r)
    for (name, activation), rs in sorted(by.items()):
        scores = [r["score"] for r in rs]
        ref = [refs.get((name, r["seed"])) or {} for r in rs]
        goal = ""
        if name in GOAL_SETS and activation in GOAL_ACTIVATIONS:
            goal = "PASS" if min(scores) >= GOAL_ACCURACY else "MISS"
        elif name in LINE_SETS and activation == "linear":
            gaps = [r["fresh_score"] - f["fresh_score"] for r, f in zip(rs, ref, strict=True)]
            loss = [r["fresh_loss"] - f["fresh_loss"] for r, f in zip(rs, ref, strict=True)]
            goal = (
                f"fresh points: line {_join(f['fresh_score'] for f in ref)},"
                f" linear {_join(r['fresh_score'] for r in rs)},"
                f" gap {min(gaps):+.3f}..{max(gaps):+.3f} "
                + ("PASS" if all(abs(g) <= LINE_GAP for g in gaps) else "MISS")
                + f"; log loss gap {min(loss):+.4f}..{max(loss):+.4f}"
            )
        elif name in BUNDLED and activation == "relu":
            # paired by split: the spread between splits is not the spread of the gap
            diff = np.array(scores) - [f["score"] for f in ref]
            se = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else float("nan")
            goal = (
                f"mean {np.mean(scores):.4f} vs {np.mean(scores) - diff.mean():.4f},"
                f" gap {diff.mean():+.4f} (se {se:.4f}) " + ("PASS" if diff.mean() >= 0 else "MISS")
            )
        ref_text = "" if not ref[0] else f" ref {_join(f['score'] for f in ref)}"
        out.append(
            f"| {name} | {activation} | {_join(scores)} |"
            f" {' '.join(str(r['epochs']) for r in rs)} |"
            f" {max(r['seconds'] for r in rs):.2f} |{ref_text} {goal} |"
        )
    return out


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="one JSON object per run")
    parser.add_argument("--quick", action="store_true", help="2 seeds, 3 activations, 3 sets")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--activations", default=None, help="comma-separated (default: all)")
    parser.add_argument("--datasets", default=None, help="comma-separated (default: all)")
    parser.add_argument("--training", default="{}", help="JSON merged into training")
    parser.add_argument("--table", default=None, help="print the table of a --json record")
    args = parser.parse_args(argv)
    args.training = json.loads(args.training)
    if args.quick:
        args.seeds = 2
        args.activations = args.activations or "relu,tanh,linear"
        args.datasets = args.datasets or "spiral,circle,iris"
    names = sorted(nn.ACTIVATIONS)
    args.activations = args.activations.split(",") if args.activations else names
    args.datasets = args.datasets.split(",") if args.datasets else [*SYNTHETIC, *BUNDLED]
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    rows, refs = [], {}
    if args.table:
        with open(args.table) as f:
            rows = [json.loads(line) for line in f if line.strip()]
    for name in dict.fromkeys(r["dataset"] for r in rows) if args.table else args.datasets:
        for seed in range(args.seeds):
            refs[(name, seed)] = reference(name, seed)
        for activation in [] if args.table else args.activations:
            for seed in range(args.seeds):
                row = run(name, activation, seed, args.training)
                row["reference"] = refs[(name, seed)]
                rows.append(row)
                if args.json:
                    print(json.dumps(row), flush=True)
    if not args.json:
        print("| set | activation | score per seed | epochs per seed | max s | goal |")
        print("| --- | --- | --- | --- | ---: | --- |")
        print("\n".join(verdicts(rows, refs)))
        slow = max((r["seconds"] for r in rows if r["dataset"] in SYNTHETIC), default=0)
        verdict = "PASS" if slow < GOAL_SECONDS else "MISS"
        print(
            f"\nslowest 400-point synthetic job: {slow:.2f} s (goal < {GOAL_SECONDS:g}) {verdict}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
