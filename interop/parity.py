"""The parity certificate: the exported ONNX graph, run by onnxruntime, against nn's own
predictions on the same rows.

It is computed where a model is stored (the worker, on the job's validation rows; the
API, on an imported model), so onnxruntime is a runtime dependency: a certificate is a
measurement of the file that is served, on the runtime that reads it, not a property
assumed from tests run elsewhere.

Rows compared: the given ones (validation rows, or rows drawn around the training mean)
plus :data:`EXTREME_ROWS` rows at :data:`SIGMAS` standard deviations from the mean, in
sign patterns that reach the saturated and overflowing ends of every activation.
"""

from __future__ import annotations

import numpy as np
import onnxruntime

import nn

from .onnx_graph import INPUT, OPSET, ExportRefused, to_onnx

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


def run(sess: onnxruntime.InferenceSession, x: np.ndarray) -> dict[str, np.ndarray]:
    """The graph's outputs by name for rows ``x`` (n, n_features)."""
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, {INPUT: np.asarray(x, np.float64)}), strict=True))


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
    """The certificate for ``model`` on ``rows`` (n, n_features) and the extreme rows.

    ``rows_from`` says what the rows are (``validation``, ``training``, ``drawn``).
    A model the graph cannot express gets ``{"format": "onnx", "exportable": False,
    "reason": ...}``.
    """
    try:
        onnx_bytes = to_onnx(model)
    except ExportRefused as e:
        return {"format": "onnx", "exportable": False, "reason": str(e)}
    x = np.concatenate(
        [np.asarray(rows, np.float64).reshape(-1, model.n_features), extreme_rows(model)]
    )
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
        "compared": "values" if model.kind == "regression" else "probabilities",
        "max_abs_difference": diff,
        "labels_agree": agree,
    }
