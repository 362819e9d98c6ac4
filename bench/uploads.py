"""Uploads: ``POST /datasets`` of a 30 MiB numeric CSV file against ``pandas.read_csv`` of
the same file, and the API worker's peak memory during the upload over the file's size.

The file (40 float columns and an integer target, a fixed seed) is written to a
temporary directory. The API runs under gunicorn.conf.py with one worker process, so
that the process measured is the one that serves the upload, against a throwaway
redis-server. A warm-up uploads a small file of the same columns (the first upload in a
fresh worker imports the parser and reads pages of its code in), then the file itself
once (timed against one ``pandas.read_csv``, reported apart: it is the upload that finds
no memory freed by an earlier one), then each round times ``pandas.read_csv(path)`` in
this process and the upload (the file streamed as the body, ``Content-Type: text/csv``,
until the 201 answer), back to back, alternating which goes first. Every round is
reported. The goals: the upload within 2x pandas's time (the median of the rounds'
ratios), and the worker's peak memory at most 4x the file (the largest of the first
upload's and the rounds').

Memory: before each upload the worker's peak resident set (``VmHWM`` of
/proc/<pid>/status) is reset to its current size (``5`` written to
/proc/<pid>/clear_refs, which needs the same user or root), and its resident set
(``VmRSS``) read; after the answer, ``VmHWM`` is read again. The figure is that rise
(every page the process held at its peak, its heap, the parser's buffers and pages of
libraries alike) over the file's size in bytes.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import pandas as pd
import requests
from servers import Processes, arguments, measure, start_gunicorn, start_redis

GOAL_TIME = 2.0
GOAL_MEMORY = 4.0
FILE_MIB = 30
N_FEATURES = 40
SEED = 20


def write_csv(path: Path, mib: float, n: int | None = None) -> tuple[int, int]:
    """A numeric CSV of about ``mib`` MiB (or of ``n`` rows): float columns of six
    decimals and an integer target of three classes; its data rows and columns."""
    rng = np.random.default_rng(SEED)
    header = ",".join([*(f"x{j}" for j in range(N_FEATURES)), "y"]) + "\n"
    probe = rng.standard_normal((1000, N_FEATURES)) * 10
    row_bytes = len(_rows(probe, np.zeros(1000, dtype=int))) / 1000
    n = n or int((mib * 2**20 - len(header)) / row_bytes)
    X = rng.standard_normal((n, N_FEATURES)) * 10
    y = rng.integers(0, 3, n)
    with open(path, "wb") as f:
        f.write(header.encode())
        for start in range(0, n, 10_000):
            f.write(_rows(X[start : start + 10_000], y[start : start + 10_000]))
    return n, N_FEATURES + 1


def _rows(X: np.ndarray, y: np.ndarray) -> bytes:
    lines = (",".join(f"{v:.6f}" for v in row) + f",{t}\n" for row, t in zip(X, y, strict=True))
    return "".join(lines).encode()


def worker_pid(arbiter: int) -> int:
    """The one worker process of the gunicorn ``arbiter``."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        children = Path(f"/proc/{arbiter}/task/{arbiter}/children").read_text().split()
        if len(children) == 1:
            return int(children[0])
        time.sleep(0.1)
    raise RuntimeError(f"gunicorn {arbiter} has no single worker process")


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


def upload(procs: Processes, base: str, path: Path, pid: int) -> dict:
    """One upload: its seconds, the CPU seconds it cost (the servers' and this
    process's), and the worker's resident set before and at its peak."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    before = status_kib(pid, "VmRSS")
    with open(path, "rb") as f:
        servers, client, t0 = procs.cpu_seconds(), time.process_time(), time.perf_counter()
        r = requests.post(
            f"{base}/datasets?name=bench", data=f, headers={"Content-Type": "text/csv"}
        )
        seconds = time.perf_counter() - t0
        cpu = procs.cpu_seconds() - servers + time.process_time() - client
    if r.status_code != 201:
        raise RuntimeError(f"the upload was answered {r.status_code}: {r.text[:300]}")
    peak = status_kib(pid, "VmHWM")
    requests.delete(f"{base}/datasets/{r.json()['id']}").raise_for_status()
    return {"seconds": seconds, "cpu": cpu, "rss_before_kib": before, "hwm_kib": peak}


def read_csv(path: Path) -> dict:
    """``pandas.read_csv`` of the file: its seconds and CPU seconds."""
    cpu, t0 = time.process_time(), time.perf_counter()
    pd.read_csv(path)
    return {"pandas": time.perf_counter() - t0, "pandas_cpu": time.process_time() - cpu}


def run(args) -> list[dict]:
    procs = Processes()
    directory = tempfile.mkdtemp(prefix="nnjobs-bench-uploads-")
    procs.dirs.append(directory)
    path, small = Path(directory) / "numeric.csv", Path(directory) / "small.csv"
    rounds = []
    try:
        n_rows, n_cols = write_csv(path, args.mib)
        write_csv(small, 0, 1000)
        size = path.stat().st_size
        redis_url = start_redis(procs)
        prefix = f"bench{os.getpid()}"
        base = "http://" + start_gunicorn(
            procs, "service:create_app()", redis_url, prefix, workers=1
        )
        pid = worker_pid(procs.procs[-1].pid)
        read_csv(path)  # pandas's own imports and the file in the page cache
        warmup = upload(procs, base, small, pid)
        first = {**read_csv(path), "first": "pandas", **upload(procs, base, path, pid)}
        for i in range(args.rounds):
            if i % 2:
                up = upload(procs, base, path, pid)
                rounds.append({**up, **read_csv(path), "first": "upload"})
            else:
                rounds.append(
                    {**read_csv(path), **upload(procs, base, path, pid), "first": "pandas"}
                )
    finally:
        procs.stop_all()
    return records(first, rounds, warmup, size, n_rows, n_cols)


def _memory(r: dict, size: int) -> float:
    return (r["hwm_kib"] - r["rss_before_kib"]) * 1024 / size


def records(
    first: dict, rounds: list[dict], warmup: dict, size: int, n_rows: int, n_cols: int
) -> list:
    ratios = [r["seconds"] / r["pandas"] for r in rounds]
    cpu_ratios = [r["cpu"] / r["pandas_cpu"] for r in rounds]
    # the first upload of the file counts for memory: no memory freed by an earlier
    # one is there to be reused
    memory = [_memory(r, size) for r in (first, *rounds)]
    shape = {"file_bytes": size, "rows": n_rows, "columns": n_cols}
    load = os.getloadavg()[0]
    return [
        {
            "bench": "uploads",
            "name": "upload_seconds_over_pandas_read_csv",
            "value": round(statistics.median(ratios), 3),
            "goal": GOAL_TIME,
            "better": "lower",
            "runs": [round(x, 3) for x in ratios],
            "upload_seconds": [round(r["seconds"], 3) for r in rounds],
            "pandas_seconds": [round(r["pandas"], 3) for r in rounds],
            "first": [r["first"] for r in rounds],
            "first_upload": {
                "ratio": round(first["seconds"] / first["pandas"], 3),
                "upload_seconds": round(first["seconds"], 3),
                "pandas_seconds": round(first["pandas"], 3),
            },
            "warmup_upload_seconds": round(warmup["seconds"], 3),
            "load_average_1min": round(load, 2),
            **shape,
        },
        {
            "bench": "uploads",
            "name": "upload_cpu_over_pandas_read_csv_cpu",
            "value": round(statistics.median(cpu_ratios), 3),
            "goal": None,
            "better": "lower",
            "runs": [round(x, 3) for x in cpu_ratios],
            "upload_cpu_seconds": [round(r["cpu"], 3) for r in rounds],
            "pandas_cpu_seconds": [round(r["pandas_cpu"], 3) for r in rounds],
            "measured": "CPU seconds of gunicorn, redis-server and this process during the "
            "upload, over this process's during pandas.read_csv: the wall-clock ratio "
            "without the machine's other load, and without either side's threads",
        },
        {
            "bench": "uploads",
            "name": "upload_peak_memory_over_file",
            "value": round(max(memory), 3),
            "goal": GOAL_MEMORY,
            "better": "lower",
            "runs": [round(x, 3) for x in memory],
            "rss_before_mib": [round(r["rss_before_kib"] / 1024, 1) for r in (first, *rounds)],
            "peak_rise_mib": [
                round((r["hwm_kib"] - r["rss_before_kib"]) / 1024, 1) for r in (first, *rounds)
            ],
            "warmup_mib": round((warmup["hwm_kib"] - warmup["rss_before_kib"]) / 1024, 1),
            "measured": "worker VmHWM after the upload minus VmRSS before it (VmHWM reset "
            "before), over the file's bytes",
            **shape,
        },
    ]


def print_table(records: list[dict], args) -> None:
    speed, cpu, memory = records
    print(
        f"{os.cpu_count()} cores, load average {speed['load_average_1min']}; a numeric CSV "
        f"of {speed['file_bytes'] / 2**20:.1f} MiB ({speed['rows']} rows x "
        f"{speed['columns']} columns), {len(speed['runs'])} paired rounds"
    )
    for r in records:
        verdict = "-" if r["goal"] is None else "PASS" if r["value"] <= r["goal"] else "MISS"
        goal = "none" if r["goal"] is None else f"<= {r['goal']:g}"
        print(f"{r['name']:<38} {r['value']:>7} (goal {goal}) {verdict}")
        print(f"{'':<38} every round: {r['runs']}")
    first = speed["first_upload"]
    print(f"upload seconds     {speed['upload_seconds']}")
    print(f"pandas seconds     {speed['pandas_seconds']}")
    print(f"upload CPU s       {cpu['upload_cpu_seconds']}")
    print(f"pandas CPU s       {cpu['pandas_cpu_seconds']}")
    print(
        f"first upload       {first['upload_seconds']} s against pandas {first['pandas_seconds']}"
        f" s ({first['ratio']}x); the small warm-up {speed['warmup_upload_seconds']} s"
    )
    print(f"worker MiB before  {memory['rss_before_mib']} (the first upload, then the rounds)")
    print(
        f"peak rise MiB      {memory['peak_rise_mib']} (the small warm-up: {memory['warmup_mib']})"
    )


def main(argv=None) -> int:
    parser = arguments(__doc__, "two rounds")
    parser.add_argument("--rounds", type=int, help="paired rounds (6, or 2 with --quick)")
    parser.add_argument("--mib", type=float, default=FILE_MIB, help="the file's size in MiB")
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (2 if args.quick else 6)
    return measure(run, print_table, args)


if __name__ == "__main__":
    sys.exit(main())
