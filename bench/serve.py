"""Serving speed: ``POST /predict`` under the production gunicorn settings, against two
references served the same way in the same run, and the Open Inference Protocol's
``POST /v2/models/<name>/infer`` the same way.

For a (20 -> 64 -> 64 -> 3) softmax model stored in a throwaway Redis, the script starts
under gunicorn with ``gunicorn.conf.py`` (2 processes of 4 threads, loopback, access lines
and metrics on, as ``make run`` serves): the API (``service:create_app()``); the bare
endpoint of ``bench/bare_app.py``, which only parses the same JSON (the web stack's
cost); and the same endpoint running the same model's forward pass on the inputs (the web
stack's and the model's). It loads each with ``wrk`` (16 kept-alive connections, 2
threads; installed from Debian's package when missing and running as root, else the
Python load generator of ``bench/servers.py`` stands in, and the output says so), with 1
row and with 64 rows per request to ``/predict``, and 1 row (one FP32 tensor, as
tritonclient sends it) to ``/v2``. Each round loads the three back to back (in turn
forwards and backwards); every round is reported, and the ratios are the median of the
rounds' (with their min and max). It also times JSON decoding and encoding of a large
body with the standard library and with orjson.

    python bench/serve.py [--json] [--quick] [--rounds R] [--seconds S] [--clients N]
                          [--threads T] [--load {auto,wrk,python}] [--procs P]

The script exits 0 whenever it completes: a missed goal is a measurement, reported as
MISS, not a failure. Every process it starts is stopped before it exits, Ctrl-C included.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from servers import (  # noqa: E402
    Processes,
    arguments,
    measure,
    run_python_load,
    run_wrk,
    start_gunicorn,
    start_redis,
    wrk_binary,
)

import nn  # noqa: E402
from registry.store import Registry  # noqa: E402

#: the API's requests/s over the bare endpoint's, at least
GOAL_RPS_RATIO = 0.8
#: the API's p99 latency over the bare endpoint's, at most
GOAL_P99_RATIO = 1.3
MODEL_NAME = "bench-serve"
FEATURES = 20

#: the servers measured: the figures' key, and the app gunicorn serves
SIDES = {
    "bare": "bare_app:create_app()",
    "forward": "bare_app:create_app(forward=True)",
    "api": "service:create_app()",
}


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


# -- load --------------------------------------------------------------------------------


def load(address: str, path: str, body: bytes, seconds: float, args) -> dict:
    """One measurement of one server: :func:`servers.run_wrk`'s figures."""
    if args.load == "wrk":
        return run_wrk(f"http://{address}{path}", body, seconds, args.clients, args.threads)
    return run_python_load(address, path, body, seconds, args.clients, args.procs)


def rounds(procs: Processes, addresses: dict, path: str, body: bytes, args) -> list[dict]:
    """Load every side ``args.rounds`` times, back to back in each round (forwards in
    one round, backwards in the next): per round and side, the load's figures and the
    servers' CPU seconds per request.

    On a shared machine the speed drifts by tens of percent within a minute; one long
    measurement a side would put that drift into the ratio, short paired rounds do not.
    """
    order = list(addresses)
    out = []
    for i in range(args.rounds):
        this = {}
        for side in order if i % 2 == 0 else order[::-1]:
            used = procs.cpu_seconds()
            figures = load(addresses[side], path, body, args.seconds, args)
            used = procs.cpu_seconds() - used
            # the CPU of all servers: only the one loaded does anything meanwhile
            figures["cpu_ms"] = (
                used / figures["requests"] * 1000 if figures["requests"] else math.nan
            )
            this[side] = figures
        out.append(this)
    return out


def _ratio(a: float, b: float) -> float:
    return a / b if b else math.nan


def _stats(values: list[float]) -> dict:
    return {
        "value": round(statistics.median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
        "runs": [round(v, 3) for v in values],
    }


def _side(runs: list[dict], side: str, key: str, digits: int = 2) -> list:
    return [round(r[side][key], digits) for r in runs]


def case_records(route: str, path: str, rows: int, runs: list[dict], args) -> list[dict]:
    """The figures of one body: every round's, and their medians."""
    common = {
        "bench": "serve",
        "rows": rows,
        "path": path,
        "clients": args.clients,
        "load": args.load,
        "rounds": args.rounds,
        "seconds": args.seconds,
    }
    failures = {
        f"{side}_failures": sum(r[side]["non_2xx"] + r[side]["errors"] for r in runs)
        for side in SIDES
    }
    name = f"{route}_{rows}"
    rps = {f"{side}_rps": _side(runs, side, "rps", 1) for side in SIDES}
    p99 = {f"{side}_p99_ms": _side(runs, side, "p99_ms") for side in SIDES}
    p50 = {f"{side}_p50_ms": _side(runs, side, "p50_ms") for side in SIDES}
    cpu = {f"{side}_cpu_ms": _side(runs, side, "cpu_ms", 3) for side in SIDES}
    cpu_median = {side: statistics.median(r[side]["cpu_ms"] for r in runs) for side in SIDES}
    ratio = lambda a, b, key: [_ratio(r[a][key], r[b][key]) for r in runs]  # noqa: E731
    return [
        {
            **common,
            "name": f"{name}_rps_ratio",
            **_stats(ratio("api", "bare", "rps")),
            "goal": GOAL_RPS_RATIO,
            "better": "higher",
            **rps,
            **failures,
        },
        {
            **common,
            "name": f"{name}_p99_ratio",
            **_stats(ratio("api", "bare", "p99_ms")),
            "goal": GOAL_P99_RATIO,
            "better": "lower",
            **p99,
            **p50,
        },
        {
            # what the requests/s ratio would be with the cores to the servers alone:
            # bare CPU per request over the API's (the goal in brackets: it is set on
            # requests/s)
            **common,
            "name": f"{name}_cpu_ratio",
            **_stats([_ratio(r["bare"]["cpu_ms"], r["api"]["cpu_ms"]) for r in runs]),
            "goal": GOAL_RPS_RATIO,
            "better": "higher",
            **cpu,
        },
        {
            # the model's share: the bare endpoint with the forward pass over without
            **common,
            "name": f"{name}_forward_rps_ratio",
            **_stats(ratio("forward", "bare", "rps")),
            "goal": None,
            "better": "higher",
        },
        {
            # what nnjobs adds to the web stack and the model: the API over the bare
            # endpoint with the forward pass
            **common,
            "name": f"{name}_api_over_forward_rps_ratio",
            **_stats(ratio("api", "forward", "rps")),
            "goal": None,
            "better": "higher",
        },
        {
            # server CPU per request split: the web stack (bare), the model's forward pass
            # (forward - bare), what nnjobs adds (api - forward); medians of the rounds
            **common,
            "name": f"{name}_nnjobs_cpu_ms",
            "value": round(cpu_median["api"] - cpu_median["forward"], 3),
            "web_cpu_ms": round(cpu_median["bare"], 3),
            "model_cpu_ms": round(cpu_median["forward"] - cpu_median["bare"], 3),
            "api_cpu_ms": round(cpu_median["api"], 3),
            "goal": None,
            "better": "lower",
        },
    ]


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


def choose_load(args) -> str | None:
    """The load generator to use, and why not wrk when it is not."""
    if args.load == "python":
        return "the Python load generator was asked for (--load python)"
    if wrk_binary(install=True) is not None:
        args.load = "wrk"
        return None
    if args.load == "wrk":
        raise SystemExit("wrk is not installed and cannot be (not root, or no apt-get)")
    args.load = "python"
    return (
        "wrk is not installed and could not be (Debian: apt-get install wrk, as root): "
        "the Python load generator stands in, whose own CPU shares the cores"
    )


def run(args) -> list[dict]:
    records = []
    procs = Processes()
    prefix = f"bench{os.getpid()}"
    fallback = choose_load(args)
    if fallback:
        print(f"serve.py: {fallback}", file=sys.stderr)
    try:
        redis_url = start_redis(procs)
        store_model(redis_url, prefix)
        addresses = {
            side: start_gunicorn(procs, app, redis_url, prefix) for side, app in SIDES.items()
        }
        for route, path, rows in CASES:
            body = body_for(rows, path)
            # warm-up: every worker imports lazily and loads the model into its cache
            for address in addresses.values():
                load(address, path, body, 1.0, args)
            runs = rounds(procs, addresses, path, body, args)
            records += case_records(route, path, rows, runs, args)
    finally:
        procs.stop_all()
    if fallback:
        for r in records:
            r["load_note"] = fallback
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


def met(record: dict) -> bool | None:
    if record["goal"] is None:
        return None
    if record["better"] == "higher":
        return record["value"] >= record["goal"]
    return record["value"] <= record["goal"]


def _runs(r: dict, key: str) -> str:
    return " ".join(f"{v:g}" for v in r[key])


def print_table(records: list[dict], args) -> None:
    from importlib.metadata import version

    load = (
        f"wrk, {args.clients} connections, {args.threads} threads"
        if args.load == "wrk"
        else f"the Python load generator, {args.clients} clients in {args.procs} processes"
    )
    print(
        f"{platform.python_version()}, {os.cpu_count()} cores, flask {version('flask')}, "
        f"gunicorn {version('gunicorn')}, orjson {version('orjson')}; {load}; "
        f"{args.rounds} rounds of {args.seconds:g} s a side; figures: median (min-max) of "
        "the rounds, then every round's"
    )
    if records and records[0].get("load_note"):
        print(f"NOTE: {records[0]['load_note']}")
    for r in records:
        verdict = {True: "PASS", False: "MISS", None: "-"}[met(r)]
        goal = (
            "none"
            if r["goal"] is None
            else f"{'>=' if r['better'] == 'higher' else '<='} {r['goal']}"
        )
        name = r["name"]
        if name == "json_orjson_speedup":
            detail = (
                f"{r['rows']:,} x {FEATURES} ({r['bytes']:,} bytes): stdlib {r['stdlib_ms']} ms, "
                f"orjson {r['orjson_ms']} ms"
            )
        elif name.endswith("_nnjobs_cpu_ms"):
            detail = (
                f"server CPU ms per request: web stack {r['web_cpu_ms']}, model "
                f"{r['model_cpu_ms']}, nnjobs {r['value']} (api {r['api_cpu_ms']})"
            )
        else:
            detail = f"({r['min']}-{r['max']}) rounds {_runs(r, 'runs')}"
            if name.endswith("_rps_ratio") and "api_rps" in r:
                detail += (
                    f"; req/s api {_runs(r, 'api_rps')} | bare {_runs(r, 'bare_rps')} | "
                    f"forward {_runs(r, 'forward_rps')}"
                )
                bad = sum(r[f"{side}_failures"] for side in SIDES)
                if bad:
                    detail += f"; {bad} failed requests"
            elif name.endswith("_p99_ratio"):
                detail += (
                    f"; p99 ms api {_runs(r, 'api_p99_ms')} | bare {_runs(r, 'bare_p99_ms')} | "
                    f"forward {_runs(r, 'forward_p99_ms')}"
                )
            elif name.endswith("_cpu_ratio"):
                detail += (
                    f"; CPU ms/request api {_runs(r, 'api_cpu_ms')} | bare "
                    f"{_runs(r, 'bare_cpu_ms')} | forward {_runs(r, 'forward_cpu_ms')}"
                )
        print(f"{name:<32} {r['value']:>8} (goal {goal:<7}) {verdict}  {detail}")


def main(argv=None) -> int:
    parser = arguments(__doc__, "a run of about half a minute")
    parser.add_argument("--rounds", type=int, help="rounds per body (7, or 3 with --quick)")
    parser.add_argument("--seconds", type=float, help="a side per round (2, or 1 with --quick)")
    parser.add_argument("--clients", type=int, default=16, help="connections (clients)")
    parser.add_argument("--threads", type=int, default=2, help="wrk's threads")
    parser.add_argument(
        "--load",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="load generator: wrk (installed when missing, as root), else Python (auto)",
    )
    parser.add_argument("--procs", type=int, default=4, help="Python load processes")
    parser.add_argument("--json-rows", type=int, default=10_000)
    args = parser.parse_args(argv)
    if args.rounds is None:
        args.rounds = 3 if args.quick else 7
    if args.seconds is None:
        args.seconds = 1.0 if args.quick else 2.0
    return measure(run, print_table, args)


if __name__ == "__main__":
    sys.exit(main())
