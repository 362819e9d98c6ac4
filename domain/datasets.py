"""CSV datasets: parsed once on upload (:mod:`domain.tables`), described, and stored
column by column, so that jobs name them instead of sending their arrays."""

from __future__ import annotations

import re
from pathlib import PurePath

from . import numeric_csv, quotas, tables, tenancy
from .deadline import NONE, Deadline
from .errors import NotFound
from .services import Services
from .tenancy import Scope


def default_name(filename: str | None) -> str:
    """The uploaded file's name without extension, made a valid name; else "dataset"."""
    stem = PurePath(filename or "").stem
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("_")[:64]
    return stem or "dataset"


def store(
    svc: Services, data: bytes, name: str, deadline: Deadline = NONE, *, scope: Scope
) -> dict:
    """Parse a CSV file, type and describe its columns, and store them under ``name``.

    Raises :class:`domain.tables.TableError` for a file refused, Exceeded (429) over
    the tenant's stored bytes.
    """
    bounds = tables.Bounds.of(svc.settings)
    parsed = numeric_csv.read(data, bounds, deadline)
    if parsed is None:
        table = tables.read(data, bounds, deadline=deadline)
        parsed = tables.columns(table, deadline), table.n_rows
        del table  # its cells, several times the file, are no longer needed
    columns, n_rows = parsed
    meta = {
        "name": name,
        "n_rows": n_rows,
        "n_columns": len(columns),
        "size_bytes": len(data),
        "columns": [c.describe() for c in columns],
    }
    # each column freed as soon as its bytes are made: the file, the columns and their
    # bytes are never all held at once
    columns.reverse()
    blobs = []
    while columns:
        blobs.append(columns.pop().to_bytes())
    quotas.check_bytes(svc, scope, sum(len(b) for b in blobs), "the dataset")
    return svc.registry.create_dataset(meta, blobs, scope.tenant)


def not_found(dataset_id: str) -> NotFound:
    return NotFound(f"no dataset {dataset_id!r}")


def get(svc: Services, dataset_id: str, *, scope: Scope) -> dict:
    """A dataset by id, or by name: the newest of that name."""
    dataset = svc.registry.get_dataset(dataset_id, scope.tenant, scope.reach)
    if dataset is None:
        raise not_found(dataset_id)
    return dataset


def delete(svc: Services, dataset_id: str, *, scope: Scope) -> None:
    """Delete a dataset by id or name; jobs submitted and models trained on it stay."""
    resolved = tenancy.dataset_id(svc, scope, dataset_id)
    # deleting by id, not by name: the name could name a newer upload meanwhile
    if resolved is None or svc.registry.delete_dataset(resolved, scope.reach) is None:
        raise not_found(dataset_id)
