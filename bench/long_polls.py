"""Other requests while many clients long-poll: /healthz and a one-row prediction, measured
with wrk, with and without 100 clients waiting on a job (``GET /jobs/<id>?wait=20``).

The API runs as ``make run`` starts it (gunicorn.conf.py's defaults); the job waited on
stays queued (no worker runs), so every long poll waits its whole 20 s. Each round
measures both sides back to back, without the waiting clients first, then with them;
every round is reported, and the goal is a median under 100 ms with the clients waiting.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from serve import store_model
from servers import Processes, arguments, measure, start_gunicorn, start_redis

from registry.store import Registry

GOAL_MEDIAN_MS = 100.0
WAIT_SECONDS = 20
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("this benchmark needs wrk (Debian: apt-get install wrk)")
    return found


def queued_job(redis_url: str, prefix: str) -> str:
    """A job record that nothing will run: no message is sent to a worker."""
    registry = Registry.from_url(redis_url, prefix=prefix)
    X = np.zeros((4, 2), dtype=np.float32)
    job = registry.create_job(name=None, spec={}, data={"X": "bench"}, X=X, y=np.zeros(4))
    registry.r.close()
    return job["id"]


def post_script(directory: str, body: dict) -> str:
    path = Path(directory) / "post.lua"
    text = json.dumps(body).replace("\\", "\\\\").replace('"', '\\"')
    path.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.body = "{text}"\n'
    )
    return str(path)


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([0-9.]+)(us|ms|s)", text).groups()
    return float(number) * _UNITS[unit]


def wrk(url: str, seconds: float, connections: int, script: str | None = None) -> dict:
    """One wrk run: requests/s, median and p99 latency (ms), and non-2xx answers."""
    args = [wrk_binary(), "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency"]
    if script:
        args += ["-s", script]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    latency = dict(re.findall(r"^[ \t]+(50|99)%[ \t]+(\S+)[ \t]*$", out, re.M))
    if set(latency) != {"50", "99"}:
        raise RuntimeError(f"wrk printed no latency distribution:\n{out}")
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)$", out, re.M)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1)),
        "p50_ms": _ms(latency["50"]),
        "p99_ms": _ms(latency["99"]),
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(1) if errors else "",
    }


def one_round(procs: Processes, base: str, job_id: str, script: str, args) -> dict:
    sides = {}
    for waiting in (False, True):
        holder = None
        if waiting:
            # the waiting clients: a wrk of their own whose every request is a long poll
            holder = procs.start(
                [
                    wrk_binary(),
                    "-t1",
                    f"-c{args.waiting}",
                    f"-d{WAIT_SECONDS - 2}s",
                    "--timeout",
                    f"{WAIT_SECONDS + 10}s",
                    f"{base}/jobs/{job_id}?wait={WAIT_SECONDS}",
                ]
            )
            time.sleep(2)  # every connection sent its request and waits
        health = wrk(f"{base}/healthz", args.seconds, args.clients)
        predict = wrk(f"{base}/predict", args.seconds, args.clients, script)
        if holder is not None:
            procs.stop(holder)
        sides["waiting" if waiting else "idle"] = {"healthz": health, "predict": predict}
    return sides


def run(args) -> list[dict]:
    procs = Processes()
    prefix = f"bench{os.getpid()}"
    directory = tempfile.mkdtemp(prefix="nnjobs-bench-polls-")
    procs.dirs.append(directory)
    rounds = []
    try:
        redis_url = start_redis(procs)
        model_id = store_model(redis_url, prefix)
        job_id = queued_job(redis_url, prefix)
        base = "http://" + start_gunicorn(procs, "service:create_app()", redis_url, prefix)
        inputs = [[0.1] * 20]
        script = post_script(directory, {"model_id": model_id, "inputs": inputs})
        # warm-up: each worker imports what it serves with and loads the model
        wrk(f"{base}/healthz", 1, 2)
        wrk(f"{base}/predict", 1, 2, script)
        for _ in range(args.rounds):
            rounds.append(one_round(procs, base, job_id, script, args))
    finally:
        procs.stop_all()
    records = []
    for route in ("healthz", "predict"):
        for side in ("idle", "waiting"):
            figures = [r[side][route] for r in rounds]
            records.append(
                {
                    "bench": "long_polls",
                    "name": f"{route}_{side}_p50_ms",
                    "waiting_clients": args.waiting if side == "waiting" else 0,
                    "runs_p50_ms": [f["p50_ms"] for f in figures],
                    "runs_p99_ms": [f["p99_ms"] for f in figures],
                    "runs_rps": [f["rps"] for f in figures],
                    "non_2xx": sum(f["non_2xx"] for f in figures),
                    "value": round(float(np.median([f["p50_ms"] for f in figures])), 2),
                    "p99_ms": round(float(np.median([f["p99_ms"] for f in figures])), 2),
                    "goal": GOAL_MEDIAN_MS if side == "waiting" else None,
                    "better": "lower",
                }
            )
    return records


def print_table(records: list[dict], args) -> None:
    print(
        f"{os.cpu_count()} cores; wrk with {args.clients} connections for {args.seconds:g} s "
        f"per figure, {args.rounds} rounds; 'waiting': {args.waiting} clients long-poll a "
        "queued job meanwhile. Every round's median (p50) and p99 in ms:"
    )
    for r in records:
        verdict = ""
        if r["goal"] is not None:
            verdict = "PASS" if r["value"] < r["goal"] and not r["non_2xx"] else "MISS"
            verdict = f"(goal < {r['goal']:g}) {verdict}"
        print(
            f"{r['name']:<24} {r['value']:>7} p99 {r['p99_ms']:>7} {verdict:<18} "
            f"p50 {r['runs_p50_ms']} p99 {r['runs_p99_ms']} non-2xx {r['non_2xx']}"
        )


def main(argv=None) -> int:
    parser = arguments(__doc__, "one round")
    parser.add_argument("--rounds", type=int, help="rounds (5, or 1 with --quick)")
    parser.add_argument("--seconds", type=float, default=3.0, help="per wrk figure")
    parser.add_argument("--clients", type=int, default=4, help="wrk connections measured")
    parser.add_argument("--waiting", type=int, default=100, help="clients long-polling")
    args = parser.parse_args(argv)
    if args.rounds is None:
        args.rounds = 1 if args.quick else 5
    return measure(run, print_table, args)


if __name__ == "__main__":
    sys.exit(main())
