"""``nnjobs models``, ``predict``, ``export`` and ``import``: the models, their predictions
for a CSV file, and models as files."""

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


def out_option(help: str):
    return click.option(
        "-o", "--out", "destination", type=click.Path(dir_okay=False, path_type=Path), help=help
    )


@click.command()
@click.argument("model")
@click.argument("data", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@out_option("Write the CSV here (default: stdout).")
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


#: format -> the extension of the file it is written to by default
EXPORT_EXTENSIONS = {"onnx": "onnx", "mlflow": "zip", "nnjobs": "nnjobs"}


@click.command()
@click.argument("model")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(list(EXPORT_EXTENSIONS)),
    default="onnx",
    show_default=True,
    help="onnx: an ONNX graph; mlflow: a zipped MLflow model; nnjobs: for `nnjobs import`.",
)
@out_option("Write the file here (default: MODEL.<extension> in this directory).")
@common
def export(model, fmt: str, destination: Path | None, **options):
    """Download MODEL (id, name or name@version) as a file."""
    client, as_json = connect(options)
    data = client.export(model, fmt)
    if destination is None:
        destination = Path(f"{model.replace('@', '-')}.{EXPORT_EXTENSIONS[fmt]}")
    destination.write_bytes(data)
    if as_json:
        emit({"model": model, "format": fmt, "path": str(destination), "bytes": len(data)})
    else:
        err.print(f"wrote {model} as {fmt} to {destination} ({len(data):,} bytes)")
    return OK


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", required=True, help="The name to store it under (a new version).")
@common
def import_(file: Path, name: str, **options):
    """Store a model exported with `nnjobs export --format nnjobs` from FILE."""
    client, as_json = connect(options)
    stored = client.import_model(file, name)
    if as_json:
        emit(stored)
    else:
        click.echo(f"model {model_label(stored)} ({stored['id']})")
    return OK
