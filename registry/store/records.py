"""The job record: every field declared once, with how it is stored and where it is read.

:data:`JOB_FIELDS` drives the record written at creation (:func:`new_job`), the fields
written by the scripts (:func:`encode`), the Job read back (:func:`decode_job`) and the
summary of a sweep's jobs (:data:`SWEEP_FIELDS`): a new field is one line there, plus the
place that sets it.
"""

from __future__ import annotations

import copy
import io
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from nn.diagnostics import drop_epochs, extend

from .keys import new_id


def now_iso() -> str:
    """The current UTC time as ISO 8601 with milliseconds and a ``Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def npy(array: np.ndarray) -> bytes:
    """``array`` as ``.npy`` bytes (no pickles: only plain dtypes); an object array (of
    string labels) as a JSON list, whose size, unlike a fixed-width string array's, does
    not grow with the longest label."""
    array = np.asarray(array)
    if array.dtype.kind == "O":
        return json.dumps(array.tolist()).encode()
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def from_npy(blob: bytes) -> np.ndarray:
    """The array :func:`npy` wrote."""
    if blob.startswith(b"\x93NUMPY"):
        return np.load(io.BytesIO(blob), allow_pickle=False)
    values = json.loads(blob)
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


_UNSET = object()
_ENCODE = {"text": lambda v: v, "int": lambda v: v, "float": lambda v: repr(float(v))}
_ENCODE["json"] = json.dumps


def _iso_ms(ms: float | None) -> str | None:
    if ms is None:
        return None
    stamp = datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def _attempts(text: str) -> list[dict]:
    """The attempts the scripts keep (times in server ms) as the Job shows them."""
    stored = json.loads(text)
    return [
        {
            "attempt": int(a["attempt"]),
            "node": a.get("node") or None,
            "host": a.get("host") or None,
            "started_at": _iso_ms(a.get("started_ms")),
            "ended_at": _iso_ms(a.get("ended_ms")),
            "outcome": a["outcome"],
        }
        # cjson writes an empty list as {}
        for a in (stored if isinstance(stored, list) else [])
    ]


_DECODE = {"text": lambda s: s, "int": int, "float": float, "json": json.loads}
_DECODE["attempts"] = _attempts


@dataclass(frozen=True)
class Field:
    """One field of a job record.

    ``encoding``: ``text``, ``int``, ``float`` (stored as its ``repr``), ``json`` or
    ``attempts`` (JSON the scripts write, read only);
    ``job``: part of the Job that :func:`decode_job` returns; ``sweep``: part of each job
    a sweep lists; ``initial``: written when the job is created; ``absent``: read when the
    record lacks the field (or holds JSON null), for records older than the field.
    """

    encoding: str
    job: bool = True
    sweep: bool = False
    initial: object = _UNSET
    absent: object = None

    def encode(self, value) -> str | int:
        return _ENCODE[self.encoding](value)

    def decode(self, raw: bytes | None):
        value = None if raw is None else _DECODE[self.encoding](raw.decode())
        return copy.deepcopy(self.absent) if value is None else value


#: in the order of the Job's keys; the scripts set status, started_at, worker, attempts,
#: attempt_log, lease_until, started_ms, model_id and sent_ms
JOB_FIELDS: dict[str, Field] = {
    "id": Field("text", sweep=True),
    "name": Field("text"),
    "status": Field("text", sweep=True, initial="queued"),
    "created_at": Field("text"),
    "started_at": Field("text"),
    "finished_at": Field("text", sweep=True),
    "attempts": Field("int", initial=0, absent=0),
    # each attempt: the worker node and host, when it started and ended, its outcome
    # (written by the scripts only)
    "attempt_log": Field("attempts", absent=[]),
    "model_id": Field("text", sweep=True),
    "sweep_id": Field("text"),
    "training_seconds": Field("float"),
    "spec": Field("json"),
    "data": Field("json", sweep=True),
    "progress": Field("json", initial=None),
    # not stored any more (the epochs are, apart, and a succeeded job's history is its
    # model's); records stored before hold it whole
    "history": Field("json", absent={}),
    "error": Field("json", initial=None),
    "warnings": Field("json", initial=[], absent=[]),
    # why training ended: completed, early_stopping, diverged or cancelled
    "stop_reason": Field("text", sweep=True),
    # the model's final metrics, so a sweep ranks its jobs without reading their models
    "metrics": Field("json", job=False, sweep=True),
    # the model's evaluation (nn.metrics) and permutation importance, once succeeded
    "evaluation": Field("json"),
    "importance": Field("json"),
    "created_ms": Field("int", job=False),
    # whose job it is; a record stored before tenants existed is the tenant default's
    "tenant": Field("text", job=False, absent="default"),
    # when a training message was last sent for it (the API sends one at once)
    "sent_ms": Field("int", job=False),
    "worker": Field("text", job=False),
    "lease_until": Field("float", job=False),
    "started_ms": Field("int", job=False),
}
SWEEP_FIELDS = tuple(name for name, field in JOB_FIELDS.items() if field.sweep)
#: what a listing of jobs reads of each: the Job without its history
#: (the evaluation and importances, of up to 100 x 100 values, are left out with it)
SUMMARY_FIELDS = tuple(
    n for n, f in JOB_FIELDS.items() if f.job and n not in ("history", "evaluation", "importance")
)


def epoch_row(event: dict) -> dict:
    """One epoch as stored (a row of ``P:job:<id>:epochs``), from nn.fit's ``epoch``
    event: its loss, validation loss and metrics (those it has) and, when recorded, its
    diagnostics per hidden layer."""
    values = {
        "loss": event["loss"],
        "val_loss": event["val_loss"],
        **event["metrics"],
        "learning_rate": event.get("learning_rate"),
    }
    row = {key: value for key, value in values.items() if value is not None}
    if event.get("diagnostics") is not None:
        row["diagnostics"] = event["diagnostics"]
    return row


def add_epoch(history: dict, row: dict) -> dict:
    """Append one epoch's ``row`` to ``history`` (a series per value, ``diagnostics`` as
    :func:`nn.diagnostics.extend` keeps them); returns ``history``."""
    for key, value in row.items():
        if key == "diagnostics":
            extend(history.setdefault("diagnostics", []), value)
        else:
            history.setdefault(key, []).append(value)
    return history


def history_of(rows: list[bytes]) -> dict:
    """A running (or failed, or cancelled) job's history, from its stored epoch rows."""
    history: dict = {}
    for row in rows:
        add_epoch(history, json.loads(row))
    return history


def epochs_after(history: dict, since: int) -> dict:
    """``history`` from epoch ``since + 1`` on: each per-epoch series without its first
    ``since`` values (the lists of nn's ``History.as_dict``; the diagnostics' per layer),
    the job-level values (``best_epoch``, ``stop_reason``, ``lr_finder``...) as they are."""
    out = {}
    for key, value in history.items():
        if key == "diagnostics":
            out[key] = drop_epochs(value, since)
        else:
            # the series are the history's only lists: the rest is numbers, text and dicts
            out[key] = value[since:] if isinstance(value, list) else value
    return out


def encode(values: dict) -> dict:
    """Job fields as stored; a field missing from :data:`JOB_FIELDS` is a KeyError."""
    return {name: JOB_FIELDS[name].encode(value) for name, value in values.items()}


def encode_flat(values: dict) -> str:
    """Job fields as stored, as the JSON list ``[field, value, ...]`` the scripts take."""
    return json.dumps([item for pair in encode(values).items() for item in pair])


def new_job(name: str | None, spec: dict, data: dict, **extra) -> dict:
    """The record of a new queued job, as stored."""
    created_ms = int(time.time() * 1000)
    values = {n: f.initial for n, f in JOB_FIELDS.items() if f.initial is not _UNSET}
    values |= {
        "id": new_id(),
        "name": name or "model",
        "created_at": now_iso(),
        "created_ms": created_ms,
        "spec": spec,
        "data": data,
        "sent_ms": created_ms,
        **extra,
    }
    return encode(values)


def decode(names: tuple[str, ...], raw: list[bytes | None]) -> dict:
    """The fields ``names`` from their stored values (None for a missing one)."""
    return {n: JOB_FIELDS[n].decode(v) for n, v in zip(names, raw, strict=True)}


def decode_job(raw: dict, with_history: bool = True) -> dict | None:
    """The Job from its record as HGETALL returns it (its history: as the record holds
    it, see :meth:`registry.store.jobs.Jobs.get_job`); None for no record."""
    if not raw:
        return None
    stored = {k.decode(): v for k, v in raw.items()}
    names = tuple(n for n, f in JOB_FIELDS.items() if f.job)
    job = decode(names, [stored.get(n) for n in names])
    if not with_history:
        job.pop("history")
    return job


def decode_summary(raw: list[bytes | None]) -> dict | None:
    """The Job without its history from the :data:`SUMMARY_FIELDS` HMGET read; None
    for no record."""
    return decode(SUMMARY_FIELDS, raw) if raw[0] is not None else None
