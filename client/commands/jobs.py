"""``nnjobs jobs``, ``show``, ``cancel`` and ``fix``: the jobs, and one job or model."""

from __future__ import annotations

import json

import click
from rich.table import Table

from ..errors import APIError
from ..progress import describe
from .common import (
    OK,
    common,
    connect,
    emit,
    limit_option,
    listing,
    metric,
    metrics_text,
    model_label,
    out,
    short_time,
    styled_status,
)
from .judging import print_evaluation


def parity_text(cert: dict) -> str:
    """The parity certificate in one line."""
    if not cert.get("exportable"):
        return f"not exportable to ONNX: {cert.get('reason')}"
    labels = {True: "labels agree", False: "LABELS DIFFER", None: "no labels"}
    return (
        f"ONNX (opset {cert['opset']}, {cert['runtime']}): max |diff| "
        f"{cert['max_abs_difference']:.2g} in {cert['compared']} over {cert['rows']} "
        f"{cert['rows_from']} rows + {cert['extreme_rows']} extreme, "
        f"{labels[cert['labels_agree']]}"
    )


@click.command()
@click.option("--status", help="Only jobs in this status (queued, running, succeeded...).")
@limit_option
@common
def jobs(status, limit, **options):
    """Jobs, newest first."""
    client, as_json = connect(options)

    def row(job):
        p = job.get("progress") or {}
        epoch = f"{p['epoch']}/{p.get('epochs', '?')}" if p.get("epoch") else "-"
        return (
            job["id"],
            job.get("name") or "-",
            styled_status(job["status"]),
            epoch,
            metric(p.get("loss")),
            metric(p.get("val_loss")),
            short_time(job.get("created_at")),
        )

    columns = ("id", "name", "status", "epoch", "loss", "val_loss", "created")
    return listing(client.jobs(status=status, limit=limit), as_json, columns, row)


@click.command()
@click.argument("ref")
@common
def show(ref, **options):
    """A job, or else a model (id, name or name@version)."""
    client, as_json = connect(options)
    kind, record = "job", None
    try:
        record = client.job(ref)
    except APIError as e:
        if e.code != 404:
            raise
    if record is None:
        try:
            kind, record = "model", client.model(ref)
        except APIError as e:
            if e.code != 404:
                raise
            raise APIError(404, f"no job or model {ref!r}") from None
    if as_json:
        emit({kind: record})
        return OK
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    if kind == "job":
        table.add_row("job", record["id"])
        for key in ("name", "status", "created_at", "started_at", "finished_at", "model_id"):
            if record.get(key) is not None:
                value = styled_status(record[key]) if key == "status" else str(record[key])
                table.add_row(key, value)
        if record.get("progress"):
            table.add_row("progress", describe(record).split(": ", 1)[-1])
        if record.get("error"):
            error = record["error"]
            table.add_row("error", f"{error.get('type')}: {error.get('message')}")
        for a in record.get("attempt_log") or ():
            ended = f" to {a['ended_at']}" if a.get("ended_at") else ""
            where = a.get("node") or "?"
            if a.get("host") and a["host"] not in where:
                where += f" ({a['host']})"
            table.add_row(
                f"attempt {a['attempt']}", f"{a['outcome']} on {where}, {a['started_at']}{ended}"
            )
        table.add_row("data", json.dumps(record.get("data")))
        table.add_row("spec", json.dumps(record.get("spec")))
    else:
        table.add_row("model", model_label(record))
        for key in ("id", "job_id", "created_at", "output", "n_features"):
            if record.get(key) is not None:
                table.add_row(key, str(record[key]))
        if record.get("preparation"):
            table.add_row(
                "features", ", ".join(map(feature_text, record["preparation"]["features"]))
            )
        elif record.get("features"):
            table.add_row("features", ", ".join(map(str, record["features"])))
        if record.get("classes") is not None:
            table.add_row("classes", ", ".join(map(str, record["classes"])))
        table.add_row("layers", json.dumps(record.get("layers")))
        table.add_row("metrics", metrics_text(record.get("metrics")))
        if record.get("parent"):
            parent = record["parent"]
            table.add_row("trained from", f"{model_label(parent)} ({parent['id']})")
        if record.get("parity"):
            table.add_row("parity", parity_text(record["parity"]))
    out.print(table)
    if kind == "model":
        print_evaluation(record)
    return OK


def feature_text(feature: dict) -> str:
    """A raw feature as the model prepares it: ``length (numeric, missing -> 40.5)``,
    ``island (3 categories + other, missing)``."""
    if feature["kind"] == "numeric":
        imputed = f", missing -> {feature['median']:g}" if feature["indicator"] else ""
        return f"{feature['name']} (numeric{imputed})"
    levels = f"{len(feature['categories'])} categories + other"
    if feature.get("n_folded"):
        levels += f" ({feature['n_folded']} folded)"
    return f"{feature['name']} ({levels}{', missing' if feature['missing_level'] else ''})"


@click.command()
@click.argument("job_id")
@common
def cancel(job_id, **options):
    """Cancel a queued or running job."""
    client, as_json = connect(options)
    job = client.cancel(job_id)
    if as_json:
        emit(job)
    else:
        out.print(f"job {job['id']} {job['status']}")
    return OK


@click.command()
@click.argument("job_id")
@click.option("--warning", type=int, default=0, show_default=True, help="Which warning (0-based).")
@common
def fix(job_id, warning, **options):
    """Test the fix a job's warning offers: submit its sweep (the job's own values first)."""
    client, as_json = connect(options)
    sweep = client.fix(job_id, warning)
    if as_json:
        emit(sweep)
    else:
        vary = ", ".join(f"{k} {json.dumps(v)}" for k, v in sweep["vary"].items())
        out.print(f"sweep {sweep['id']} {sweep['status']}: {sweep['n_jobs']} jobs varying {vary}")
    return OK
