"""``nnjobs datasets`` and ``activations``: the uploaded datasets, and the activation
functions the service knows."""

from __future__ import annotations

import click

from .common import column_text, common, connect, limit_option, listing, short_time


@click.command()
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


@click.command()
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
