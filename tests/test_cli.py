"""The `nnjobs` command line, run as the installed console script against the running
service (and against nothing, for the exit code of an unreachable service)."""

from __future__ import annotations

import csv
import fcntl
import io
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import onnx
import pytest
from conftest import free_port
from live_service import ROOT, live_log, live_url, wait_until  # noqa: F401  (live_url: a fixture)
from table_helpers import csv_text, mixed_table

import nn
from client import Client

NNJOBS = Path(sys.executable).parent / "nnjobs"
IRIS = ROOT / "examples" / "iris.csv"
SPECIES = {"setosa", "versicolor", "virginica"}


def plain(drawn: str) -> str:
    """Terminal output without its colours and cursor moves."""
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", drawn)


def nnjobs(
    *args, url: str | None = None, timeout: float = 60, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    command = [NNJOBS, *map(str, args)]
    if url:
        command += ["--url", url]
    env = {k: v for k, v in os.environ.items() if not k.startswith("NNJOBS_")}
    return subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd
    )


def _hear_ctrl_c() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def in_terminal(args, timeout: float = 90, interrupt_when=None) -> tuple[int, str]:
    """Run ``nnjobs args`` on a pseudo-terminal 120 columns wide; returns its exit code
    and everything it drew. Once ``interrupt_when(text)`` is true, it gets a SIGINT."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NNJOBS_", "NO_COLOR"))}
    env.update(TERM="xterm-256color", COLUMNS="120", LINES="40")
    proc = subprocess.Popen(
        [NNJOBS, *map(str, args)],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        # a command typed in a terminal hears Ctrl-C; one started in the background by a
        # shell without job control (nohup, `cmd &` in a script, some CI runners) inherits
        # SIGINT ignored, and a Python started so keeps ignoring it
        preexec_fn=_hear_ctrl_c,
    )
    os.close(slave)
    chunks: list[bytes] = []
    interrupted = False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: every copy of the terminal's other end is closed
                    break
                if not data:
                    break
                chunks.append(data)
            text = b"".join(chunks).decode(errors="replace")
            if interrupt_when and not interrupted and interrupt_when(text):
                proc.send_signal(signal.SIGINT)
                interrupted = True
            if proc.poll() is not None and not ready:
                break
        else:
            raise AssertionError(f"nnjobs {args} still running after {timeout} s")
        return proc.wait(10), b"".join(chunks).decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


@pytest.fixture(scope="module")
def trained(live_url):  # noqa: F811
    """A model trained through the Python client, for the commands that show things."""
    X, y = nn.synthetic.make("xor", n_samples=80, noise=0.05, seed=0)
    job = Client(live_url).train(
        X, y, layers=[8], name="cli-xor", epochs=20, learning_rate=0.05, progress=False
    )
    return job


def test_service_down_is_exit_3_with_one_line():
    url = f"http://127.0.0.1:{free_port()}"
    # a GET is retried (with pauses adding up to under 2 s) before giving up; a DELETE is not
    for args in (["jobs"], ["cancel", "abc"]):
        result = nnjobs(*args, url=url)
        assert result.returncode == 3, (args, result.stderr)
        assert result.stderr.count("\n") == 1, result.stderr
        assert result.stderr.startswith("error: cannot reach"), result.stderr
        assert result.stdout == ""


def test_service_down_while_uploading_is_exit_3(tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("a,b\n1,x\n2,y\n")
    result = nnjobs("train", data, "--target", "b", url=f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 3, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: cannot reach")


@pytest.mark.parametrize(
    "args",
    [
        ["train"],
        ["train", "no-such-file.csv", "--target", "y"],
        ["train", __file__, "--target", "y", "--layers", "a,b"],
        ["train", __file__, "--target", "y", "--epochs", "0"],
        ["predict", "model-only"],
        ["no-such-command"],
    ],
)
def test_bad_usage_is_exit_2(args):
    result = nnjobs(*args, url=f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 2, result.stderr
    assert "Usage:" in result.stderr and "Traceback" not in result.stderr


def test_a_refused_request_is_exit_2_with_the_apis_message(live_url, trained):  # noqa: F811
    result = nnjobs("show", "no-such-thing", url=live_url)
    assert result.returncode == 2
    assert result.stderr == "error: no job or model 'no-such-thing'\n"

    result = nnjobs("cancel", trained["id"], url=live_url)  # it has ended: 409
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "succeeded" in result.stderr

    result = nnjobs("jobs", "--status", "bogus", url=live_url)
    assert result.returncode == 2
    assert result.stderr.startswith("error: status: Must be one of")

    result = nnjobs("show", "no-such-thing", "--json", url=live_url)
    assert result.returncode == 2
    assert json.loads(result.stdout)["error"]["code"] == 404


def test_json_output_parses(live_url, trained):  # noqa: F811
    jobs = json.loads(nnjobs("jobs", "--json", url=live_url).stdout)
    assert trained["id"] in {job["id"] for job in jobs}
    succeeded = json.loads(nnjobs("jobs", "--status", "succeeded", "--json", url=live_url).stdout)
    assert {job["status"] for job in succeeded} == {"succeeded"}
    models = json.loads(nnjobs("models", "--json", url=live_url).stdout)
    assert trained["model_id"] in {m["id"] for m in models}
    shown = json.loads(nnjobs("show", trained["id"], "--json", url=live_url).stdout)
    assert shown["job"]["id"] == trained["id"] and shown["job"]["status"] == "succeeded"
    shown = json.loads(nnjobs("show", "cli-xor@1", "--json", url=live_url).stdout)
    assert shown["model"]["id"] == trained["model_id"]
    found = json.loads(nnjobs("activations", "--json", url=live_url).stdout)
    names = {n for a in found for n in (a["name"], *a["aliases"])}
    assert set(nn.hidden_activation_names()) <= names


def test_tables_show_ids_and_names(live_url, trained):  # noqa: F811
    result = nnjobs("jobs", url=live_url)
    assert result.returncode == 0 and trained["id"] in result.stdout
    result = nnjobs("models", "--name", "cli-xor", url=live_url)
    assert "cli-xor@1" in result.stdout and trained["model_id"] in result.stdout
    result = nnjobs("show", "cli-xor", url=live_url)
    assert "cli-xor@1" in result.stdout and "sigmoid" in result.stdout
    # the parity certificate, one line that the table may wrap
    words = " ".join(result.stdout.split())
    assert "parity ONNX (opset 13, onnxruntime" in words and "labels agree" in words
    # a job shows who trained it: the worker program names itself uniquely per process
    result = nnjobs("show", trained["id"], url=live_url)
    assert re.search(r"attempt 1 +succeeded on nnjobs-\d+-[0-9a-f]{4}@", result.stdout), (
        result.stdout
    )
    result = nnjobs("activations", url=live_url)
    assert all(name in result.stdout for name in nn.hidden_activation_names())


def test_show_prints_the_confusion_matrix_and_the_importances(live_url, trained):  # noqa: F811
    model = Client(live_url).model("cli-xor")
    evaluation = model["evaluation"]
    result = nnjobs("show", "cli-xor", url=live_url)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "confusion matrix" in text and "true \\ predicted" in text
    cells = [[c.strip() for c in line.strip("│").split("│")] for line in text.splitlines()]
    for label, row in zip(evaluation["classes"], evaluation["confusion_matrix"], strict=True):
        assert [str(label), *(f"{v:.0f}" for v in row)] in cells, text
    assert f"accuracy {evaluation['accuracy']:.3f}" in text
    assert "feature importance" in text and "x0" in text and "x1" in text


def test_the_client_returns_the_evaluation_as_arrays(live_url, trained):  # noqa: F811
    client = Client(live_url)
    got = client.evaluation("cli-xor")
    evaluation = client.model("cli-xor")["evaluation"]
    assert got.confusion_matrix.shape == (2, 2)
    assert got.confusion_matrix.tolist() == evaluation["confusion_matrix"]
    assert got.recall.tolist() == evaluation["recall"] and got.classes.tolist() == [0, 1]
    assert got.metrics["roc_auc"] == evaluation["roc_auc"]
    assert sorted(got.features.tolist()) == ["x0", "x1"]
    assert got.importance.shape == got.importance_std.shape == (2,)


# ---------------------------------------------------------------- CSV datasets


def test_train_waits_with_a_progress_bar_and_names_the_model(live_url):  # noqa: F811
    code, drawn = in_terminal(
        [
            "train",
            IRIS,
            "--target",
            "species",
            "--layers",
            "16",
            "--epochs",
            "150",
            "--learning-rate",
            "0.02",
            "--name",
            "cli-iris",
            "--wait",
            "--url",
            live_url,
        ]
    )
    assert code == 0, drawn
    assert "\x1b[" in drawn and "━" in drawn  # rich drew a live bar on the terminal
    assert "150/150" in drawn or "epochs" in drawn
    assert "val_loss" in drawn and "accuracy" in drawn
    assert "Traceback" not in drawn
    # the metrics it is judged by, and the features that matter most
    assert "evaluation on 30 validation rows: accuracy" in plain(drawn)
    assert "feature importance" in drawn and "petal_width" in drawn
    model = Client(live_url).model("cli-iris")
    assert f"model cli-iris@{model['version']} ({model['id']})" in plain(drawn)


def test_train_json_then_predict_writes_csv(live_url, tmp_path):  # noqa: F811
    result = nnjobs(
        "train",
        IRIS,
        "--target",
        "species",
        "--layers",
        "8",
        "--epochs",
        "60",
        "--learning-rate",
        "0.05",
        "--name",
        "cli-iris-json",
        "--wait",
        "--json",
        url=live_url,
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["job"]["status"] == "succeeded"
    # watched a few epochs at a time, the job shown holds the whole history
    whole = Client(live_url).job(document["job"]["id"])["history"]
    assert document["job"]["history"] == whole and whole["loss"]
    assert document["dataset"]["n_rows"] == 150
    model = document["model"]
    assert model["name"] == "cli-iris-json" and sorted(model["classes"]) == sorted(SPECIES)

    out = tmp_path / "out.csv"
    ref = f"cli-iris-json@{model['version']}"
    result = nnjobs("predict", ref, IRIS, "-o", out, url=live_url)
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 150
    assert {f"p_{name}" for name in SPECIES} <= set(rows[0]) and "prediction" in rows[0]
    assert {row["prediction"] for row in rows} <= SPECIES
    for row in rows[:5]:
        assert abs(sum(float(row[f"p_{name}"]) for name in SPECIES) - 1) < 1e-3

    to_stdout = nnjobs("predict", ref, IRIS, url=live_url)
    assert to_stdout.returncode == 0
    assert list(csv.DictReader(io.StringIO(to_stdout.stdout))) == rows

    as_json = json.loads(nnjobs("predict", ref, IRIS, "--json", url=live_url).stdout)
    assert len(as_json["predictions"]) == 150


def test_train_takes_a_table_of_text_and_missing_cells_with_no_flags(live_url, tmp_path):  # noqa: F811
    table, labels = mixed_table()
    data = tmp_path / "penguins.csv"
    data.write_text(csv_text(table, labels))
    result = nnjobs("train", data, "--target", "species", "--wait", "--json", url=live_url)
    assert result.returncode == 0, result.stderr
    model = json.loads(result.stdout)["model"]
    assert model["features"] == ["length", "island", "tagged", "zip"]
    assert model["preparation"]["encoded"][:2] == ["length", "length=<missing>"]
    ref = f"{model['name']}@{model['version']}"
    shown = nnjobs("show", ref, url=live_url).stdout
    median = model["preparation"]["features"][0]["median"]
    assert f"length (numeric, missing -> {median:g}), island (3 categories + other, missing)" in (
        " ".join(shown.split())
    )
    rows = list(csv.DictReader(io.StringIO(nnjobs("predict", ref, data, url=live_url).stdout)))
    assert len(rows) == len(labels) and {row["prediction"] for row in rows} <= {"big", "small"}
    right = sum(row["prediction"] == label for row, label in zip(rows, labels, strict=True))
    assert right > 0.8 * len(rows)


def test_a_refused_job_is_exit_2_with_its_field(live_url):  # noqa: F811
    result = nnjobs(
        "train", IRIS, "--target", "species", "--activation", "nope", "--wait", url=live_url
    )
    assert result.returncode == 2
    assert "error: " in result.stderr and "activation" in result.stderr
    assert "Traceback" not in result.stderr
    before = len(Client(live_url).datasets())
    result = nnjobs("train", IRIS, "--target", "no_such_column", url=live_url)
    assert result.returncode == 2 and "no_such_column" in result.stderr
    assert len(Client(live_url).datasets()) == before  # the upload was taken back


LONG = ["--target", "species", "--layers", "64,64", "--epochs", "100000", "--no-early-stopping"]


def running_job(url: str, name: str) -> dict:
    client = Client(url)

    def found():
        return next((j for j in client.jobs(status="running") if j["name"] == name), None)

    try:
        return wait_until(found, 60, interval=0.2, what=f"a running job named {name}")
    except AssertionError as e:
        # say what became of it, so that a failure here tells its cause
        named = [
            {k: j.get(k) for k in ("id", "status", "error", "stop_reason", "progress")}
            for j in client.jobs(limit=100)
            if j["name"] == name
        ]
        logged = "\n".join(live_log(job["id"]) for job in named)
        raise AssertionError(f"{e}; jobs named {name}: {named}; logged:\n{logged}") from None


def test_a_cancelled_job_is_exit_1(live_url):  # noqa: F811
    command = [NNJOBS, "train", IRIS, *LONG, "--name", "cli-cancel", "--wait", "--json"]
    proc = subprocess.Popen(
        [*map(str, command), "--url", live_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        job = running_job(live_url, "cli-cancel")
        assert nnjobs("cancel", job["id"], url=live_url).returncode == 0
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, stderr
    assert stderr == f"error: job {job['id']} cancelled\n"
    assert json.loads(stdout)["job"]["status"] == "cancelled"


def test_ctrl_c_stops_watching_and_says_how_to_cancel(live_url):  # noqa: F811
    code, drawn = in_terminal(
        ["train", IRIS, *LONG, "--name", "cli-interrupt", "--wait", "--url", live_url],
        interrupt_when=lambda text: "running" in text,
    )
    job = running_job(live_url, "cli-interrupt")  # still running: only the watching stopped
    Client(live_url).cancel(job["id"])
    assert code == 130, drawn
    assert f"nnjobs cancel {job['id']}" in plain(drawn)
    assert "Traceback" not in drawn


def test_fix_submits_the_sweep_of_a_warning_and_refuses_without_one(live_url):  # noqa: F811
    client = Client(live_url)
    line = client.submit(
        {
            "name": "cli-fix",
            "data": {"synthetic": {"name": "spiral", "n_samples": 200}},
            "activation": "linear",
            "training": {"epochs": 30},
        }
    )
    line = client.wait(line["id"], timeout=60)
    assert [w["code"] for w in line["warnings"]] == ["near_chance"], line["warnings"]
    done = nnjobs("fix", line["id"], url=live_url)
    assert done.returncode == 0, done.stderr
    assert re.match(r"sweep \w+ queued: 3 jobs varying activation", plain(done.stdout))
    sweep = json.loads(nnjobs("fix", line["id"], "--json", url=live_url).stdout)
    assert sweep["vary"] == line["warnings"][0]["fix"]["vary"]

    clean = client.wait(
        client.submit({"data": {"synthetic": {"name": "circle", "n_samples": 200}}})["id"],
        timeout=60,
    )
    refused = nnjobs("fix", clean["id"], url=live_url)
    assert refused.returncode == 2 and "no warning that offers a fix" in refused.stderr


def test_export_writes_files_that_import_takes_back(live_url, trained, tmp_path):  # noqa: F811
    out = tmp_path / "xor.onnx"
    result = nnjobs("export", "cli-xor@1", "--format", "onnx", "-o", str(out), url=live_url)
    assert result.returncode == 0, result.stderr
    assert f"to {out}" in result.stderr
    assert onnx.load_from_string(out.read_bytes()).graph.output[1].name == "label"
    result = nnjobs(
        "export", "cli-xor@1", "--format", "nnjobs", "--json", url=live_url, cwd=tmp_path
    )
    written = json.loads(result.stdout)
    assert written["path"] == "cli-xor-1.nnjobs" and (tmp_path / "cli-xor-1.nnjobs").exists()
    result = nnjobs(
        "import", str(tmp_path / "cli-xor-1.nnjobs"), "--name", "cli-moved", url=live_url
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("model cli-moved@")
    result = nnjobs("import", str(out), "--name", "cli-moved", url=live_url)
    assert result.returncode == 2 and result.stderr.startswith("error: file: not an nnjobs model")
