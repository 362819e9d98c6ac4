"""``nnjobs train``: upload a CSV file, train on it, and watch the job."""

from __future__ import annotations

import contextlib
from pathlib import Path

import click
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from ..api import Client
from ..errors import APIError
from ..inputs import default_name
from ..progress import describe
from .common import (
    OK,
    Failed,
    common,
    compact,
    connect,
    emit,
    err,
    measures,
    metric,
    model_label,
    ordered,
    out,
)
from .judging import TOP_FEATURES, print_evaluation


def layers_option(ctx, param, value: str | None):
    if value is None:
        return None
    if value.strip().lower() in ("", "none", "0"):
        return []
    try:
        units = [int(part) for part in value.split(",")]
    except ValueError:
        raise click.BadParameter("comma-separated layer sizes, e.g. 32,32") from None
    if any(u < 1 for u in units):
        raise click.BadParameter("every layer needs at least 1 unit")
    return units


@click.command()
@click.argument("data", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--target", "-t", "targets", multiple=True, required=True, help="Column(s) to predict."
)
@click.option("--features", help="Comma-separated input columns (default: all the others).")
@click.option(
    "--layers",
    default="32,32",
    show_default=True,
    callback=layers_option,
    help="Hidden layer sizes; 'none' for no hidden layer.",
)
@click.option("--activation", help="Activation of the hidden layers (see `nnjobs activations`).")
# the service checks names (activations, outputs, statuses): its registries are the only list
@click.option("--output", help="Output layer: sigmoid, softmax or linear (inferred by default).")
@click.option("--epochs", type=click.IntRange(1), help="Training epochs.")
@click.option("--learning-rate", type=click.FloatRange(0, min_open=True), help="Learning rate.")
@click.option("--batch-size", type=click.IntRange(1), help="Batch size.")
@click.option("--validation-split", type=click.FloatRange(0, 1, max_open=True))
@click.option("--seed", type=int, help="Random seed.")
@click.option(
    "--early-stopping/--no-early-stopping",
    default=None,
    help="Stop when the validation loss stops improving (the service's default: on).",
)
@click.option("--name", help="Model name (default: the file's name).")
@click.option("--wait/--no-wait", default=False, help="Watch the job until it ends.")
@common
def train(data: Path, targets, features, layers, activation, output, name, wait, **options):
    """Upload a CSV file and train a network on it.

    With --wait, shows the training's progress until the job ends, then its metrics and
    the model's name@version. Ctrl-C stops watching; the job goes on.
    """
    client, as_json = connect(options)
    training = {
        key: options[key]
        for key in ("epochs", "learning_rate", "batch_size", "validation_split", "seed")
        if options.get(key) is not None
    }
    if options.get("early_stopping") is False:
        training["early_stopping"] = False
    if err.is_terminal and not as_json:
        err.print(f"uploading {data} ...")
    dataset = client.dataset(data)
    targets = list(targets)
    spec = {
        "name": name or default_name(data),
        "data": {"dataset": dataset["id"], "target": targets[0] if len(targets) == 1 else targets},
        "layers": [{"units": u} for u in layers],
    }
    if features:
        spec["data"]["features"] = [f.strip() for f in features.split(",") if f.strip()]
    if activation:
        spec["activation"] = activation
    if output:
        spec["output"] = output
    if training:
        spec["training"] = training
    try:
        job = client.submit(spec)
    except APIError:
        # a refused job leaves no dataset behind that nobody asked to keep
        with contextlib.suppress(APIError):
            client.delete_dataset(dataset["id"])
        raise
    if not wait:
        if as_json:
            emit({"dataset": dataset, "job": job, "model": None})
        else:
            out.print(f"job [bold]{job['id']}[/] {job['status']}")
            out.print(f"watch it with: nnjobs show {job['id']}")
        return OK
    job = watch(client, job, quiet=as_json)
    model = client.model(job["model_id"]) if job["status"] == "succeeded" else None
    if as_json:
        emit({"dataset": dataset, "job": job, "model": model})
    else:
        report(job, model)
    if model is None:
        raise Failed(job_failure(job))
    return OK


def watch(client: Client, job: dict, quiet: bool = False) -> dict:
    """Until the job ends, with a live progress bar on stderr (none when ``quiet``)."""
    if quiet:
        return wait_interruptibly(client, job, None)
    if not err.is_terminal:
        # no live display where nothing redraws it: a line per status instead
        seen = set()

        def changed(state: dict) -> None:
            if state["status"] not in seen:
                seen.add(state["status"])
                err.print(describe(state), markup=False)

        return wait_interruptibly(client, job, changed)
    progress = Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(bar_width=24),
        MofNCompleteColumn(),
        TextColumn("epochs"),
        TextColumn("{task.fields[metrics]}"),
        TimeRemainingColumn(),
        TextColumn("left"),
        console=err,
        transient=False,
    )
    task = progress.add_task(job["status"], total=None, metrics="")

    def update(state: dict) -> None:
        p = state.get("progress") or {}
        line = compact(
            {"loss": p.get("loss"), "val_loss": p.get("val_loss"), **p.get("metrics", {})}
        )
        epochs = p.get("epochs") or ((state.get("spec") or {}).get("training") or {}).get("epochs")
        done = p.get("epoch", 0)
        if state["status"] == "succeeded":
            epochs = done = done or epochs  # early stopping ends before the last epoch
        progress.update(task, description=state["status"], total=epochs, completed=done)
        progress.update(task, metrics=line)

    update(job)
    with progress:
        return wait_interruptibly(client, job, update)


def wait_interruptibly(client: Client, job: dict, on_progress) -> dict:
    try:
        return client.wait(job["id"], on_progress=on_progress)
    except KeyboardInterrupt:
        raise Interrupted(job["id"]) from None


class Interrupted(Exception):
    def __init__(self, job_id: str):
        super().__init__(
            f"stopped watching; job {job_id} goes on. Cancel it with: nnjobs cancel {job_id}"
        )


def job_failure(job: dict) -> str:
    error = job.get("error") or {}
    if job["status"] == "failed":
        return f"job {job['id']} failed: {error.get('type', 'Error')}: {error.get('message', '')}"
    return f"job {job['id']} {job['status']}"


def report(job: dict, model: dict | None) -> None:
    """The final state of a watched job."""
    p = job.get("progress") or {}
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("job", f"{job['id']} {job['status']}")
    if p.get("epoch"):
        best = f", best {p['best_epoch']}" if p.get("best_epoch") not in (None, p["epoch"]) else ""
        table.add_row("epochs", f"{p['epoch']} of {p.get('epochs', '?')}{best}")
    # the model's own metrics are those of the weights it kept (the best epoch's)
    values = model["metrics"] if model is not None and model.get("metrics") else measures(p)
    for key, value in ordered(values):
        table.add_row(key, metric(value))
    out.print(table)
    if model is not None:
        print_evaluation(model, top=TOP_FEATURES, matrix=False)
        out.print(f"model [bold green]{model_label(model)}[/] ({model['id']})")
