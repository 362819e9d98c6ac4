"""Worker scaling, the part of ``bench/jobs.py`` with jobs of about a second of training.

In each round, one side runs a nnjobs worker with one training process and the other with
two (``--concurrency``; each first in turn), and each side trains the same sweep of
``n`` jobs (``POST /sweeps``, the same network at ``n`` learning rates, every one the same
number of epochs, so that every job costs the same). From the jobs' records:

- jobs per second: ``n`` over the sweep's wall time, from its ``created_at`` to its
  ``finished_at`` (the last job's end); the round's scaling is the two processes' over
  the one's;
- the sweep's end against its ideal: the wall time over (the sum of the jobs'
  ``training_seconds`` / the processes);
- what says where the time goes when the machine is shared (those figures only mean
  something on an idle one): the worker's CPU seconds per job (its process group, from
  ``/proc``), the mean number of jobs running at once over the sweep (from the jobs'
  ``started_at`` and ``finished_at``), and the time a job spends in its worker outside
  training (``finished_at - started_at - training_seconds``: the parity certificate, the
  model's serialization and storing).
"""

from __future__ import annotations

import statistics
from datetime import datetime

import numpy as np
import requests
from servers import Processes, start_celery

GOAL_SCALING = 1.7
GOAL_SWEEP_RATIO = 1.3
SIDES = (1, 2)


def sweep_request(n_jobs: int, epochs: int) -> dict:
    """A sweep of ``n_jobs`` jobs of the same cost: spiral, 4,000 points, two hidden layers
    of 64, ``epochs`` epochs (no early stopping), fixed seeds; about a second each on an
    idle core at 120 epochs. Only the learning rate differs."""
    rates = np.geomspace(0.0005, 0.01, n_jobs)
    return {
        "name": "bench-scaling",
        "job": {
            "data": {"synthetic": {"name": "spiral", "n_samples": 4000, "noise": 0.1, "seed": 0}},
            "layers": [{"units": 64}, {"units": 64}],
            "training": {"epochs": epochs, "seed": 0, "early_stopping": False},
        },
        "vary": {"learning_rate": [round(float(r), 6) for r in rates]},
    }


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def mean_running(intervals: list[tuple[float, float]], start: float, end: float) -> float:
    """The mean number of intervals open at once over ``start``..``end``."""
    busy = sum(min(b, end) - max(a, start) for a, b in intervals if b > start and a < end)
    return busy / (end - start) if end > start else 0.0


def run_sweep(session: requests.Session, url: str, body: dict, follow) -> tuple[dict, list]:
    """Post the sweep and wait for its end, following each job with the long poll
    (``follow(session, url, job_id, timeout)``: the job once ended), so that the waiting
    costs the API a request or so a job; the sweep and its jobs as the API shows them."""
    sweep = session.post(f"{url}/sweeps", json=body, timeout=60)
    sweep.raise_for_status()
    sweep = sweep.json()
    jobs = [follow(session, url, j["id"], 600) for j in sweep["jobs"]]
    failed = [j["id"] for j in jobs if j["status"] != "succeeded"]
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(jobs)} jobs of the sweep did not succeed")
    return session.get(f"{url}/sweeps/{sweep['id']}", timeout=20).json(), jobs


def side(procs: Processes, url: str, worker_args: tuple, processes: int, args, client) -> dict:
    """Start a worker with ``processes`` training processes, warm it up, train the sweep,
    stop it; the side's figures. ``client``: ``(warm, follow)``, see :func:`rounds`."""
    warm, follow = client
    worker = start_celery(procs, *worker_args, processes)
    try:
        warm()  # its first job also proves the worker consumes
        body = sweep_request(args.sweep_jobs, args.epochs)
        with requests.Session() as session:
            cpu = procs.cpu_seconds(worker)
            sweep, jobs = run_sweep(session, url, body, follow)
            cpu = procs.cpu_seconds(worker) - cpu
    finally:
        procs.stop(worker)
    start, end = _seconds(sweep["created_at"]), _seconds(sweep["finished_at"])
    wall = end - start
    training = [j["training_seconds"] for j in jobs]
    spans = [(_seconds(j["started_at"]), _seconds(j["finished_at"])) for j in jobs]
    outside = [(b - a) - t for (a, b), t in zip(spans, training, strict=True)]
    n = len(jobs)
    return {
        "processes": processes,
        "jobs": n,
        "wall_s": round(wall, 3),
        "jobs_per_s": round(n / wall, 4),
        "training_s_sum": round(sum(training), 3),
        "training_s_median": round(statistics.median(training), 3),
        "sweep_ratio": round(wall / (sum(training) / processes), 3),
        "worker_cpu_s_per_job": round(cpu / n, 3),
        "mean_jobs_running": round(mean_running(spans, start, end), 3),
        "outside_training_ms_median": round(statistics.median(outside) * 1000, 1),
    }


def rounds(procs: Processes, url: str, worker_args: tuple, args, client) -> dict[int, list]:
    """``args.rounds`` paired rounds, one process then two, the order turned each round.

    ``worker_args``: :func:`servers.start_celery`'s after ``procs``, but the concurrency;
    ``client``: ``(warm, follow)``, a function that returns once a tiny job ran through
    the worker just started, and one that waits for a job's end."""
    runs: dict[int, list[dict]] = {p: [] for p in SIDES}
    for i in range(args.rounds):
        for processes in SIDES if i % 2 == 0 else SIDES[::-1]:
            runs[processes].append(side(procs, url, worker_args, processes, args, client))
    return runs


def _spread(values: list[float], digits: int = 3) -> dict:
    return {
        "value": round(statistics.median(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
        "rounds": [round(v, digits) for v in values],
    }


def records(runs: dict[int, list[dict]], blas_threads: dict[int, int | None]) -> list[dict]:
    """The figures of the rounds: each round's value listed, the median as ``value``."""
    common = {"bench": "jobs", "jobs": runs[1][0]["jobs"], "n_rounds": len(runs[1])}
    out = []
    for p in SIDES:
        side_runs, about = runs[p], {**common, "processes": p, "blas_threads": blas_threads[p]}
        figures = (
            ("jobs_per_s", None, "higher", 4),
            ("training_s_median", None, "lower", 3),
            ("worker_cpu_s_per_job", None, "lower", 3),
            ("mean_jobs_running", None, "higher", 3),
            ("outside_training_ms_median", None, "lower", 1),
            ("sweep_ratio", GOAL_SWEEP_RATIO, "lower", 3),
        )
        for key, goal, better, digits in figures:
            values = [r[key] for r in side_runs]
            name = f"scaling_{p}_process{'es' if p > 1 else ''}_{key}"
            out.append(
                {**about, "name": name, **_spread(values, digits), "goal": goal, "better": better}
            )
    ratios = [
        two["jobs_per_s"] / one["jobs_per_s"] for one, two in zip(runs[1], runs[2], strict=True)
    ]
    out.append(
        {
            **common,
            "name": "scaling_jobs_per_s_1_to_2_processes",
            **_spread(ratios),
            "goal": GOAL_SCALING,
            "better": "higher",
        }
    )
    return out
