"""MLflow's python_function loader for a model exported by nnjobs.

This file travels inside the exported MLflow model (``code/nnjobs_pyfunc.py``) and is
self-contained: it needs NumPy and onnxruntime, nothing of nnjobs. The model itself is
the ONNX graph beside it (``model.onnx``), loaded from data, never unpickled.

``predict`` takes rows of numbers (a DataFrame, a NumPy array or a list of rows) and
returns the graph's outputs by name: ``probabilities`` and ``label`` for a classifier,
``values`` for a regression. A graph that carries its preparation takes one column per
raw feature (a DataFrame, a mapping of column name to values, or a list of row
mappings): numbers, NaN or None where missing, for a ``double`` input; for a ``string``
input any value, turned into the text the graph compares as nnjobs compares categories
(booleans ``true``/``false``, numbers in their shortest form, text without surrounding
spaces, a missing cell ``""``).
"""

import math

import numpy as np
import onnxruntime

#: the preparation's missing-value texts (nn.columns.MISSING_TEXT)
MISSING_TEXT = ("", "NA", "N/A", "NaN", "nan", "null", "NULL")


def _number(v):
    if isinstance(v, (bool, np.bool_)) or not isinstance(
        v, (int, float, str, np.integer, np.floating)
    ):
        return None
    try:
        return float(v)
    except (ValueError, OverflowError):
        return None


def category_text(v):
    """A cell as the graph's text (nn.columns.category_key; missing cells ``""``)."""
    if v is None or (isinstance(v, (float, np.floating)) and math.isnan(v)):
        return ""
    if isinstance(v, str) and v.strip() in MISSING_TEXT:
        return ""
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    x = _number(v)
    if x is not None and math.isfinite(x):
        return str(int(x)) if x.is_integer() and abs(x) < 2**53 else repr(x)
    text = v.strip() if isinstance(v, str) else str(v)
    return text.lower() if text.lower() in ("true", "false") else text


def _number_cell(v):
    if v is None or (isinstance(v, str) and v.strip() in MISSING_TEXT):
        return math.nan
    return float(v)


def _columns(model_input):
    """Column name -> list of values, from a DataFrame, a mapping or a list of rows."""
    if hasattr(model_input, "to_dict") and hasattr(model_input, "columns"):
        return {c: list(model_input[c]) for c in model_input.columns}
    if isinstance(model_input, dict):
        return {k: list(v) for k, v in model_input.items()}
    names = {k for row in model_input for k in row}
    return {k: [row.get(k) for row in model_input] for k in names}


class NnjobsOnnxModel:
    """The ONNX graph, run by onnxruntime on the CPU."""

    def __init__(self, path):
        self.session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        self.inputs = self.session.get_inputs()
        self.input = self.inputs[0].name
        self.outputs = [o.name for o in self.session.get_outputs()]

    def predict(self, model_input, params=None):
        if len(self.inputs) == 1 and self.input == "inputs":
            x = np.asarray(model_input, dtype=np.float64)
            if x.ndim == 1:
                x = x.reshape(1, -1)
            fed = {self.input: x}
        else:
            cols = _columns(model_input)
            fed = {}
            for inp in self.inputs:
                if inp.type == "tensor(string)":
                    column = np.array([category_text(v) for v in cols[inp.name]], dtype=object)
                else:
                    column = np.array([_number_cell(v) for v in cols[inp.name]], np.float64)
                fed[inp.name] = column.reshape(-1, 1)
        values = self.session.run(self.outputs, fed)
        # no strict=: the loader runs on Pythons older than 3.10 too
        return dict(zip(self.outputs, values))  # noqa: B905


def _load_pyfunc(data_path):
    """The entry point MLflow calls with the path of the flavor's ``data``."""
    return NnjobsOnnxModel(data_path)
