"""MLflow's python_function loader for a model exported by nnjobs.

This file travels inside the exported MLflow model (``code/nnjobs_pyfunc.py``) and is
self-contained: it needs NumPy and onnxruntime, nothing of nnjobs. The model itself is
the ONNX graph beside it (``model.onnx``), loaded from data, never unpickled.

``predict`` takes rows of numbers (a DataFrame, a NumPy array or a list of rows) and
returns the graph's outputs by name: ``probabilities`` and ``label`` for a classifier,
``values`` for a regression.
"""

import numpy as np
import onnxruntime


class NnjobsOnnxModel:
    """The ONNX graph, run by onnxruntime on the CPU."""

    def __init__(self, path):
        self.session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        self.outputs = [o.name for o in self.session.get_outputs()]

    def predict(self, model_input, params=None):
        x = np.asarray(model_input, dtype=np.float64)
        if x.ndim == 1:
            x = x.reshape(1, -1)
        values = self.session.run(self.outputs, {self.input: x})
        # no strict=: the loader runs on Pythons older than 3.10 too
        return dict(zip(self.outputs, values))  # noqa: B905


def _load_pyfunc(data_path):
    """The entry point MLflow calls with the path of the flavor's ``data``."""
    return NnjobsOnnxModel(data_path)
