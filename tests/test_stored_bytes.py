"""What the store holds and sends grows with what it must: a progress write sends only the
epochs it adds, a sweep's data is stored once, and a history once (in the model)."""

from __future__ import annotations

import json

import numpy as np

import nn
from registry.store import Registry
from worker.tasks import Reporter, run_job

SPEC = {"layers": [{"units": 8}, {"units": 8}], "training": {"epochs": 60, "seed": 1}}


def _queued(reg: Registry, spec: dict = SPEC, n: int = 120) -> tuple[dict, np.ndarray, list]:
    X, y = nn.synthetic.make("moons", n_samples=n, noise=0.1, seed=0)
    resolved, data = nn.validate(spec, X, y)
    return reg.create_job(name="bytes", spec=resolved, data=data, X=X, y=y), X, y


def _epoch(epoch: int, epochs: int) -> dict:
    """An epoch event as nn.fit sends it, with two hidden layers' diagnostics."""
    layer = {"activation": "relu", "units": 8, "saturated_fraction": None}
    return {
        "event": "epoch",
        "epoch": epoch,
        "epochs": epochs,
        "loss": 0.5 + 1 / (epoch + 3),
        "val_loss": 0.6 + 1 / (epoch + 7),
        "metrics": {"accuracy": 0.8 + 1 / (epoch + 11), "val_accuracy": 0.75},
        "best_epoch": epoch,
        "diagnostics": [
            {**layer, "layer": i, "grad_norm": 0.1 / (epoch + i), "dead_fraction": 0.125}
            for i in (1, 2)
        ],
    }


def _sent_bytes(reg: Registry) -> list[int]:
    """Records the bytes of the arguments of every progress script call of ``reg``."""
    sizes: list[int] = []
    run = reg.scripts.run

    def counting(name, *, keys, args):
        if name == "progress":
            sizes.append(sum(len(str(value).encode()) for value in args.values()))
        return run(name, keys=keys, args=args)

    reg.scripts.run = counting
    return sizes


def _history_as_before(events: list[dict]) -> dict:
    """The history as the worker built and stored it whole on every write until now."""
    history: dict = {}
    for event in events:
        row = {"loss": event["loss"], "val_loss": event["val_loss"], **event["metrics"]}
        row["learning_rate"] = event.get("learning_rate")
        for key, value in row.items():
            if value is not None:
                history.setdefault(key, []).append(value)
        if event.get("diagnostics") is not None:
            nn.diagnostics.extend(history.setdefault("diagnostics", []), event["diagnostics"])
    return history


def test_a_progress_write_sends_the_same_bytes_at_any_epoch(reg):
    job, _, _ = _queued(reg)
    reg.start_job(job["id"])
    sizes = _sent_bytes(reg)
    epochs = 2000
    reporter = Reporter(reg, job["id"], interval=0)
    events = [_epoch(e, epochs) for e in range(1, epochs + 1)]
    for event in events:
        reporter(event)
    assert len(sizes) == epochs
    # one epoch a write: what the 2,000th sends is what the 10th sent (give or take a
    # digit of the epoch number); sending the history whole, it was over 100 times more
    assert sizes[-1] - sizes[9] < 16, (sizes[9], sizes[-1])
    assert max(sizes) < 2000
    # the stored history is what it was, to the byte
    stored = reg.get_job(job["id"])["history"]
    assert json.dumps(stored) == json.dumps(_history_as_before(events))
    # and the record itself does not grow with the epochs: they are a list apart. Every
    # field counted (samples=0): Redis's default estimate scales 5 fields, in an order
    # that changes with each server's hash seed, and read 1.3-4.2 kB for these 2.4 kB
    record = reg.r.memory_usage(reg.keys.job(job["id"]), samples=0)
    assert record < 4096, record


def test_a_write_repeated_after_its_reply_was_lost_appends_nothing_twice(reg):
    job, _, _ = _queued(reg)
    reg.start_job(job["id"])
    rows = [{"loss": 1.0}, {"loss": 0.9}, {"loss": 0.8}]
    assert reg.report_progress(job["id"], {"epoch": 2}, rows[:2], first=0)
    # the same two again (their reply lost), then the third
    assert reg.report_progress(job["id"], {"epoch": 3}, rows, first=0)
    assert reg.get_job(job["id"])["history"] == {"loss": [1.0, 0.9, 0.8]}
    # a new attempt trains from its first epoch: the last one's epochs are not its own
    reg.r.hset(reg.keys.job(job["id"]), "lease_until", 0)
    assert reg.claim_job(job["id"])[0] == "started"
    assert reg.get_job(job["id"])["history"] == {}


def test_a_real_run_reads_back_the_history_it_trained_and_stores_it_once(reg):
    spec = {"layers": [{"units": 8}, {"units": 8}], "training": {"epochs": 300, "seed": 1}}
    job, X, y = _queued(reg, {**spec, "training": {**spec["training"], "early_stopping": False}})
    # a failed run keeps the epochs it wrote, as they were written
    events: list[dict] = []
    reg.start_job(job["id"])
    reporter = Reporter(reg, job["id"], interval=0)
    nn.fit(job["spec"], X, y, lambda e: (events.append(e), reporter(e))[1])
    reg.fail_job(job["id"], "TrainingError", "stopped")
    expected = _history_as_before([e for e in events if e["event"] == "epoch"])
    assert json.dumps(reg.get_job(job["id"])["history"]) == json.dumps(expected)

    # a succeeded one reads the model's, the one copy: the job's keys hold no history
    job, _, _ = _queued(reg, {**spec, "training": {**spec["training"], "early_stopping": False}})
    assert run_job(reg, job["id"]) == "succeeded"
    done = reg.get_job(job["id"])
    model = reg.get_model(done["model_id"])
    assert done["history"] == model["history"] and len(model["history"]["loss"]) == 300
    history_bytes = len(json.dumps(model["history"]))
    job_bytes = sum(
        reg.r.memory_usage(key) or 0
        for key in (reg.keys.job(job["id"]), reg.keys.epochs(job["id"]))
    )
    assert history_bytes > 20_000 and job_bytes < history_bytes / 4, (job_bytes, history_bytes)


def _bytes_under(reg: Registry) -> int:
    return sum(reg.r.memory_usage(key) or 0 for key in reg.r.scan_iter(f"{reg.prefix}:*"))


def test_a_sweep_stores_its_data_once_and_drops_it_with_its_last_job(reg):
    X = np.random.default_rng(0).normal(size=(20_000, 10))  # 1.6 MB as .npy
    y = (X[:, 0] > 0).astype(int)
    spec, data = nn.validate({"layers": [{"units": 4}]}, X, y)
    n = 16
    jobs = [
        {"name": "s", "spec": spec, "data": data, "vary": {"learning_rate": i}} for i in range(n)
    ]
    before = _bytes_under(reg)
    sweep_id, job_ids = reg.create_sweep(name="s", vary={}, jobs=jobs, X=X, y=y)
    stored = _bytes_under(reg) - before
    # once: one copy and the records, where a copy per job was 16 copies
    assert X.nbytes < stored < 1.5 * X.nbytes, (stored, X.nbytes)
    x, y_back, _ = reg.load_data(job_ids[-1])
    assert np.array_equal(x, X) and np.array_equal(y_back, y)

    reg.cancel_job(job_ids[0])
    assert reg.load_data(job_ids[0]) is None  # an ended job has no data to train on
    assert reg.r.exists(*reg.keys.sweep_data(sweep_id)) == 2  # the others still need it
    reg.start_job(job_ids[1])
    reg.fail_job(job_ids[1], "X", "y")
    assert reg.load_data(job_ids[2]) is not None
    reg.cancel_sweep(sweep_id)
    assert reg.r.exists(*reg.keys.sweep_data(sweep_id), reg.keys.sweep_users(sweep_id)) == 0
    assert _bytes_under(reg) - before < X.nbytes / 4
