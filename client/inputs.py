"""What the client sends: arrays, lists and DataFrames as the API's JSON rows and labels,
hidden layers in their short forms, a model name from a file's name."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np


def _is_dataframe(X) -> bool:
    # duck-typed, so that pandas is never imported by the client itself
    return type(X).__module__.split(".")[0] == "pandas" and hasattr(X, "to_numpy")


def _json_value(value):
    """A cell as JSON: NumPy scalars as Python ones, NaN (pandas' missing) as null."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


def inputs(X) -> list:
    """A prediction's ``inputs``: a list of dicts, or a DataFrame with columns that are
    not numbers (text, booleans), as raw row objects by column name; else :func:`rows`."""
    if _is_dataframe(X) and any(dtype.kind not in "iuf" for dtype in X.dtypes):
        X = X.to_dict("records")
    if isinstance(X, list) and X and isinstance(X[0], dict):
        return [{str(k): _json_value(v) for k, v in row.items()} for row in X]
    return rows(X)


def rows(X) -> list[list[float]]:
    """``X`` (array, list of rows, DataFrame) as JSON rows of finite numbers."""
    if _is_dataframe(X):
        X = X.to_numpy()
    try:
        array = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"X must hold numbers only: {e}") from None
    if array.ndim != 2:
        raise ValueError(f"X must be 2-D (rows of features), got shape {array.shape}")
    bad = ~np.isfinite(array)
    if bad.any():
        row, col = map(int, np.argwhere(bad)[0])
        raise ValueError(f"X[{row}, {col}] is {array[row, col]}; every value must be finite")
    return array.tolist()


def labels(y) -> list:
    """``y`` (array, list, Series) as JSON values: ints, strings, bools or numbers."""
    if _is_dataframe(y):
        y = y.to_numpy()
    array = np.asarray(y)
    if array.ndim == 0:
        raise ValueError("y must be a sequence of labels, one a row")
    return array.tolist()


def hidden_layers(layers) -> list[dict]:
    """``[32, 32]`` or ``"32,32"`` or layer objects -> the API's ``layers``."""
    if isinstance(layers, str):
        layers = [int(p) for p in layers.split(",") if p.strip()]
    return [dict(layer) if isinstance(layer, dict) else {"units": int(layer)} for layer in layers]


def default_name(path: str | os.PathLike) -> str:
    """A model name from a file's name: letters, digits, '.', '_' and '-' only."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(path).stem).strip("-.")[:64]
    return name or "model"
