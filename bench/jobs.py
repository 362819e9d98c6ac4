"""Job queue speed: the time a job spends outside training, and jobs per second.

Everything runs here, on free loopback ports: a throwaway ``redis-server``, the API under
gunicorn (``gunicorn.conf.py``) and nnjobs Celery workers (prefork), plus the reference: a
bare Celery app whose task does nothing (``bench/bare_celery.py``), on the same Redis.

- Bare round trip: ``send_task`` of the no-op task and ``result.get()``, one at a time.
- Queue overhead: a tiny job (spiral, 1 epoch) at a time: ``POST /jobs``, then
  ``GET /jobs/<id>?wait=`` until it ends; from the job record, ``finished_at - created_at``
  minus ``training_seconds`` (the time inside ``nn.fit``). Goals: median at most 5x the
  bare round trip's median, p99 under 50 ms.
- Throughput: 200 of those jobs posted at once (8 client threads), with one worker process
  and then two; jobs per second from the first ``created_at`` to the last ``finished_at``,
  and the ratio of the two. With jobs this small it measures the queue, not the workers.
- Scaling (``bench/job_scaling.py``): a sweep of 16 jobs of about a second of training
  each, in paired rounds of a worker with one training process and one with two. Goals:
  two processes at least 1.7x the jobs per second of one, and the sweep ending within
  1.3x of the sum of its jobs' training times over the processes.

Run ``python bench/jobs.py`` (``--quick``: fewer jobs and one round; ``--json``: one
JSON object per line).
"""

from __future__ import annotations

import os
import platform
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import numpy as np
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import bare_celery  # noqa: E402
import job_scaling  # noqa: E402
from servers import Processes, arguments, measure, start_celery, start_gunicorn, start_redis  # noqa: E402

from nn.threads import threads_per_process  # noqa: E402

GOAL_OVERHEAD_RATIO = 5.0
GOAL_P99_MS = 50.0
QUEUE = "nnjobs-bench"
TINY_JOB = {
    "name": "bench-jobs",
    "data": {"synthetic": {"name": "spiral", "n_samples": 200, "seed": 0}},
    "layers": [{"units": 8}],
    "training": {"epochs": 1, "validation_split": 0},
}
ENDED = ("succeeded", "failed", "cancelled")


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _percentiles(values: list[float]) -> dict:
    a = np.asarray(values) * 1000
    return {
        "median_ms": round(float(np.median(a)), 3),
        "p99_ms": round(float(np.percentile(a, 99)), 3),
        "min_ms": round(float(a.min()), 3),
        "max_ms": round(float(a.max()), 3),
        "n": int(a.size),
    }


def bare_round_trips(redis_url: str, n: int) -> list[float]:
    app = bare_celery.make_app(redis_url)
    # the first one waits for the worker to start consuming
    app.send_task(bare_celery.NOOP, queue=QUEUE).get(timeout=60)
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        app.send_task(bare_celery.NOOP, queue=QUEUE).get(timeout=10)
        times.append(time.perf_counter() - t0)
    app.close()
    return times


def wait_ready(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url}/readyz did not answer 200 within {timeout:g} s")


def follow(session: requests.Session, url: str, job_id: str, timeout: float = 60) -> dict:
    """The job once it has ended, waiting with the long poll."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = session.get(f"{url}/jobs/{job_id}?wait=10", timeout=20).json()
        if job["status"] in ENDED:
            return job
    raise RuntimeError(f"job {job_id} did not end within {timeout:g} s")


def queue_overheads(url: str, n: int, warmup: int = 3) -> tuple[list[float], list[float]]:
    """Per job: seconds outside training (from the record) and seconds seen by the client."""
    overheads, walls = [], []
    with requests.Session() as session:
        for i in range(warmup + n):
            t0 = time.perf_counter()
            job = session.post(f"{url}/jobs", json=TINY_JOB, timeout=10).json()
            job = follow(session, url, job["id"])
            wall = time.perf_counter() - t0
            if job["status"] != "succeeded":
                raise RuntimeError(f"job {job['id']} {job['status']}: {job['error']}")
            if i < warmup:  # the pool's first jobs import what training needs
                continue
            total = _seconds(job["finished_at"]) - _seconds(job["created_at"])
            overheads.append(total - job["training_seconds"])
            walls.append(wall)
    return overheads, walls


def throughput(url: str, n: int) -> dict:
    """Post ``n`` jobs at once from 8 threads; jobs per second until the last one ends."""
    with requests.Session() as session, ThreadPoolExecutor(8) as pool:
        posted = list(
            pool.map(
                lambda _: session.post(f"{url}/jobs", json=TINY_JOB, timeout=30).json()["id"],
                range(n),
            )
        )
        jobs = list(pool.map(lambda job_id: follow(session, url, job_id, 300), posted))
    failed = [j["id"] for j in jobs if j["status"] != "succeeded"]
    if failed:
        raise RuntimeError(f"{len(failed)} of {n} jobs did not succeed")
    first = min(_seconds(j["created_at"]) for j in jobs)
    last = max(_seconds(j["finished_at"]) for j in jobs)
    return {"jobs": n, "seconds": round(last - first, 3), "jobs_per_s": n / (last - first)}


def run(args) -> list[dict]:
    records = []
    procs = Processes()
    prefix = f"benchjobs{os.getpid()}"
    try:
        redis_url = start_redis(procs)

        bare = start_celery(procs, "bare_celery:app", redis_url, prefix, QUEUE, 1)
        bare_times = _percentiles(bare_round_trips(redis_url, args.round_trips))
        procs.stop(bare)

        address = start_gunicorn(procs, "service:create_app()", redis_url, prefix, QUEUE)
        url = f"http://{address}"
        worker = start_celery(procs, "worker.app:app", redis_url, prefix, QUEUE, 1)
        wait_ready(url)
        overheads, walls = queue_overheads(url, args.jobs)
        over = _percentiles(overheads)
        wall = _percentiles(walls)
        one = throughput(url, args.batch)
        procs.stop(worker)

        worker = start_celery(procs, "worker.app:app", redis_url, prefix, QUEUE, 2)
        wait_ready(url)
        two = throughput(url, args.batch)
        procs.stop(worker)

        if args.rounds:
            worker_args = ("worker.app:app", redis_url, prefix, QUEUE)
            client = (lambda: warm_up(url), follow)
            runs = job_scaling.rounds(procs, url, worker_args, args, client)
    finally:
        procs.stop_all()

    common = {"bench": "jobs"}
    records.append(
        {
            **common,
            "name": "bare_celery_round_trip_ms",
            **bare_times,
            "value": bare_times["median_ms"],
            "goal": None,
            "better": "lower",
        }
    )
    records.append(
        {
            **common,
            "name": "queue_overhead_median_ratio",
            "median_ms": over["median_ms"],
            "bare_median_ms": bare_times["median_ms"],
            "value": round(over["median_ms"] / bare_times["median_ms"], 2),
            "goal": GOAL_OVERHEAD_RATIO,
            "better": "lower",
        }
    )
    records.append(
        {
            **common,
            "name": "queue_overhead_median_ms",
            **over,
            "value": over["median_ms"],
            "goal": round(GOAL_OVERHEAD_RATIO * bare_times["median_ms"], 3),
            "better": "lower",
        }
    )
    records.append(
        {
            **common,
            "name": "queue_overhead_p99_ms",
            **over,
            "value": over["p99_ms"],
            "goal": GOAL_P99_MS,
            "better": "lower",
        }
    )
    records.append(
        {
            **common,
            "name": "client_post_to_end_ms",
            **wall,
            "value": wall["median_ms"],
            "goal": None,
            "better": "lower",
        }
    )
    for workers, figures in ((1, one), (2, two)):
        records.append(
            {
                **common,
                "name": f"throughput_{workers}_worker_jobs_per_s",
                "workers": workers,
                **figures,
                "jobs_per_s": round(figures["jobs_per_s"], 1),
                "value": round(figures["jobs_per_s"], 1),
                "goal": None,
                "better": "higher",
            }
        )
    records.append(
        {
            **common,
            "name": "throughput_scaling_1_to_2",
            "value": round(two["jobs_per_s"] / one["jobs_per_s"], 2),
            # the issue asks for the figure, not for a value of it
            "goal": None,
            "better": "higher",
        }
    )
    if args.rounds:
        records += job_scaling.records(runs, {p: blas_threads(p) for p in job_scaling.SIDES})
    return records


def blas_threads(processes: int) -> int:
    """BLAS threads per training process of a worker of ``processes``, as it picks them."""
    configured = os.environ.get("NNJOBS_BLAS_THREADS")
    return int(configured) if configured else threads_per_process(processes)


def warm_up(url: str) -> None:
    """A tiny job, once the worker listens: its end says the pool is up."""
    wait_ready(url)
    with requests.Session() as session:
        job = session.post(f"{url}/jobs", json=TINY_JOB, timeout=10).json()
        follow(session, url, job["id"])


def verdict(row: dict) -> str:
    if row["goal"] is None:
        return ""
    ok = row["value"] >= row["goal"] if row["better"] == "higher" else row["value"] <= row["goal"]
    sign = ">=" if row["better"] == "higher" else "<="
    return f"(goal {sign} {row['goal']:g}) {'PASS' if ok else 'MISS'}"


def print_table(records: list[dict], args) -> None:
    import celery

    print(
        f"{platform.python_version()}, {os.cpu_count()} cores, celery {celery.__version__}; "
        f"{args.jobs} jobs one at a time, {args.batch} at once"
    )
    for row in records:
        extra = ""
        if "median_ms" in row and "p99_ms" in row:
            extra = (
                f"median {row['median_ms']:.2f} ms, p99 {row['p99_ms']:.2f} ms "
                f"(min {row['min_ms']:.2f}, max {row['max_ms']:.2f}, n={row['n']})"
            )
        elif "rounds" in row:
            extra = f"rounds: {', '.join(f'{v:g}' for v in row['rounds'])}"
        elif "jobs_per_s" in row:
            extra = f"{row['jobs']} jobs in {row['seconds']:.2f} s"
        print(f"{row['name']:48} {row['value']:>9g} {verdict(row):22} {extra}")


def main(argv=None) -> int:
    parser = arguments(__doc__, "fewer jobs and one round of the scaling part: about a minute")
    parser.add_argument("--jobs", type=int, help="jobs one at a time (200; 40 with --quick)")
    parser.add_argument("--batch", type=int, help="jobs posted at once (200; 60 with --quick)")
    parser.add_argument("--round-trips", type=int, help="bare Celery round trips (200; 50)")
    parser.add_argument(
        "--rounds", type=int, help="paired rounds of the scaling part (3; 1 with --quick; 0: none)"
    )
    parser.add_argument("--sweep-jobs", type=int, default=16, help="jobs of the sweep (16)")
    parser.add_argument(
        "--epochs", type=int, default=120, help="epochs of a sweep's job (120: about 1 s)"
    )
    args = parser.parse_args(argv)
    if args.rounds is None:
        args.rounds = 1 if args.quick else 3
    args.jobs = args.jobs or (40 if args.quick else 200)
    args.batch = args.batch or (60 if args.quick else 200)
    args.round_trips = args.round_trips or (50 if args.quick else 200)
    return measure(run, print_table, args)


if __name__ == "__main__":
    sys.exit(main())
