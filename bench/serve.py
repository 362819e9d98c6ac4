"""Serving speed: ``POST /predict`` under the production gunicorn settings, against a bare
Flask endpoint that only parses the same JSON, served the same way in the same run; and
the Open Inference Protocol's ``POST /v2/models/<name>/infer`` the same way.

For a (20 -> 64 -> 64 -> 3) softmax model stored in a throwaway Redis, the script starts
the API (``service:create_app()``) and the bare app (``bench/bare_app.py``) under gunicorn
with ``gunicorn.conf.py`` (2 processes of 4 threads, loopback), then loads each from separate
processes (16 concurrent clients in all), with 1 row and with 64 rows per request to
``/predict``, and 1 row (one FP32 tensor, as tritonclient sends it) to ``/v2``. Each
side is loaded in short rounds, the two back to back in every round (each first in turn);
the ratios reported are the median of the rounds' (with their min and max). It also
times JSON decoding and encoding of a large body with the standard library and with
orjson.

    python bench/serve.py [--json] [--quick] [--rounds R] [--seconds S] [--clients N]
                          [--procs P]

The script exits 0 whenever it completes: a missed goal is a measurement, reported as
MISS, not a failure. Every process it starts is stopped before it exits, Ctrl-C included.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import platform
import signal
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from servers import Processes, arguments, measure, start_gunicorn, start_redis  # noqa: E402

import nn  # noqa: E402
from registry.store import Registry  # noqa: E402

GOAL_RATIO = 0.75
GOAL_P99_MS = 10.0
MODEL_NAME = "bench-serve"
FEATURES = 20


def store_model(redis_url: str, prefix: str) -> str:
    """Train the benchmark's model briefly and store it as a worker would."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((600, FEATURES)).astype(np.float32)
    y = (X[:, :3] @ rng.standard_normal(3) > 0).astype(int) + (X[:, 3] > 1)
    spec = {
        "layers": [{"units": 64}, {"units": 64}],
        "activation": "relu",
        "output": "softmax",
        "training": {"epochs": 2, "validation_split": 0, "early_stopping": False},
    }
    model, history = nn.fit(spec, X, y)
    registry = Registry.from_url(redis_url, prefix=prefix)
    job = registry.create_job(name=MODEL_NAME, spec=spec, data={"X": "bench"}, X=X, y=y)
    if registry.start_job(job["id"]) is None:
        raise RuntimeError("the benchmark's job could not be started")
    meta = {**model.describe(), "history": history.as_dict()}
    stored = registry.succeed_job(job["id"], model.to_bytes(), meta)
    if stored is None:
        raise RuntimeError("the benchmark's model could not be stored")
    registry.r.close()
    return stored["id"]


# -- load --------------------------------------------------------------------------------


def request_bytes(address: str, body: bytes, path: str = "/predict") -> bytes:
    # each request is a new connection, as one-shot clients make them; saying so up front
    # lets a client read to the end of the stream instead of parsing headers, which keeps
    # the load generator's own cost low
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


def _client(address, payload, start, stop, latencies, failures):
    host, port = address.split(":")
    target = (host, int(port))
    while time.time() < start:
        time.sleep(0.001)
    while time.time() < stop:
        t0 = time.perf_counter()
        try:
            with socket.create_connection(target, timeout=10) as s:
                s.sendall(payload)
                first = s.recv(65536)
                while s.recv(65536):
                    pass
            ok = first.startswith(b"HTTP/1.1 200 ")
        except OSError:
            ok = False
        t1 = time.perf_counter()
        if time.time() > stop:
            break  # finished after the window: not counted
        if ok:
            latencies.append(t1 - t0)
        else:
            failures.append(1)


def _load_process(address, payload, threads, seconds, go, window, out):
    # a Ctrl-C reaches the whole terminal's group: the parent alone handles it
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    out.put("ready")
    go.wait()
    start, stop = window[0], window[0] + seconds
    latencies: list[float] = []
    failures: list[int] = []
    workers = [
        threading.Thread(target=_client, args=(address, payload, start, stop, latencies, failures))
        for _ in range(threads)
    ]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    out.put((latencies, len(failures)))


def load(
    address: str, body: bytes, seconds: float, clients: int, procs: int, path: str = "/predict"
) -> dict:
    """``clients`` clients spread over ``procs`` processes post ``body`` to ``path`` for
    ``seconds``; requests/s and latency percentiles of the answers that were 200."""
    payload = request_bytes(address, body, path)
    # fork, not spawn: a spawned child re-imports NumPy and the project, which on two cores
    # would eat into the measured window of the children already running
    ctx = multiprocessing.get_context("fork")
    out, go, window = ctx.Queue(), ctx.Event(), ctx.Array("d", 1)
    per = [clients // procs + (i < clients % procs) for i in range(procs)]
    children = [
        ctx.Process(
            target=_load_process,
            args=(address, payload, n, seconds, go, window, out),
            daemon=True,
        )
        for n in per
        if n
    ]
    for c in children:
        c.start()
    try:
        for _ in children:
            out.get(timeout=30)
        window[0] = time.time() + 0.05
        go.set()
        results = [out.get(timeout=seconds + 60) for _ in children]
    finally:
        go.set()
        for c in children:
            c.join(5)
            if c.is_alive():
                c.kill()
                c.join()
    return {
        "latencies": np.array([x for lat, _ in results for x in lat]),
        "failures": sum(f for _, f in results),
        "seconds": seconds,
    }


def summary(runs: list[dict]) -> dict:
    """requests/s and latency percentiles over ``runs`` of :func:`load` pooled."""
    latencies = np.concatenate([r["latencies"] for r in runs])
    seconds = sum(r["seconds"] for r in runs)
    failures = sum(r["failures"] for r in runs)
    if latencies.size == 0:
        return {"rps": 0.0, "p50_ms": float("nan"), "p99_ms": float("nan"), "failures": failures}
    return {
        "rps": latencies.size / seconds,
        "p50_ms": float(np.percentile(latencies, 50) * 1000),
        "p99_ms": float(np.percentile(latencies, 99) * 1000),
        "failures": failures,
        "requests": int(latencies.size),
    }


# -- JSON --------------------------------------------------------------------------------


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def json_codecs(rows: int, repeat: int) -> dict:
    """Seconds to decode a ``rows`` x 20 request body and encode it back, per library."""
    import orjson

    rng = np.random.default_rng(1)
    body = {"model_id": MODEL_NAME, "inputs": rng.standard_normal((rows, FEATURES)).tolist()}
    raw = json.dumps(body).encode()

    def stdlib():
        json.dumps(json.loads(raw.decode()))

    def fast():
        orjson.dumps(orjson.loads(raw))

    return {
        "bytes": len(raw),
        "stdlib_s": best_of(stdlib, repeat),
        "orjson_s": best_of(fast, repeat),
    }


# -- main --------------------------------------------------------------------------------


#: (figures' name, path, rows per request) of each measurement
CASES = (
    ("predict", "/predict", 1),
    ("predict", "/predict", 64),
    ("v2_infer", f"/v2/models/{MODEL_NAME}/infer", 1),
)


def body_for(rows: int, path: str = "/predict") -> bytes:
    rng = np.random.default_rng(rows)
    inputs = np.round(rng.standard_normal((rows, FEATURES)), 6)
    if path == "/predict":
        return json.dumps({"model_id": MODEL_NAME, "inputs": inputs.tolist()}).encode()
    tensor = {"name": "input", "shape": list(inputs.shape), "datatype": "FP32"}
    return json.dumps({"inputs": [{**tensor, "data": inputs.ravel().tolist()}]}).encode()


def rounds(procs: Processes, api: str, bare: str, body: bytes, args, path: str = "/predict"):
    """Load both sides ``args.rounds`` times, back to back in each round (each first in
    turn): the runs of each side, its server CPU seconds per request by round, and the
    rounds' requests/s and CPU ratios.

    On a shared machine the speed drifts by tens of percent within a minute; one long
    measurement a side would put that drift into the ratio, short paired rounds do not.
    """
    runs = {"api": [], "bare": []}
    cpu = {"api": [], "bare": []}
    rps_ratios, cpu_ratios = [], []
    for i in range(args.rounds):
        order = [("bare", bare), ("api", api)]
        for side, address in order if i % 2 == 0 else order[::-1]:
            used = procs.cpu_seconds()
            run = load(address, body, args.seconds, args.clients, args.procs, path)
            used = procs.cpu_seconds() - used
            runs[side].append(run)
            served = run["latencies"].size
            cpu[side].append(used / served if served else float("nan"))
        api_n, bare_n = (runs[side][-1]["latencies"].size for side in ("api", "bare"))
        rps_ratios.append(api_n / bare_n if bare_n else 0.0)
        cpu_ratios.append(cpu["bare"][-1] / cpu["api"][-1])
    return runs, cpu, rps_ratios, cpu_ratios


def run(args) -> list[dict]:
    records = []
    procs = Processes()
    prefix = f"bench{os.getpid()}"
    try:
        redis_url = start_redis(procs)
        store_model(redis_url, prefix)
        api = start_gunicorn(procs, "service:create_app()", redis_url, prefix)
        bare = start_gunicorn(procs, "bare_app:create_app()", redis_url, prefix)
        for route, path, rows in CASES:
            body = body_for(rows, path)
            # warm-up: every worker imports lazily and loads the model into its cache
            for address in (api, bare):
                load(address, body, 0.5, args.clients, args.procs, path)
            runs, cpu, rps_ratios, cpu_ratios = rounds(procs, api, bare, body, args, path)
            api_f, bare_f = summary(runs["api"]), summary(runs["bare"])
            common = {"bench": "serve", "rows": rows, "clients": args.clients, "path": path}
            common["rounds"] = args.rounds
            records.append(
                {
                    **common,
                    "name": f"{route}_{rows}_rps_ratio",
                    "rps": round(api_f["rps"], 1),
                    "bare_rps": round(bare_f["rps"], 1),
                    "value": round(statistics.median(rps_ratios), 3),
                    "min": round(min(rps_ratios), 3),
                    "max": round(max(rps_ratios), 3),
                    "goal": GOAL_RATIO,
                    "better": "higher",
                    "failures": api_f["failures"],
                    "bare_failures": bare_f["failures"],
                }
            )
            records.append(
                {
                    **common,
                    "name": f"{route}_{rows}_cpu_ratio",
                    "cpu_ms": round(statistics.median(cpu["api"]) * 1000, 3),
                    "bare_cpu_ms": round(statistics.median(cpu["bare"]) * 1000, 3),
                    # the requests/s ratio the servers would reach if they had the cores
                    # to themselves: bare CPU per request over the API's
                    "value": round(statistics.median(cpu_ratios), 3),
                    "min": round(min(cpu_ratios), 3),
                    "max": round(max(cpu_ratios), 3),
                    "goal": GOAL_RATIO,
                    "better": "higher",
                }
            )
            records.append(
                {
                    **common,
                    "name": f"{route}_{rows}_p99_ms",
                    "p50_ms": round(api_f["p50_ms"], 2),
                    "bare_p50_ms": round(bare_f["p50_ms"], 2),
                    "bare_p99_ms": round(bare_f["p99_ms"], 2),
                    "value": round(api_f["p99_ms"], 2),
                    "goal": GOAL_P99_MS,
                    "better": "lower",
                }
            )
    finally:
        procs.stop_all()
    codecs = json_codecs(args.json_rows, 3 if args.quick else 7)
    records.append(
        {
            "bench": "serve",
            "name": "json_orjson_speedup",
            "rows": args.json_rows,
            "bytes": codecs["bytes"],
            "stdlib_ms": round(codecs["stdlib_s"] * 1000, 2),
            "orjson_ms": round(codecs["orjson_s"] * 1000, 2),
            "value": round(codecs["stdlib_s"] / codecs["orjson_s"], 2),
            "goal": 1.0,
            "better": "higher",
        }
    )
    return records


def met(record: dict) -> bool:
    if record["better"] == "higher":
        return record["value"] >= record["goal"]
    return record["value"] < record["goal"]


def print_table(records: list[dict], args) -> None:
    from importlib.metadata import version

    print(
        f"{platform.python_version()}, {os.cpu_count()} cores, flask {version('flask')}, "
        f"gunicorn {version('gunicorn')}, orjson {version('orjson')}; "
        f"{args.clients} clients in {args.procs} processes, {args.rounds} rounds of "
        f"{args.seconds:g} s a side; ratios: median (min-max) of the rounds"
    )
    for r in records:
        verdict = "PASS" if met(r) else "MISS"
        if r["name"].endswith("rps_ratio"):
            detail = (
                f"({r['min']}-{r['max']}) api {r['rps']:,.0f} req/s, "
                f"bare {r['bare_rps']:,.0f} req/s"
            )
        elif r["name"].endswith("cpu_ratio"):
            detail = (
                f"({r['min']}-{r['max']}) server CPU per request: api {r['cpu_ms']} ms, "
                f"bare {r['bare_cpu_ms']} ms"
            )
        elif r["name"].endswith("p99_ms"):
            detail = (
                f"api p50 {r['p50_ms']} ms; bare p50 {r['bare_p50_ms']}, p99 {r['bare_p99_ms']}"
            )
        else:
            detail = (
                f"{r['rows']:,} x {FEATURES} ({r['bytes']:,} bytes): stdlib {r['stdlib_ms']} ms, "
                f"orjson {r['orjson_ms']} ms"
            )
        goal = f"{'>=' if r['better'] == 'higher' else '<'} {r['goal']}"
        print(f"{r['name']:<24} {r['value']:>8} (goal {goal:<7}) {verdict}  {detail}")


def main(argv=None) -> int:
    parser = arguments(__doc__, "a run under a minute")
    parser.add_argument("--rounds", type=int, help="rounds per body (7, or 3 with --quick)")
    parser.add_argument("--seconds", type=float, help="a side per round (2, or 1 with --quick)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--procs", type=int, default=4, help="load-generating processes")
    parser.add_argument("--json-rows", type=int, default=10_000)
    args = parser.parse_args(argv)
    if args.rounds is None:
        args.rounds = 3 if args.quick else 7
    if args.seconds is None:
        args.seconds = 1.0 if args.quick else 2.0
    return measure(run, print_table, args)


if __name__ == "__main__":
    sys.exit(main())
