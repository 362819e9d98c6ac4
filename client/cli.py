"""``nnjobs``: the command line of the nnjobs API.

Exit codes: 0 success; 1 the job failed or was cancelled (or the service failed);
2 bad usage, including a request the API refused (4xx); 3 the service cannot be reached
(or stayed unavailable); 130 interrupted (Ctrl-C). Errors are one line on stderr,
``error: <message>``, followed by the offending fields when the API named several.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from .api import DEFAULT_URL, Client, default_name, describe
from .errors import APIError, ServiceUnavailable

OK, JOB_FAILED, USAGE, UNREACHABLE, INTERRUPTED = 0, 1, 2, 3, 130

# piped output is not cut to 80 columns: ids must stay whole to be copied
out = Console(highlight=False, width=None if sys.stdout.isatty() else 240)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class Failed(Exception):
    """A command's outcome that is not success but no error of the API (exit code 1)."""


def common(command):
    """The options every command has: where the service is, and JSON output."""
    command = click.option(
        "--json", "as_json", is_flag=True, help="Print one JSON document instead of tables."
    )(command)
    command = click.option(
        "--api-key",
        envvar="NNJOBS_API_KEY",
        help="API key, when the service needs one (env NNJOBS_API_KEY).",
    )(command)
    return click.option(
        "--url",
        envvar="NNJOBS_URL",
        default=DEFAULT_URL,
        show_default=True,
        help="The service's URL (env NNJOBS_URL).",
    )(command)


def emit(document) -> None:
    click.echo(json.dumps(document, indent=2, default=str))


def model_label(model: dict) -> str:
    return f"{model['name']}@{model['version']}" if model.get("name") else model["id"]


def metric(value) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) else "-"


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


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
def cli():
    """Train neural networks on the nnjobs service and get predictions from them.

    Exit codes: 0 success, 1 the job failed or was cancelled, 2 bad usage or a request
    the service refused, 3 the service cannot be reached, 130 interrupted.
    """


# ---------------------------------------------------------------------- train


@cli.command()
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
        out.print(f"model [bold green]{model_label(model)}[/] ({model['id']})")


# ---------------------------------------------------------------------- predict


@cli.command()
@click.argument("model")
@click.argument("data", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--out",
    "destination",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the CSV here (default: stdout).",
)
@common
def predict(model, data: Path, destination: Path | None, **options):
    """Predictions of MODEL (id, name or name@version) for the rows of a CSV file, as CSV:
    the key columns, one p_<class> column per class and the prediction."""
    client, as_json = connect(options)
    if as_json:
        emit(client.predict(model, data).raw)
        return OK
    text = client.predict_csv(model, data.read_bytes())
    if destination is None:
        click.echo(text, nl=not text.endswith("\n"))
    else:
        destination.write_text(text)
        err.print(f"wrote {max(0, text.count(chr(10)) - 1)} predictions to {destination}")
    return OK


# ---------------------------------------------------------------------- listings


limit_option = click.option("--limit", type=click.IntRange(1), default=50, show_default=True)


def listing(items: list[dict], as_json: bool, columns: tuple[str, ...], row) -> int:
    """``items`` as JSON, or as a table of ``row(item)`` rows."""
    if as_json:
        emit(items)
        return OK
    table = Table(*columns)
    for item in items:
        table.add_row(*row(item))
    out.print(table)
    return OK


@cli.command()
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


@cli.command()
@click.option("--name", help="Only the versions of this name.")
@limit_option
@common
def models(name, limit, **options):
    """Models, newest first."""
    client, as_json = connect(options)

    def row(model):
        return (
            model_label(model),
            model["id"],
            model.get("output") or "-",
            str(model.get("n_features", "-")),
            ", ".join(map(str, model.get("classes") or [])) or "-",
            metrics_text(model.get("metrics")),
            short_time(model.get("created_at")),
        )

    columns = ("model", "id", "output", "inputs", "classes", "metrics", "created")
    return listing(client.models(name=name, limit=limit), as_json, columns, row)


@cli.command()
@limit_option
@common
def datasets(limit, **options):
    """Uploaded datasets, newest first."""
    client, as_json = connect(options)

    def row(ds):
        return (
            ds["id"],
            ds.get("name") or "-",
            str(ds.get("n_rows", "-")),
            ", ".join(column_text(c) for c in ds.get("columns") or []),
            short_time(ds.get("created_at")),
        )

    columns = ("id", "name", "rows", "columns", "created")
    return listing(client.datasets(limit=limit), as_json, columns, row)


@cli.command()
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
        table.add_row("data", json.dumps(record.get("data")))
        table.add_row("spec", json.dumps(record.get("spec")))
    else:
        table.add_row("model", model_label(record))
        for key in ("id", "job_id", "created_at", "output", "n_features"):
            if record.get(key) is not None:
                table.add_row(key, str(record[key]))
        if record.get("features"):
            table.add_row("features", ", ".join(map(str, record["features"])))
        if record.get("classes") is not None:
            table.add_row("classes", ", ".join(map(str, record["classes"])))
        table.add_row("layers", json.dumps(record.get("layers")))
        table.add_row("metrics", metrics_text(record.get("metrics")))
    out.print(table)
    return OK


@cli.command()
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


@cli.command()
@common
def activations(**options):
    """The activation functions a layer may use, with their parameters."""
    client, as_json = connect(options)

    def row(item):
        params = "; ".join(f"{p['name']}={p['default']} ({p['range']})" for p in item["params"])
        name = item["name"] + "".join(f" ({alias})" for alias in item["aliases"])
        return name, ", ".join(item["usage"]), item["formula"], params or "-"

    columns = ("name", "used in", "formula", "parameters")
    return listing(client.activations(), as_json, columns, row)


# ---------------------------------------------------------------------- helpers


def connect(options: dict) -> tuple[Client, bool]:
    return Client(options["url"], api_key=options.get("api_key")), options["as_json"]


def styled_status(status: str) -> str:
    colour = {"succeeded": "green", "failed": "red", "cancelled": "yellow", "running": "cyan"}
    return f"[{colour[status]}]{status}[/]" if status in colour else status


def short_time(stamp: str | None) -> str:
    return stamp[:19].replace("T", " ") if stamp else "-"


def measures(progress: dict) -> dict:
    """A job's progress as one dict of measures, like a model's ``metrics``."""
    own = {key: progress.get(key) for key in ("loss", "val_loss")}
    return {**own, **(progress.get("metrics") or {})}


def metrics_text(metrics: dict | None) -> str:
    return compact(metrics or {}) or "-"


def compact(values: dict) -> str:
    """``loss 0.085  val_loss 0.338  acc 0.975  val_acc 0.900``: the main measures, short."""
    return "  ".join(
        f"{key.replace('accuracy', 'acc')} {value:.3f}" for key, value in ordered(values)
    )


def ordered(values: dict) -> list[tuple[str, float]]:
    """The numeric measures, each beside its validation twin: loss, val_loss, accuracy..."""
    bases = [key for key in values if not key.startswith("val_")]
    bases += [key.removeprefix("val_") for key in values if key.removeprefix("val_") not in bases]
    pairs = [
        (prefix + base, values.get(prefix + base)) for base in bases for prefix in ("", "val_")
    ]
    return [(key, value) for key, value in pairs if isinstance(value, int | float)]


def column_text(column: dict) -> str:
    return f"{column['name']} ({column.get('kind', '?')})"


def fail(message: str, code: int, lines=(), as_json=False, error: dict | None = None) -> int:
    """One line on stderr (and, with --json, the error as the JSON document)."""
    if as_json:
        emit({"error": error or {"message": message}})
    err.print(f"error: {message}", markup=False, highlight=False)
    for line in lines:
        err.print(f"  {line}", markup=False, highlight=False)
    return code


def main(argv: list[str] | None = None) -> None:
    """The ``nnjobs`` console script."""
    args = sys.argv[1:] if argv is None else list(argv)
    as_json = "--json" in args
    try:
        code = cli.main(args=args, prog_name="nnjobs", standalone_mode=False)
    except click.exceptions.Exit as e:
        code = e.exit_code
    except click.ClickException as e:
        e.show()
        code = e.exit_code  # 2 for usage errors
    except (click.exceptions.Abort, KeyboardInterrupt):
        err.print("interrupted")
        code = INTERRUPTED
    except Interrupted as e:
        err.print(str(e), markup=False)
        code = INTERRUPTED
    except ServiceUnavailable as e:
        code = fail(e.message, UNREACHABLE, as_json=as_json, error=error_document(e))
    except APIError as e:
        extra = [line for line in e.field_errors if line not in e.message]
        code = USAGE if e.code is not None and 400 <= e.code < 500 else JOB_FAILED
        code = fail(e.message, code, extra, as_json=as_json, error=error_document(e))
    except Failed as e:
        code = fail(str(e), JOB_FAILED)
    except BrokenPipeError:
        code = OK  # handled below
    except (OSError, ValueError) as e:
        code = fail(str(e), USAGE, as_json=as_json)
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        # a reader that went away (`nnjobs jobs | head`) is no error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(code if isinstance(code, int) else OK)


def error_document(e: APIError) -> dict:
    return {"code": e.code, "message": e.message, "errors": e.errors}


if __name__ == "__main__":
    main()
