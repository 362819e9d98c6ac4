"""A job's training data and a prediction's inputs as NumPy arrays, from JSON arrays, a
synthetic set or a stored CSV dataset, refusing what is not data.

Columns become a matrix in one place, :func:`columns_matrix`, for a dataset's columns and
a CSV body's alike.

JSON arrays arrive as Python lists that can hold millions of values. Each check here
runs in C (``map``, ``set``, ``itertools.chain`` and NumPy), never as a Python loop
over the values; only the error message, once something is known to be wrong, looks for
the first offending position.

What NumPy would silently accept is refused here: ``true`` among numbers would become
1.0, and labels mixing strings and numbers would all become strings.

String labels stay Python strings in an object array: a fixed-width NumPy string array
costs the longest label times the number of rows (gigabytes for one long label among many
short ones, in the API, in Redis and in the worker). Their length is bounded too
(``NNJOBS_MAX_LABEL_LENGTH``), as they become the model's classes and answers' values.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import chain
from typing import NoReturn

import numpy as np

import nn
from nn import LimitError, SpecError
from registry.tenants import DEFAULT_TENANT

from . import tables
from .errors import Invalid

_NUMBERS = {int, float}
_JSON_TYPE = {
    bool: "a boolean",
    type(None): "null",
    str: "a string",
    list: "an array",
    dict: "an object",
    int: "a number",
    float: "a number",
}


def _kind(value) -> str:
    return _JSON_TYPE.get(type(value), type(value).__name__)


def _first(rows: list, wrong) -> tuple[int, int]:
    """Row and column of the first value for which ``wrong(value)`` holds."""
    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            if wrong(value):
                return i, j
    raise AssertionError("no offending value")  # pragma: no cover - callers checked


def _check_size(field: str, n_values: int, max_values: int) -> None:
    if n_values > max_values:
        raise LimitError(
            field, f"{n_values} values, over the limit of {max_values} (NNJOBS_MAX_VALUES)"
        )


def matrix(rows: list, field: str, max_values: int) -> np.ndarray:
    """Rows of numbers as a float64 array of shape (n_rows, n_features).

    Raises
    ------
    SpecError
        Not rows, rows of different lengths, or a value that is not a number (its row and
        column are named). NaN and infinities are left to ``nn``, which names them too.
    LimitError
        More than ``max_values`` values.
    """
    if not rows:
        raise SpecError(field, "has no rows")
    if set(map(type, rows)) != {list}:
        i = next(i for i, row in enumerate(rows) if type(row) is not list)
        raise SpecError(field, f"must be a list of rows; row {i} is {_kind(rows[i])}")
    _check_size(field, sum(map(len, rows)), max_values)
    lengths = set(map(len, rows))
    if len(lengths) > 1:
        first = len(rows[0])
        i = next(i for i, row in enumerate(rows) if len(row) != first)
        raise SpecError(
            field,
            f"rows must all have the same length: row 0 has {first} values, "
            f"row {i} has {len(rows[i])}",
        )
    if 0 in lengths:
        raise SpecError(field, "rows have no features")
    if not set(map(type, chain.from_iterable(rows))) <= _NUMBERS:
        i, j = _first(rows, lambda v: type(v) not in _NUMBERS)
        raise SpecError(
            field, f"must hold only numbers; row {i}, column {j} is {_kind(rows[i][j])}"
        )
    try:
        return np.array(rows, dtype=np.float64)
    except OverflowError:
        i, j = _first(rows, _too_large)
        raise SpecError(field, f"row {i}, column {j} is too large for a number") from None


def _too_large(value) -> bool:
    try:
        float(value)
    except OverflowError:
        return True
    return False


def labels(values: list, field: str, max_values: int, max_label: int) -> np.ndarray:
    """Targets as an array: labels all of one type (integers, strings or booleans),
    numbers, or rows of numbers (a 0/1 label matrix or several regression targets).
    String labels are an object array (see the module's docstring).

    Raises
    ------
    SpecError
        Values of mixed types, or rows mixed with single values; ``nn`` checks the rest
        (the number of rows, classes, finite values).
    LimitError
        More than ``max_values`` values, or a label longer than ``max_label`` characters.
    """
    if not values:
        raise SpecError(field, "is empty")
    types = set(map(type, values))
    if list in types:
        if types != {list}:
            raise SpecError(field, "mixes rows (arrays) and single values")
        _check_size(field, sum(map(len, values)), max_values)
        cells = set(map(type, chain.from_iterable(values)))
        if not (cells <= _NUMBERS or cells == {bool}):
            i, j = _first(values, lambda v: type(v) not in _NUMBERS)
            raise SpecError(
                field, f"rows must hold only numbers; row {i}, column {j} is {_kind(values[i][j])}"
            )
    else:
        _check_size(field, len(values), max_values)
        if not (types <= _NUMBERS or types in ({bool}, {str})):
            found = sorted({_JSON_TYPE.get(t, t.__name__) for t in types})
            raise SpecError(
                field,
                "labels must all be of one type: integers, strings or booleans "
                f"(found {', '.join(found)})",
            )
        if types == {str}:
            return text_labels(values, field, max_label)
    try:
        return np.array(values)
    except (ValueError, OverflowError):
        raise SpecError(field, "rows must all have the same length") from None


def text_labels(values, field: str, max_label: int) -> np.ndarray:
    """String labels as an object array, none longer than ``max_label`` characters."""
    longest = max(map(len, values))
    if longest > max_label:
        i = next(i for i, v in enumerate(values) if len(v) > max_label)
        raise LimitError(
            field,
            f"label {i} has {len(values[i])} characters, over the limit of {max_label} "
            "(NNJOBS_MAX_LABEL_LENGTH)",
        )
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def columns_matrix(cols: list[tables.Column]) -> np.ndarray:
    """Numeric or boolean columns (checked by the caller: no text, nothing missing) as a
    float64 array of shape (n_rows, len(cols))."""
    return np.column_stack([_numbers(c) for c in cols])


def _numbers(col: tables.Column) -> np.ndarray:
    return col.values if col.kind == "numeric" else col.values.astype(np.float64)


# -- synthetic sets -----------------------------------------------------------------------


def synthetic(params: dict, max_values: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """``(X, y, params)`` for a synthetic set, every default filled in.

    Raises
    ------
    SpecError
        A parameter out of ``nn.synthetic``'s ranges.
    LimitError
        More than ``max_values`` values in X.
    """
    params = {**{k: p.default for k, p in nn.synthetic.PARAMS.items()}, **params}
    X, y = nn.synthetic.make(**params)
    if X.size > max_values:
        raise LimitError(
            "n_samples", f"{X.size} values in X, over the limit of {max_values} (NNJOBS_MAX_VALUES)"
        )
    return X, y, params


# -- training data ------------------------------------------------------------------------


def training_data(
    registry,
    data: dict,
    settings: Mapping,
    prefix: tuple = (),
    limits: nn.Limits = nn.DEFAULT_LIMITS,
    owner: tuple = (DEFAULT_TENANT, None),
) -> tuple:
    """``(X, y, w, where they came from: what the job's spec records, or None)`` from the
    request's ``data``, which sits at ``prefix`` in the body (a refusal, :class:`Invalid`,
    names the field from there), within the limits of ``settings``; ``w`` is the rows'
    weights (``data.weight``) or None (``nn`` checks their values); a dataset is looked
    up as ``owner`` (the tenant whose names, the tenant whose ids: None for any) sees it."""
    max_values, max_label = settings["NNJOBS_MAX_VALUES"], settings["NNJOBS_MAX_LABEL_LENGTH"]
    if "dataset" in data:
        try:
            return dataset_arrays(registry, data, max_values, max_label, limits, owner)
        except SpecError as e:  # named from data: data.target, data.features...
            raise Invalid(e, prefix) from None
    if "synthetic" in data:
        try:
            X, y, params = synthetic(data["synthetic"], max_values)
        except SpecError as e:
            raise Invalid(e, (*prefix, "data", "synthetic")) from None
        return X, y, None, {"synthetic": params}
    try:
        X = matrix(data["X"], "X", max_values)
        y = labels(data["y"], "y", max_values, max_label)
        w = None if data.get("weight") is None else weights(data["weight"], max_values)
    except SpecError as e:
        raise Invalid(e, (*prefix, "data")) from None
    return X, y, w, None


def weights(values: list, max_values: int) -> np.ndarray:
    """Row weights sent as JSON: numbers (their values are ``nn``'s to check)."""
    _check_size("weight", len(values), max_values)
    if not set(map(type, values)) <= _NUMBERS:
        i = next(i for i, v in enumerate(values) if type(v) not in _NUMBERS)
        raise SpecError("weight", f"must hold only numbers; row {i} is {_kind(values[i])}")
    return np.array(values, dtype=np.float64)


# -- a stored CSV dataset -----------------------------------------------------------------


def _refuse(field: str, reason: str) -> NoReturn:
    raise SpecError(f"data.{field}", reason)


def _load(registry, dataset_id: str, names: list[str], meta: dict) -> dict[str, tables.Column]:
    index = {c["name"]: i for i, c in enumerate(meta["columns"])}
    kinds = {c["name"]: c["kind"] for c in meta["columns"]}
    blobs = registry.dataset_columns(dataset_id, [index[n] for n in names])
    if blobs is None:  # deleted since its metadata was read
        _refuse("dataset", f"no dataset {dataset_id!r}")
    return {
        n: tables.Column.from_bytes(n, kinds[n], blob) for n, blob in zip(names, blobs, strict=True)
    }


def _no_missing(field: str, col: tables.Column) -> None:
    if col.missing.any():
        _refuse(
            field,
            f"column {col.name!r} has a missing value in data row {tables.first_row(col.missing)} "
            f"({int(col.missing.sum())} in all)",
        )


def _target(cols: list[tables.Column], several: bool, max_label: int) -> np.ndarray:
    for col in cols:
        if several and col.kind == "text":
            _refuse(
                "target",
                f"column {col.name!r} is text; several targets must be numbers (0/1 for "
                "multi-label, or values for regression) or booleans",
            )
        _no_missing("target", col)
    if not several:
        [col] = cols
        if col.kind == "text":
            try:
                return text_labels(col.values, "data.target", max_label)
            except LimitError as e:
                raise LimitError(e.field, f"column {col.name!r}: {e.reason}") from None
        if col.kind == "boolean":
            return col.values.astype(bool)
        # whole numbers are class labels, as integers in JSON are (output "linear" makes
        # them a regression target)
        values = col.values
        integral = np.isfinite(values).all() and np.all(values == np.round(values))
        if integral and np.abs(values).max() < 2**53:
            return values.astype(np.int64)
        return values
    return columns_matrix(cols)


def dataset_arrays(
    registry,
    data: dict,
    max_values: int,
    max_label: int,
    limits: nn.Limits = nn.DEFAULT_LIMITS,
    owner: tuple = (DEFAULT_TENANT, None),
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, dict]:
    """``(X, y, w, what the job's data records)`` for a job on a dataset: its feature
    columns prepared (:mod:`nn.preparation`: kinds, one-hot categories, missing values)
    and encoded; what it records holds the fitted preparation. ``w`` is the weight
    column's values (``data.weight``), or None: never a feature, nor in the preparation.

    Raises
    ------
    SpecError
        An unknown dataset or column, a missing value the job refuses (naming its column
        and data row), a categorical column over its cap with ``high_cardinality:
        "refuse"``, features overlapping the target or the weight, a weight column that
        is not numeric or holds a missing or negative value.
    LimitError
        More than ``max_values`` values in X, raw or encoded.
    """
    meta = registry.get_dataset(data["dataset"], *owner)
    if meta is None:
        _refuse("dataset", f"no dataset {data['dataset']!r}")
    dataset_id = meta["id"]
    names = [c["name"] for c in meta["columns"]]
    # sets, not lists, for every membership test: a dataset may have thousands of columns
    columns = set(names)
    several = isinstance(data["target"], list)
    target = data["target"] if several else [data["target"]]
    targets = set(target)
    given = data.get("features")
    weight = data.get("weight")
    if weight is not None and weight in targets:
        _refuse("weight", f"column {weight!r} is the target; it cannot be the weight")
    # the weight column is neither a feature nor a target
    targets_or_weight = targets | ({weight} if weight is not None else set())
    wanted_weight = [] if weight is None else [weight]
    # a list: those columns; a mapping: every column, with the kinds it names
    listed = list(given) if given is not None else []
    for field, wanted in (("target", target), ("features", listed), ("weight", wanted_weight)):
        unknown = [n for n in wanted if n not in columns]
        if unknown:
            _refuse(
                field,
                f"no column {unknown[0]!r} in dataset {dataset_id!r} (its columns: "
                f"{', '.join(names)})",
            )
    both = [n for n in listed if n in targets_or_weight]
    if both:
        role = "target" if both[0] in targets else "weight"
        _refuse("features", f"column {both[0]!r} is the {role}; it cannot be a feature")
    if isinstance(given, list) and len(set(given)) != len(given):
        seen: set[str] = set()
        twice = next(n for n in given if n in seen or seen.add(n))
        _refuse("features", f"column {twice!r} is named twice")
    if isinstance(given, list):
        features = given
    else:
        features = [n for n in names if n not in targets_or_weight]
    if not features:
        _refuse("features", "the dataset has no column left to learn from")
    n_values = meta["n_rows"] * len(features)
    if n_values > max_values:
        raise LimitError(
            "data.features",
            f"{n_values} values in X, over the limit of {max_values} (NNJOBS_MAX_VALUES)",
        )
    cols = _load(registry, dataset_id, [*features, *target, *wanted_weight], meta)
    w = None if weight is None else weight_column(cols[weight])
    keep = None
    if data.get("missing") == "drop_rows":
        lost = np.logical_or.reduce([cols[n].missing for n in target])
        if lost.all():
            _refuse("target", "every row misses the target: drop_rows leaves none")
        if lost.any():
            keep = ~lost
    y = _target([_rows(cols[n], keep) for n in target], several, max_label)
    table = {n: _rows(cols[n], keep).values for n in features}
    if w is not None and keep is not None:
        w = w[keep]
    options = {k: data[k] for k in nn.preparation.OPTION_KEYS if k in data}
    options["features"] = given if isinstance(given, dict) else features
    prep, X, y, w = nn.tabular.encode_weighted_table(
        table, y, w, options, limits, max_values, "data.features"
    )
    source = {
        "dataset": dataset_id,
        "target": data["target"],
        # as given, or the columns used: read again, the same inputs
        "features": given if isinstance(given, dict) else features,
        **{k: data[k] for k in nn.preparation.OPTION_KEYS[1:] if k in data},
        "preparation": prep.as_dict(),
    }
    if weight is None:
        return X, y, None, source
    return X, y, w, {**source, "weight": weight}


def weight_column(col: tables.Column) -> np.ndarray:
    """A dataset's weight column as float64, or SpecError on ``data.weight`` naming the
    column and the data row of a value that is missing, negative or not a number, or a
    column of zeros."""
    if col.kind != "numeric":
        _refuse("weight", f"column {col.name!r} is {col.kind}; a weight column holds numbers")
    _no_missing("weight", col)
    values = col.values
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        row = tables.first_row(bad)
        _refuse(
            "weight",
            f"column {col.name!r} has {values[row - 1]:g} in data row {row}; "
            "weights are finite numbers >= 0",
        )
    if not values.any():
        _refuse("weight", f"column {col.name!r} is 0 in every row: nothing to learn from")
    return values


def _rows(col: tables.Column, keep: np.ndarray | None) -> tables.Column:
    if keep is None:
        return col
    return tables.Column(col.name, col.kind, col.values[keep], col.missing[keep])
