"""The parity certificate: the exported ONNX graph, run by onnxruntime, against nn's own
predictions on the same rows.

It is computed where a model is stored (the worker, on the job's validation rows; the
API, on an imported model), so onnxruntime is a runtime dependency: a certificate is a
measurement of the file that is served, on the runtime that reads it, not a property
assumed from tests run elsewhere.

Rows compared: the given ones (validation rows, or rows drawn around the training mean)
plus :data:`EXTREME_ROWS` rows at :data:`SIGMAS` standard deviations from the mean, in
sign patterns that reach the saturated and overflowing ends of every activation.

A model whose graph carries its preparation (one input per raw feature) is fed raw
columns: the given rows, which are the network's inputs, are turned back into the raw
values they encode (:func:`raw_table`: the median's indicator set gives a missing value,
a one-hot group its category, ``<other>`` an unseen one, ``<missing>`` an empty cell),
and ``Model.predict`` reads the same raw columns through its own preparation. The
extreme rows keep their numeric columns and take every category, ``<other>`` and a
missing cell in turn.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import onnxruntime

import nn
from nn.columns import category_keys, missing_mask

from .onnx_graph import INPUT, OPSET, ExportRefused, preparation_name, to_onnx

#: how far from the training mean, in standard deviations, the extreme rows lie
SIGMAS = 50.0
#: extreme rows added to those compared: every feature +, every feature -, and signs drawn
EXTREME_ROWS = 8
_SEED = 20180


def session(onnx_bytes: bytes) -> onnxruntime.InferenceSession:
    """An onnxruntime session on the CPU, quiet about what it optimizes away."""
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    # one thread: a certificate is a few thousand rows, and a worker's cores are its
    # training processes'
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])


def feeds(sess: onnxruntime.InferenceSession, table: Mapping) -> dict[str, np.ndarray]:
    """A raw table (column name -> values) as the inputs of a graph with one input per
    raw feature: a ``double`` input takes numbers, NaN where missing; a ``string`` input
    the category as text (:func:`nn.columns.category_keys`), ``""`` where missing."""
    out = {}
    for inp in sess.get_inputs():
        values = np.empty(len(table[inp.name]), dtype=object)
        values[:] = list(table[inp.name])
        missing = missing_mask(values)
        if inp.type == "tensor(string)":
            column = np.where(missing, "", category_keys(values, missing)).astype(object)
        else:
            column = np.where(missing, np.nan, values).astype(np.float64)
        out[inp.name] = column.reshape(-1, 1)
    return out


def run(sess: onnxruntime.InferenceSession, x) -> dict[str, np.ndarray]:
    """The graph's outputs by name for rows ``x`` (n, n_features), or for a raw table
    (column name -> values) when the graph carries the preparation."""
    names = [o.name for o in sess.get_outputs()]
    fed = feeds(sess, x) if isinstance(x, Mapping) else {INPUT: np.asarray(x, np.float64)}
    return dict(zip(names, sess.run(names, fed), strict=True))


def carries_preparation(model: nn.Model) -> bool:
    """Whether the model's graph takes raw columns (one input per feature)."""
    return isinstance(model.preparation, nn.Preparation) and preparation_name(model) is not None


def _unseen(f) -> str:
    """A category that is neither kept nor folded: what ``<other>`` decodes to."""
    token = "<other>"
    while token in f.categories or token in (f.folded or ()):
        token = f"<{token}>"
    return token


def raw_table(prep: nn.Preparation, x: np.ndarray) -> dict[str, list]:
    """The raw columns that rows ``x`` (n, n_encoded) of the network's inputs encode
    (a one-hot group's largest column is its category, so rows drawn at random decode
    too)."""
    table, groups = {}, prep.groups()
    for f in prep.features:
        cols = x[:, groups[f.name]]
        if f.kind == "numeric":
            value = cols[:, 0].astype(object)
            if f.indicator:
                value[cols[:, 1] > 0.5] = None
            table[f.name] = [None if v is None else float(v) for v in value]
            continue
        levels = [*f.categories, _unseen(f)] + ([""] if f.missing_level else [])
        table[f.name] = [levels[j] for j in cols.argmax(axis=1)]
    return table


def extreme_table(model: nn.Model, n: int = EXTREME_ROWS, sigmas: float = SIGMAS) -> dict:
    """:func:`extreme_rows` as raw columns: numbers at ``sigmas`` standard deviations (a
    missing one every third row where the column had an indicator), categories, the
    unseen one and a missing cell in turn."""
    x, groups = extreme_rows(model, n, sigmas), model.preparation.groups()
    table = {}
    for f in model.preparation.features:
        if f.kind == "numeric":
            col = [float(v) for v in x[:, groups[f.name][0]]]
            table[f.name] = [None if f.indicator and i % 3 == 2 else v for i, v in enumerate(col)]
        else:
            levels = [*f.categories, _unseen(f), ""]
            table[f.name] = [levels[i % len(levels)] for i in range(n)]
    return table


def extreme_rows(model: nn.Model, n: int = EXTREME_ROWS, sigmas: float = SIGMAS) -> np.ndarray:
    """``n`` rows (n, n_features) at ``sigmas`` standard deviations from the mean."""
    rng = np.random.default_rng(_SEED)
    signs = rng.choice([-1.0, 1.0], size=(n, model.n_features))
    signs[0], signs[1 % n] = 1.0, -1.0
    return model.x_scaler.mean + sigmas * model.x_scaler.scale * signs


def drawn_rows(model: nn.Model, n: int) -> np.ndarray:
    """``n`` rows drawn around the mean the model was trained with, one standard deviation
    wide: where a model without its data (an imported one) is compared."""
    rng = np.random.default_rng(_SEED + 1)
    return model.x_scaler.mean + model.x_scaler.scale * rng.standard_normal((n, model.n_features))


def expected(model: nn.Model, x: np.ndarray) -> tuple[np.ndarray, list | None]:
    """nn's answer in the graph's terms: probabilities (or values) and labels (None for
    regression)."""
    result = model.predict(x)
    values = np.asarray(result.get("probabilities", result["predictions"]), np.float64)
    if model.kind == "regression":
        return values, None
    if model.kind == "binary":
        values = np.stack([1.0 - values, values], axis=1)
    return values, result["predictions"]


def compare(
    model: nn.Model, sess: onnxruntime.InferenceSession, x: np.ndarray
) -> tuple[float, bool | None]:
    """(largest absolute difference in probabilities or values, every label agrees: None
    for regression, which has none)."""
    want, labels = expected(model, x)
    got = run(sess, x)
    name = "values" if model.kind == "regression" else "probabilities"
    diff = float(np.abs(got[name].astype(np.float64) - want).max())
    agree = None if labels is None else got["label"].tolist() == labels
    return diff, agree


def certificate(model: nn.Model, rows: np.ndarray, rows_from: str) -> dict:
    """The certificate for ``model`` on ``rows`` (n, n_features) and the extreme rows
    (as raw columns for a graph that carries the preparation, ``"fed": "raw columns"``).

    ``rows_from`` says what the rows are (``validation``, ``training``, ``drawn``).
    A model the graph cannot express gets ``{"format": "onnx", "exportable": False,
    "reason": ...}``.
    """
    try:
        onnx_bytes = to_onnx(model)
    except ExportRefused as e:
        return {"format": "onnx", "exportable": False, "reason": str(e)}
    given = np.asarray(rows, np.float64).reshape(-1, model.n_features)
    if carries_preparation(model):
        raw, extreme = raw_table(model.preparation, given), extreme_table(model)
        x = {name: raw[name] + extreme[name] for name in raw}
    else:
        x = np.concatenate([given, extreme_rows(model)])
    diff, agree = compare(model, session(onnx_bytes), x)
    return {
        "format": "onnx",
        "exportable": True,
        "opset": OPSET,
        "runtime": f"onnxruntime {onnxruntime.__version__}",
        "rows": len(rows),
        "rows_from": rows_from,
        "extreme_rows": EXTREME_ROWS,
        "sigmas": SIGMAS,
        "fed": "raw columns" if carries_preparation(model) else "inputs",
        "compared": "values" if model.kind == "regression" else "probabilities",
        "max_abs_difference": diff,
        "labels_agree": agree,
    }
