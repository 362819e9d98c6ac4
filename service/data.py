"""Turning the data arrays of a request into NumPy arrays, refusing what is not data.

JSON arrays arrive as Python lists that can hold millions of values. Each check here
runs in C (``map``, ``set``, ``itertools.chain`` and NumPy), never as a Python loop
over the values; only the error message, once something is known to be wrong, looks for
the first offending position.

What NumPy would silently accept is refused here: ``true`` among numbers would become
1.0, and labels mixing strings and numbers would all become strings.
"""

from __future__ import annotations

from itertools import chain

import numpy as np

from nn import LimitError, SpecError

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


def labels(values: list, field: str, max_values: int) -> np.ndarray:
    """Targets as an array: labels all of one type (integers, strings or booleans),
    numbers, or rows of numbers (a 0/1 label matrix or several regression targets).

    Raises
    ------
    SpecError
        Values of mixed types, or rows mixed with single values; ``nn`` checks the rest
        (the number of rows, classes, finite values).
    LimitError
        More than ``max_values`` values.
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
    try:
        return np.array(values)
    except (ValueError, OverflowError):
        raise SpecError(field, "rows must all have the same length") from None
