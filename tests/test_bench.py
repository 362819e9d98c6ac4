"""The benchmarks run and speak the recording format; their figures are not judged here."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
SCRIPTS = [
    "train_speed.py",
    "train_torch.py",
    "serve.py",
    "jobs.py",
    "diagnostics.py",
    "long_polls.py",
    "defaults.py",
    "peers.py",
    "uploads.py",
]


def records(script: str, *args: str) -> list[dict]:
    """Run a benchmark briefly with ``--json``-style ``args``; the records it printed."""
    out = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


def test_make_bench_runs_every_listed_benchmark():
    makefile = (BENCH.parent / "Makefile").read_text()
    run = {
        line.split("bench/")[1].split()[0]
        for line in makefile.splitlines()
        if "python bench/" in line
    }
    # defaults.py is the long matrix of issue 15, run on its own rather than by make bench
    assert run == set(SCRIPTS) - {"defaults.py"}


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_benchmark_offers_json_and_quick(script):
    out = subprocess.run(
        [sys.executable, str(BENCH / script), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "--json" in out and "--quick" in out


@pytest.mark.slow
def test_jobs_benchmark_records_every_figure():
    args = ["--json", "--jobs", "3", "--batch", "4", "--round-trips", "3"]
    args += ["--rounds", "2", "--sweep-jobs", "2", "--epochs", "1"]
    rows = records("jobs.py", *args)
    names = {row["name"] for row in rows}
    assert {
        "bare_celery_round_trip_ms",
        "queue_overhead_median_ms",
        "queue_overhead_p99_ms",
        "throughput_1_worker_jobs_per_s",
        "throughput_2_worker_jobs_per_s",
        "throughput_scaling_1_to_2",
        "scaling_1_process_jobs_per_s",
        "scaling_2_processes_jobs_per_s",
        "scaling_1_process_sweep_ratio",
        "scaling_2_processes_sweep_ratio",
        "scaling_2_processes_worker_cpu_s_per_job",
        "scaling_2_processes_mean_jobs_running",
        "scaling_jobs_per_s_1_to_2_processes",
    } <= names
    for row in rows:
        assert row["bench"] == "jobs" and row["better"] in ("higher", "lower")
        assert row["value"] > 0
    overhead = next(r for r in rows if r["name"] == "queue_overhead_median_ms")
    assert overhead["n"] == 3
    # every round is reported, with the median as the value
    scaling = next(r for r in rows if r["name"] == "scaling_jobs_per_s_1_to_2_processes")
    assert len(scaling["rounds"]) == 2 and scaling["goal"] == 1.7
    assert scaling["min"] <= scaling["value"] <= scaling["max"]
    sweep = next(r for r in rows if r["name"] == "scaling_2_processes_sweep_ratio")
    assert sweep["jobs"] == 2 and sweep["processes"] == 2 and sweep["goal"] == 1.3


@pytest.mark.slow
def test_diagnostics_benchmark_records_the_overhead():
    out = subprocess.run(
        [sys.executable, str(BENCH / "diagnostics.py"), "--json", "--quick", "--repeat", "1"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [(row["config"], row["name"]) for row in rows] == [
        ("a", "overhead"),
        ("a", "recorder_share"),
        ("c", "overhead"),
        ("c", "recorder_share"),
    ]
    for row in rows:
        assert row["bench"] == "diagnostics"
        assert row["better"] == "lower" and row["goal"] == 0.10
    for row in rows[::2]:
        assert len(row["seconds_on"]) == len(row["seconds_off"]) == 1
    for row in rows[1::2]:
        assert 0 < row["value"] < 1


#: the figures serve.py records for each body, in order
SERVE_FIGURES = (
    "rps_ratio",
    "p99_ratio",
    "cpu_ratio",
    "forward_rps_ratio",
    "api_over_forward_rps_ratio",
    "nnjobs_cpu_ms",
)


@pytest.mark.slow
@pytest.mark.parametrize("load", ["wrk", "python"])
def test_serving_benchmark_records_every_figure(load):
    if load == "wrk" and shutil.which("wrk") is None:
        pytest.skip("wrk is not installed (.ci/run installs it)")
    args = ["--json", "--rounds", "2", "--seconds", "1", "--clients", "2", "--procs", "1"]
    rows = records("serve.py", *args, "--threads", "1", "--load", load, "--json-rows", "100")
    assert [row["name"] for row in rows] == [
        *(
            f"{route}_{n}_{what}"
            for route, n in (("predict", 1), ("predict", 64), ("v2_infer", 1))
            for what in SERVE_FIGURES
        ),
        "json_orjson_speedup",
    ]
    for row in rows:
        assert row["bench"] == "serve" and row["better"] in ("higher", "lower")
        assert "goal" in row and "value" in row
    for row in rows[:-1]:
        assert row["load"] == load and row["rounds"] == 2
        if row["goal"] is not None:
            assert row["value"] > 0
        if row["name"].endswith("_ratio"):
            # every round is reported, and the value is their median
            assert len(row["runs"]) == 2 and row["min"] <= row["value"] <= row["max"]
        if row["name"].endswith("_rps_ratio") and "api_rps" in row:
            # every request of every side was answered 200
            for side in ("api", "bare", "forward"):
                assert row[f"{side}_failures"] == 0
                assert len(row[f"{side}_rps"]) == 2 and min(row[f"{side}_rps"]) > 0


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("wrk") is None, reason="wrk is not installed (.ci/run installs it)"
)
def test_long_poll_benchmark_records_both_sides():
    args = ["--json", "--rounds", "1", "--seconds", "1", "--clients", "2", "--waiting", "20"]
    rows = records("long_polls.py", *args)
    assert [row["name"] for row in rows] == [
        f"{route}_{side}_p50_ms" for route in ("healthz", "predict") for side in ("idle", "waiting")
    ]
    for row in rows:
        assert row["better"] == "lower"
        assert row["bench"] == "long_polls" and row["non_2xx"] == 0
        assert row["value"] > 0 and len(row["runs_p50_ms"]) == 1


@pytest.mark.slow
def test_peers_batch_records_every_repeat():
    rows = records("peers.py", "--json", "--only", "batch", "--repeats", "2", "--calls", "1")
    assert [row["name"] for row in rows] == [
        "predict_vs_onnxruntime_rows_ratio",
        "predict_vs_onnxruntime_listed_rows_ratio",
    ]
    assert [row["goal"] for row in rows] == [0.8, None]
    for row in rows:
        assert row["bench"] == "peers" and row["better"] == "higher"
        assert row["threads"] == 1 and row["rows"] == 10_000 and len(row["repeats"]) == 2
        assert row["min"] <= row["value"] <= row["max"] and row["cpu_ratio"] > 0


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("wrk") is None, reason="wrk is not installed (.ci/run installs it)"
)
def test_peers_serving_records_every_round():
    rows = records("peers.py", "--json", "--only", "serve", "--rounds", "1", "--seconds", "1")
    assert [row["name"] for row in rows] == [
        f"{route}_{n}_vs_mlflow_rps_ratio" for n in (1, 64) for route in ("predict", "v2_infer")
    ]
    for row in rows:
        assert row["bench"] == "peers" and row["goal"] == 2.0 and row["workers"] == 2
        (only,) = row["rounds"]
        # both servers answered every request, and the ratio is theirs
        assert only["failures"] == only["mlflow_failures"] == 0
        assert only["rps"] > 0 and only["mlflow_rps"] > 0 and row["value"] == only["ratio"]


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
@pytest.mark.parametrize(
    "body",
    [
        b'{"model_id": "m", "inputs": [[0.1, 2.0]]}',
        # what could close or escape a Lua string, a leading newline, bytes beyond ASCII
        b'\n{"a": "]] ]=] ]==] \\" \\\\ \\n \xc3\xa9 \xff"}]',
        b"]=",
    ],
)
def test_wrk_sends_the_body_byte_for_byte_and_counts_refusals(body):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    sys.path.insert(0, str(BENCH))
    from servers import run_wrk

    received = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            data = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.headers["Content-Type"], data))
            # every other answer a refusal, which wrk counts apart
            self.send_response(200 if len(received) % 2 else 404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/predict"
        figures = run_wrk(url, body, seconds=1, connections=1, threads=1)
    finally:
        server.shutdown()
        server.server_close()
    assert received and set(received) == {("application/json", body)}
    # answered requests, of which every other one refused
    assert 0 < figures["requests"] <= len(received)
    assert abs(figures["non_2xx"] - figures["requests"] / 2) <= 1
    assert figures["errors"] == 0 and figures["rps"] > 0
    assert 0 < figures["p50_ms"] <= figures["p99_ms"]


def test_report_turns_records_into_a_table_with_verdicts_and_every_run():
    sys.path.insert(0, str(BENCH))
    import report

    lines = [
        "Collecting torch  (pip's output is skipped)",
        json.dumps(
            {
                "bench": "p",
                "name": "up",
                "value": 5.2,
                "goal": 2,
                "better": "higher",
                "rounds": [{"ratio": 5.1}, {"ratio": 6.0}],
            }
        ),
        json.dumps(
            {
                "bench": "u",
                "name": "down",
                "value": 2.4,
                "goal": 2,
                "better": "lower",
                "runs": [1.9, 2.4, 3.0],
            }
        ),
        json.dumps({"bench": "j", "name": "info", "value": 5, "goal": None, "better": "lower"}),
        "{not json",
    ]
    rows = report.records(lines)
    assert [report.verdict(r) for r in rows] == ["PASS", "MISS", "-"]
    text = report.table(rows)
    assert "| p | up | 5.2 | 5.1, 6 | >= 2 | PASS |" in text
    assert "| u | down | 2.4 | 1.9, 2.4, 3 | <= 2 | MISS |" in text
    assert "| j | info | 5 |  | none | - |" in text
