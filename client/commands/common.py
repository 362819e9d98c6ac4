"""What the commands share: the options every command has, the consoles, the exit codes
and the ways of printing records and measures."""

from __future__ import annotations

import json
import sys

import click
from rich.console import Console
from rich.table import Table

from ..api import Client
from ..transport import DEFAULT_URL

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
