"""Cost of the per-layer training diagnostics (``training.diagnostics``).

Times ``nn.fit`` on the configs of ``train_speed.py`` with diagnostics on (the default) and
off, alternating the two so that a change in machine load favours neither, and reports the
overhead: best time on / best time off - 1. Goal: below 0.10.

Times are the process's CPU seconds, with one BLAS thread by default: on a shared machine
wall-clock times of the same fit varied threefold, and CPU time of a single-threaded fit
does not count the time other processes hold the cores. ``--wall`` uses wall-clock time.

Even so, fits with the same settings vary by more than the overhead itself on a busy
machine, so a second figure is measured within each fit with diagnostics on: the share of
its time spent inside the recorder (``Recorder.gradients`` and ``Recorder.end_epoch``,
timed by wrapping them), which does not depend on comparing two fits.

    python bench/diagnostics.py [--json] [--quick] [--configs a,b,c] [--repeat N]
                                [--threads N] [--wall]

``--quick`` runs configs a and c with fewer epochs. The script exits 0 when it completes:
a missed goal is a measurement, reported as MISS, not a failure.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_speed as ts

import nn

GOAL = 0.10


CLOCK = time.process_time


class RecorderClock:
    """Wall seconds spent inside the recorder's methods while it is installed."""

    METHODS = ("gradients", "end_epoch")

    def __init__(self):
        self.seconds = 0.0
        self.saved = {}

    def __enter__(self):
        for name in self.METHODS:
            original = getattr(nn.diagnostics.Recorder, name)
            self.saved[name] = original
            setattr(nn.diagnostics.Recorder, name, self._timed(original))
        return self

    def __exit__(self, *exc):
        for name, original in self.saved.items():
            setattr(nn.diagnostics.Recorder, name, original)

    def _timed(self, method):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start

        return timed


def recorder_share(cfg: ts.Config, X, y, seed: int) -> float:
    """Share of a fit's wall time spent inside the recorder."""
    spec = ts.nn_spec(cfg, cfg.epochs, seed)
    gc.collect()
    with RecorderClock() as clock:
        start = time.perf_counter()
        nn.fit(spec, X, y)
        total = time.perf_counter() - start
    return clock.seconds / total


def time_fit(cfg: ts.Config, X, y, diagnostics: bool, seed: int) -> float:
    spec = ts.nn_spec(cfg, cfg.epochs, seed)
    spec["training"]["diagnostics"] = diagnostics
    gc.collect()
    start = CLOCK()
    _, history = nn.fit(spec, X, y)
    seconds = CLOCK() - start
    if (history.diagnostics is not None) != diagnostics:
        raise RuntimeError("training.diagnostics was not honoured")
    return seconds


def run_config(cfg: ts.Config, repeat: int, seed: int) -> dict:
    X, y, _, _ = cfg.make_data()
    # a one-epoch warm-up of each, so that neither side pays for first-call costs
    warm = replace(cfg, epochs=1)
    time_fit(warm, X[:2000], y[:2000], True, seed)
    time_fit(warm, X[:2000], y[:2000], False, seed)
    on, off = [], []
    for _ in range(repeat):
        off.append(time_fit(cfg, X, y, False, seed))
        on.append(time_fit(cfg, X, y, True, seed))
    shares = [recorder_share(cfg, X, y, seed) for _ in range(repeat)]
    overhead = min(on) / min(off) - 1
    share = min(shares)
    settings = {
        "hidden": list(cfg.units),
        "activation": cfg.activation,
        "batch_size": cfg.batch_size,
        "epochs": cfg.epochs,
        "rows": len(X),
    }
    common = {"bench": "diagnostics", "config": cfg.name, "goal": GOAL, "better": "lower"}
    return [
        {
            **common,
            "name": "overhead",
            "value": round(overhead, 4),
            "met": overhead < GOAL,
            "seconds_on": [round(s, 4) for s in on],
            "seconds_off": [round(s, 4) for s in off],
            **settings,
        },
        {
            **common,
            "name": "recorder_share",
            "value": round(share, 4),
            "met": share < GOAL,
            "all_shares": [round(s, 4) for s in shares],
            **settings,
        },
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Overhead of nn's training diagnostics.")
    parser.add_argument("--json", action="store_true", help="one JSON object per line only")
    parser.add_argument("--quick", action="store_true", help="configs a and c, fewer epochs")
    parser.add_argument("--configs", default="a,b,c", help="default: a,b,c")
    parser.add_argument("--repeat", type=int, default=3, help="timed fits of each (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    parser.add_argument("--wall", action="store_true", help="wall-clock instead of CPU time")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    global CLOCK
    CLOCK = time.perf_counter if args.wall else time.process_time
    nn.set_blas_threads(args.threads)
    names = ["a", "c"] if args.quick else ts.config_names(parser, args.configs)
    for name in names:
        cfg = ts.CONFIGS[name]
        if args.quick:
            cfg = replace(cfg, epochs=max(2, cfg.epochs // 4))
        overhead, share = run_config(cfg, args.repeat, args.seed)
        overhead.update(threads=args.threads, clock="wall" if args.wall else "cpu")
        share.update(threads=args.threads, clock="wall")
        if args.json:
            print(json.dumps(overhead), flush=True)
            print(json.dumps(share), flush=True)
        else:
            print(
                f"{name}: hidden {cfg.units} {cfg.activation}, batch {cfg.batch_size}, "
                f"{cfg.epochs} epochs: off {min(overhead['seconds_off']):.3f} s, on "
                f"{min(overhead['seconds_on']):.3f} s, overhead {100 * overhead['value']:.1f}% "
                f"{'PASS' if overhead['met'] else 'MISS'}; time inside the recorder "
                f"{100 * share['value']:.1f}% {'PASS' if share['met'] else 'MISS'} "
                f"(goal < {100 * GOAL:.0f}%)",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
