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


@pytest.mark.slow
def test_serving_benchmark_records_every_figure():
    args = ["--json", "--rounds", "2", "--seconds", "0.3", "--clients", "2", "--procs", "1"]
    rows = records("serve.py", *args, "--json-rows", "100")
    assert [row["name"] for row in rows] == [
        *(
            f"{route}_{n}_{what}"
            for route, n in (("predict", 1), ("predict", 64), ("v2_infer", 1))
            for what in ("rps_ratio", "cpu_ratio", "p99_ms")
        ),
        "json_orjson_speedup",
    ]
    for row in rows:
        assert row["bench"] == "serve" and row["better"] in ("higher", "lower")
        assert row["value"] > 0
    for row in rows:
        if row["name"].endswith("rps_ratio"):
            # every request of both sides was answered 200
            assert row["failures"] == row["bare_failures"] == 0
            assert row["rps"] > 0 and row["bare_rps"] > 0
        if row["name"].endswith("_ratio"):
            assert row["rounds"] == 2 and row["min"] <= row["value"] <= row["max"]


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
