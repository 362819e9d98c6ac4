"""Raw table columns: reading a table, missing values, numbers, categories as text and
the kind a column is inferred to be (see :mod:`nn.preparation`).

Values are compared as text: a category is the string of its value, booleans as
``true``/``false`` and numbers in their shortest form (``94110``, not ``94110.0``), so a
row from JSON and the same row from a CSV file land on the same columns.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from .errors import SpecError

Array = np.ndarray

#: text cells that mean "no value" (after stripping surrounding spaces)
MISSING_TEXT = ("", "NA", "N/A", "NaN", "nan", "null", "NULL")
_MISSING_SET = frozenset(MISSING_TEXT)


def is_table(X) -> bool:
    """Whether ``X`` is a table (columns by name, or rows as mappings), not a matrix."""
    if isinstance(X, Mapping):
        return True
    return isinstance(X, list) and bool(X) and isinstance(X[0], Mapping)


def columns_of(X, field: str = "X") -> dict[str, Array]:
    """A table's columns, each an array of one value per row (absent cells None).

    Raises
    ------
    SpecError
        Not a table, no rows or columns, columns of different lengths.
    """
    if isinstance(X, Mapping):
        cols = {}
        for name, values in X.items():
            if not isinstance(name, str) or not name:
                raise SpecError(field, f"column names must be non-empty text, not {name!r}")
            arr = np.asarray(values) if isinstance(values, np.ndarray) else _objects(values)
            if arr.ndim != 1:
                raise SpecError(field, f"column {name!r} must be a list of values")
            cols[name] = arr
        lengths = {len(v) for v in cols.values()}
        if len(lengths) > 1:
            raise SpecError(field, "columns must all have the same number of values")
    elif isinstance(X, list) and X:
        bad = next((i for i, row in enumerate(X) if not isinstance(row, Mapping)), None)
        if bad is not None:
            raise SpecError(field, f"row {bad} is not an object of column names to values")
        names = list(dict.fromkeys(k for row in X for k in row))
        bad_name = next((n for n in names if not isinstance(n, str) or not n), None)
        if bad_name is not None:
            raise SpecError(field, f"column names must be non-empty text, not {bad_name!r}")
        cols = {n: _objects([row.get(n) for row in X]) for n in names}
    else:
        raise SpecError(field, "must be a table: columns by name, or a list of row objects")
    if not cols:
        raise SpecError(field, "has no columns")
    if not len(next(iter(cols.values()))):
        raise SpecError(field, "has no rows")
    return cols


def _objects(values: Sequence) -> Array:
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


def _is_missing(v) -> bool:
    if v is None:
        return True
    if isinstance(v, float):
        return math.isnan(v)
    return isinstance(v, str) and v.strip() in _MISSING_SET


def _per_distinct(fn, values: Array, dtype) -> Array | None:
    """``fn`` of each value, called once per distinct value (hashed in C, not sorted), or
    None for values that are not hashable. Values equal across types (``True == 1``)
    share a result: callers pass values of one type, or an ``fn`` that agrees on them."""
    try:
        table = {v: fn(v) for v in dict.fromkeys(values.tolist())}
    except TypeError:
        return None
    return np.fromiter(map(table.__getitem__, values.tolist()), dtype=dtype, count=len(values))


def missing_mask(values: Array) -> Array:
    """True where a value is missing: None, NaN, or a text cell of :data:`MISSING_TEXT`."""
    if values.dtype.kind == "f":
        return np.isnan(values)
    if values.dtype.kind in "biu":
        return np.zeros(len(values), dtype=bool)
    # _is_missing agrees on values equal across types: None, NaN and text equal nothing else
    found = _per_distinct(_is_missing, values, bool)
    if found is None:
        return np.fromiter(map(_is_missing, values), dtype=bool, count=len(values))
    return found


def _number(v) -> float | None:
    """A value as a float, or None if it is not one (booleans are not numbers)."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(
        v, (int, float, str, np.integer, np.floating)
    ):
        return None
    try:
        return float(v)
    except (ValueError, OverflowError):  # text, or an integer too large for a float
        return None


def number_key(x: float) -> str:
    """A number as a category: its shortest form, integers without a decimal point."""
    if x.is_integer() and abs(x) < 2**53:
        return str(int(x))
    return repr(x)


def category_key(v) -> str:
    """A present value as a category (see the module's docstring)."""
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    x = _number(v)
    if x is not None and math.isfinite(x):
        return number_key(x)
    text = v.strip() if isinstance(v, str) else str(v)
    return text.lower() if text.lower() in ("true", "false") else text


def infer_kind(values: Array, missing: Array) -> str:
    """``numeric`` when every present value is a number (or text of one), else
    ``categorical``."""
    if values.dtype.kind in "fiu":
        return "numeric"
    if values.dtype.kind == "b":
        return "categorical"
    present = values[~missing]
    types = set(map(type, present))
    if bool in types or np.bool_ in types:
        return "categorical"
    if types <= {int, float}:
        return "numeric"
    parsed = _per_distinct(_number, present, object) if len(types) == 1 else None
    if parsed is None:
        parsed = list(map(_number, present))
    return "numeric" if all(x is not None for x in parsed) else "categorical"


def numbers(name: str, values: Array, missing: Array, field: str) -> Array:
    """A column as float64, NaN where missing; refuses text and infinities by row."""
    if values.dtype.kind in "fiu":
        out = values.astype(np.float64)
    else:
        out = np.full(len(values), np.nan)
        for i in np.flatnonzero(~missing):
            x = _number(values[i])
            if x is None:
                raise SpecError(
                    field, f"column {name!r}, row {i + 1}: {values[i]!r} is not a number"
                )
            out[i] = x
    bad = np.isinf(out)
    if bad.any():
        i = int(np.argmax(bad))
        raise SpecError(field, f"column {name!r}, row {i + 1}: {out[i]} is not a finite number")
    return out


def category_keys(values: Array, missing: Array) -> Array:
    """A column's categories as text, None where missing."""
    out = np.empty(len(values), dtype=object)
    if values.dtype.kind == "f":
        uniq, inverse = np.unique(values[~missing], return_inverse=True)
        out[~missing] = np.array([number_key(float(u)) for u in uniq], dtype=object)[inverse]
        return out
    present = values[~missing]
    if len(set(map(type, present))) == 1:
        # one type (text, booleans): each distinct value turned once
        found = _per_distinct(category_key, present, object)
        if found is not None:
            out[~missing] = found
            return out
    memo: dict = {}
    for i in np.flatnonzero(~missing):
        v = values[i]
        k = (type(v), v)
        key = memo.get(k)
        if key is None:
            key = memo[k] = category_key(v)
        out[i] = key
    return out
