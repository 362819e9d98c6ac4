"""nnjobs against its peers on the same exported model: MLflow's scoring server, and
onnxruntime in process.

For a (20 -> 64 -> 64 -> 3) softmax model trained here, the script measures:

- **Serving.** The API (``service:create_app()`` under gunicorn with ``gunicorn.conf.py``:
  2 processes, a throwaway redis-server) stores the model through ``POST /models/import``
  and exports it through ``GET /models/<id>/export?format=mlflow``; MLflow's own scoring
  server (``mlflow models serve --env-manager local --workers 2``, as many worker
  processes as the API's) serves that export. ``wrk`` (16 connections, 2 threads, keep-alive,
  the body posted by a Lua script) loads ``POST /predict``, ``POST /v2/models/<name>/infer``
  and MLflow's ``POST /invocations`` (``{"inputs": rows}``, the tensor form its signature
  asks for) with 1 row and with 64 rows per request. Each round loads the three back to
  back, the first in turn; every round's requests/s is reported, and the ratio of each
  nnjobs route over MLflow in that round. Goal: at least 2x.
- **Batch prediction in process.** ``Model.predict`` on 10,000 rows against
  ``onnxruntime.InferenceSession.run`` on the ``model.onnx`` of the same export, with the
  same threads (``--threads``: BLAS threads for nn, intra-op threads for onnxruntime), in
  paired repeats (each side first in turn). Goal: nnjobs at least 0.8x onnxruntime's
  rows/s.

    python bench/peers.py [--json] [--quick] [--only serve|batch] [--rounds R]
                          [--seconds S] [--repeats N] [--threads T]

Needs the ``bench`` extra (``mlflow-skinny``: its ``mlflow models serve`` runs the scoring
server on uvicorn) and ``wrk`` on the PATH (Debian's package). The script exits 0 whenever
it completes: a missed goal is a measurement, reported as MISS. Every process it starts is
stopped before it exits, Ctrl-C included.
"""

from __future__ import annotations

import gc
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from servers import (  # noqa: E402
    BIN,
    Processes,
    arguments,
    free_port,
    measure,
    run_wrk,
    start_gunicorn,
    start_redis,
    wait_port,
    wrk_binary,
)

import nn  # noqa: E402
from interop import mlflow_model  # noqa: E402

GOAL_SERVE = 2.0
GOAL_BATCH = 0.8
MODEL_NAME = "bench-peers"
FEATURES = 20
BATCH_ROWS = 10_000
#: the API's processes (bench/servers.py starts gunicorn with WEB_CONCURRENCY=2), and so
#: MLflow's --workers
WORKERS = 2
CONNECTIONS = 16
WRK_THREADS = 2


def train_model() -> nn.Model:
    """The benchmark's model, of bench/serve.py's shape: three classes of 20 features,
    through two ReLU layers of 64 units, trained for a few epochs."""
    x = rows_for(600)
    y = np.digitize(x[:, 0] + x[:, 1], [-0.5, 0.5])
    training = {"epochs": 3, "validation_split": 0, "early_stopping": False}
    spec = {"layers": [{"units": 64}] * 2, "output": "softmax", "training": training}
    return nn.fit({**spec, "activation": "relu"}, x, y)[0]


def rows_for(n: int) -> np.ndarray:
    return np.round(np.random.default_rng(n).standard_normal((n, FEATURES)), 6)


# -- wrk ---------------------------------------------------------------------------------


class Wrk:
    """``wrk`` posting one body to one URL (:func:`servers.run_wrk`); :meth:`run` loads it
    for some seconds and counts only successful answers as served."""

    def __init__(self, url: str, body: bytes):
        self.url, self.body = url, body

    def run(self, seconds: int) -> dict:
        figures = run_wrk(self.url, self.body, seconds, CONNECTIONS, WRK_THREADS, timeout=5)
        ok = figures["requests"] - figures["non_2xx"]
        return {
            "rps": ok / figures["seconds"],
            "p50_ms": figures["p50_ms"],
            "p99_ms": figures["p99_ms"],
            "failures": figures["non_2xx"] + figures["errors"],
        }


# -- servers -----------------------------------------------------------------------------


def http(method: str, url: str, body: bytes | None = None, ctype: str | None = None) -> bytes:
    req = urllib.request.Request(url, data=body, method=method)
    if ctype:
        req.add_header("Content-Type", ctype)
    with urllib.request.urlopen(req, timeout=60) as resp:
        return resp.read()


def import_and_export(api: str, model: nn.Model) -> tuple[str, bytes]:
    """Store ``model`` in the API through its import route and download its MLflow export:
    the stored model's id and the zip."""
    blob = model.to_bytes()
    url = f"http://{api}/models/import?name={MODEL_NAME}"
    stored = json.loads(http("POST", url, blob, "application/octet-stream"))
    zipped = http("GET", f"http://{api}/models/{stored['id']}/export?format=mlflow")
    return stored["id"], zipped


def start_mlflow(procs: Processes, zipped: bytes) -> str:
    """MLflow's scoring server on the unzipped export, with :data:`WORKERS` processes."""
    directory = tempfile.mkdtemp(prefix="nnjobs-bench-mlflow-")
    procs.dirs.append(directory)
    with zipfile.ZipFile(io.BytesIO(zipped)) as zf:
        zf.extractall(directory)
    port = free_port()
    env = {
        **os.environ,
        # the CLI starts `uvicorn` by name
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
    }
    args = [str(BIN / "mlflow"), "models", "serve", "-m", directory, "--env-manager", "local"]
    args += ["-h", "127.0.0.1", "-p", str(port), "--workers", str(WORKERS)]
    proc = procs.start(args, env)
    wait_port(port, proc, "mlflow models serve", timeout=180)
    # uvicorn listens before its workers have loaded the model
    deadline = time.monotonic() + 180
    while True:
        try:
            http("GET", f"http://127.0.0.1:{port}/ping")
            return f"127.0.0.1:{port}"
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("MLflow's scoring server did not answer /ping") from None
            time.sleep(0.2)


def bodies(rows: int) -> dict[str, tuple[str, bytes]]:
    """(path, body) of each side for ``rows`` rows of the same numbers."""
    x = rows_for(rows)
    tensor = {"name": "input", "shape": list(x.shape), "datatype": "FP32"}
    return {
        "predict": ("/predict", json.dumps({"model_id": MODEL_NAME, "inputs": x.tolist()})),
        "v2_infer": (
            f"/v2/models/{MODEL_NAME}/infer",
            json.dumps({"inputs": [{**tensor, "data": x.ravel().tolist()}]}),
        ),
        "mlflow": ("/invocations", json.dumps({"inputs": x.tolist()})),
    }


def labels_of(side: str, answer: dict) -> list:
    """The predicted labels in each side's answer."""
    if side == "predict":
        return answer["predictions"]
    if side == "v2_infer":
        return next(o["data"] for o in answer["outputs"] if o["name"] == "label")
    return answer["predictions"]["label"]


def serve_rounds(procs: Processes, args) -> list[dict]:
    """Start the two servers, check they answer alike, and load them in paired rounds."""
    redis_url = start_redis(procs)
    api = start_gunicorn(procs, "service:create_app()", redis_url, f"bench{os.getpid()}")
    _, zipped = import_and_export(api, train_model())
    mlflow = start_mlflow(procs, zipped)
    address = {"predict": api, "v2_infer": api, "mlflow": mlflow}
    records = []
    for rows in (1, 64):
        loads = {}
        answers = {}
        for side, (path, body) in bodies(rows).items():
            url = f"http://{address[side]}{path}"
            answers[side] = labels_of(
                side, json.loads(http("POST", url, body.encode(), "application/json"))
            )
            loads[side] = Wrk(url, body.encode())
            loads[side].run(1)  # warm-up: lazy imports, the model into each worker's cache
        if not answers["predict"] == answers["v2_infer"] == answers["mlflow"]:
            raise RuntimeError(f"the servers disagree on {rows} row(s): {answers}")
        sides = list(loads)
        runs: dict[str, list[dict]] = {side: [] for side in sides}
        for i in range(args.rounds):
            order = sides[i % 3 :] + sides[: i % 3]
            for side in order:
                runs[side].append(loads[side].run(args.seconds))
        for route in ("predict", "v2_infer"):
            records.append(serve_record(route, rows, runs, args))
    return records


def serve_record(route: str, rows: int, runs: dict, args) -> dict:
    ratios = [
        a["rps"] / b["rps"] if b["rps"] else 0.0
        for a, b in zip(runs[route], runs["mlflow"], strict=True)
    ]
    every = [
        {
            "rps": round(a["rps"], 1),
            "mlflow_rps": round(b["rps"], 1),
            "ratio": round(r, 3),
            "p99_ms": round(a["p99_ms"], 2),
            "mlflow_p99_ms": round(b["p99_ms"], 2),
            "failures": a["failures"],
            "mlflow_failures": b["failures"],
        }
        for a, b, r in zip(runs[route], runs["mlflow"], ratios, strict=True)
    ]
    return {
        "bench": "peers",
        "name": f"{route}_{rows}_vs_mlflow_rps_ratio",
        "rows": rows,
        "load": f"wrk {WRK_THREADS} threads, {CONNECTIONS} connections, {args.seconds} s a side",
        "workers": WORKERS,
        "value": round(statistics.median(ratios), 3),
        "min": round(min(ratios), 3),
        "max": round(max(ratios), 3),
        "rounds": every,
        "goal": GOAL_SERVE,
        "better": "higher",
    }


# -- batch prediction --------------------------------------------------------------------


def batch_repeats(args) -> list[dict]:
    """``Model.predict`` against onnxruntime on the exported graph, ``args.repeats`` paired
    repeats of a few calls a side."""
    import onnxruntime

    model = train_model()
    with zipfile.ZipFile(io.BytesIO(mlflow_model.to_mlflow_zip(model))) as zf:
        graph = zf.read("model.onnx")
    nn.set_blas_threads(args.threads)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
    outputs = [o.name for o in session.get_outputs()]
    x = rows_for(BATCH_ROWS)

    def ours():
        return model.predict(x)

    def ort():
        return session.run(outputs, {"inputs": x})

    def ort_listed():
        # onnxruntime's answer made as JSON-ready as Model.predict's
        return [a.tolist() for a in ort()]

    check_agree(ours(), dict(zip(outputs, ort(), strict=True)))
    sides = {"nn": ours, "ort": ort, "ort_listed": ort_listed}
    for fn in sides.values():
        fn()  # warm-up
    # (wall, CPU) seconds per call of each side, by repeat
    times: dict[str, list[tuple[float, float]]] = {side: [] for side in sides}
    names = list(sides)
    for i in range(args.repeats):
        for side in names[i % 3 :] + names[: i % 3]:
            # each side starts from no garbage, and its own is counted against it
            gc.collect()
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(args.calls):
                sides[side]()
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            times[side].append((wall / args.calls, cpu / args.calls))
    return [
        batch_record(
            "predict_vs_onnxruntime_rows_ratio", times["nn"], times["ort"], GOAL_BATCH, args
        ),
        batch_record(
            "predict_vs_onnxruntime_listed_rows_ratio", times["nn"], times["ort_listed"], None, args
        ),
    ]


def check_agree(mine: dict, theirs: dict) -> None:
    """Model.predict's answer against onnxruntime's outputs on the same rows."""
    if mine["predictions"] != theirs["label"].tolist() or not np.allclose(
        mine["probabilities"], theirs["probabilities"], atol=1e-5
    ):
        raise RuntimeError("Model.predict and onnxruntime disagree on the batch")


def batch_record(name: str, ours: list, theirs: list, goal, args) -> dict:
    """Rows/s of ``ours`` over ``theirs`` by repeat; beside them the CPU time ratio, which
    other processes on the cores move less than the wall time's."""
    ratios = [b[0] / a[0] for a, b in zip(ours, theirs, strict=True)]
    cpu_ratios = [b[1] / a[1] for a, b in zip(ours, theirs, strict=True)]
    return {
        "bench": "peers",
        "name": name,
        "rows": BATCH_ROWS,
        "threads": args.threads,
        "calls": args.calls,
        "value": round(statistics.median(ratios), 3),
        "min": round(min(ratios), 3),
        "max": round(max(ratios), 3),
        "cpu_ratio": round(statistics.median(cpu_ratios), 3),
        "repeats": [
            {
                "rows_per_s": round(BATCH_ROWS / a[0]),
                "peer_rows_per_s": round(BATCH_ROWS / b[0]),
                "ratio": round(r, 3),
                "cpu_ratio": round(c, 3),
            }
            for a, b, r, c in zip(ours, theirs, ratios, cpu_ratios, strict=True)
        ],
        "goal": goal,
        "better": "higher",
    }


# -- main --------------------------------------------------------------------------------


def run(args) -> list[dict]:
    records = []
    if args.only in (None, "serve") and wrk_binary(install=True) is None:
        print("wrk is not installed (apt-get install wrk): no serving figures", file=sys.stderr)
    elif args.only in (None, "serve"):
        procs = Processes()
        try:
            records += serve_rounds(procs, args)
        finally:
            procs.stop_all()
    if args.only in (None, "batch"):
        records += batch_repeats(args)
    return records


def verdict(r: dict) -> str:
    if r["goal"] is None:
        return "-"
    return "PASS" if r["value"] >= r["goal"] else "MISS"


def print_table(records: list[dict], args) -> None:
    from importlib.metadata import version

    print(
        f"{platform.python_version()}, {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.1f}; gunicorn {version('gunicorn')}, mlflow-skinny "
        f"{version('mlflow-skinny')}, uvicorn {version('uvicorn')}, onnxruntime "
        f"{version('onnxruntime')}, numpy {np.__version__}"
    )
    for r in records:
        goal = "none" if r["goal"] is None else f">= {r['goal']}"
        print(f"{r['name']:<42} {r['value']:>7} ({r['min']}-{r['max']}, goal {goal}) {verdict(r)}")
        if "rounds" in r:
            print(f"    {r['load']}, {r['workers']} worker processes a side")
            for i, x in enumerate(r["rounds"]):
                print(
                    f"    round {i + 1}: {x['rps']:,.0f} vs {x['mlflow_rps']:,.0f} req/s = "
                    f"{x['ratio']:.2f}; p99 {x['p99_ms']} vs {x['mlflow_p99_ms']} ms; "
                    f"failures {x['failures']} vs {x['mlflow_failures']}"
                )
        else:
            print(
                f"    {r['rows']:,} rows, {r['threads']} thread(s) a side, {r['calls']} calls a "
                f"side per repeat; CPU time ratio {r['cpu_ratio']}"
            )
            for i, x in enumerate(r["repeats"]):
                print(
                    f"    repeat {i + 1}: {x['rows_per_s']:,} vs {x['peer_rows_per_s']:,} "
                    f"rows/s = {x['ratio']:.2f} (CPU {x['cpu_ratio']:.2f})"
                )


#: option -> (its default, with --quick)
DEFAULTS = {"rounds": (5, 2), "seconds": (3, 1), "repeats": (15, 5)}


def main(argv=None) -> int:
    parser = arguments(__doc__, "a run of about a minute")
    parser.add_argument("--only", choices=("serve", "batch"), help="one part alone")
    parser.add_argument("--rounds", type=int, help="serving rounds per body (5; 2 with --quick)")
    # wrk takes whole seconds
    parser.add_argument("--seconds", type=int, help="wrk's seconds a side (3; 1 with --quick)")
    parser.add_argument("--repeats", type=int, help="batch repeats (15; 5 with --quick)")
    parser.add_argument("--calls", type=int, default=10, help="batch calls a side per repeat")
    parser.add_argument("--threads", type=int, default=1, help="BLAS / onnxruntime threads")
    args = parser.parse_args(argv)
    for option, (full, quick) in DEFAULTS.items():
        if getattr(args, option) is None:
            setattr(args, option, quick if args.quick else full)
    return measure(run, print_table, args)


if __name__ == "__main__":
    sys.exit(main())
