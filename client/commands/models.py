"""``nnjobs models`` and ``predict``: the models, and their predictions for a CSV file."""

from __future__ import annotations

from pathlib import Path

import click

from .common import (
    OK,
    common,
    connect,
    emit,
    err,
    limit_option,
    listing,
    metrics_text,
    model_label,
    short_time,
)


@click.command()
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


@click.command()
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
