"""A trained model as an MLflow model directory, zipped.

The directory (files at the zip's root, so ``unzip model.zip -d model`` gives the
directory ``mlflow.pyfunc.load_model("model")`` takes)::

    MLmodel               the python_function flavor and the input and output signature
    model.onnx            the graph of :mod:`interop.onnx_graph`
    code/nnjobs_pyfunc.py the loader (:mod:`interop.nnjobs_pyfunc`): onnxruntime runs
                          the graph; nothing is pickled, in the zip or at load
    requirements.txt      what the loader needs
    python_env.yaml       the Python version and those requirements, for MLflow's
                          virtualenv manager

The input signature is a column per feature when the model knows its features' names (a
model trained from a dataset), else a float64 tensor of shape (-1, n_features). A model
whose graph carries its preparation (one-hot categories, missing-value indicators) names
its raw features: ``double`` for a numeric one (NaN or None where missing), and for a
categorical one ``boolean`` when its categories are ``true``/``false``, ``long`` when they
are whole numbers and training had no missing cell, ``double`` when they are other
numbers, else ``string`` (the types MLflow lets such a column arrive in, a missing cell
included where training had one); the loader turns each cell into the text the graph
compares.

MLflow is not imported: the MLmodel file is plain YAML written here (every value in it
is a JSON scalar, which YAML reads as written), and the tests load the result with the
real ``mlflow.pyfunc.load_model``.
"""

from __future__ import annotations

import io
import json
import platform
import zipfile
from pathlib import Path

import onnxruntime

import nn

from .onnx_graph import to_onnx
from .parity import carries_preparation

LOADER = "nnjobs_pyfunc"
_LOADER_SOURCE = Path(__file__).with_name(f"{LOADER}.py")
#: a fixed time for every entry, so one model always zips to the same bytes
_ZIP_TIME = (2020, 1, 1, 0, 0, 0)


def _tensor(dtype: str, shape: list[int], name: str | None = None) -> dict:
    spec: dict = {"type": "tensor", "tensor-spec": {"dtype": dtype, "shape": shape}}
    if name is not None:
        spec["name"] = name
    return spec


def _label_dtype(classes: list) -> str:
    if all(isinstance(c, bool) for c in classes):
        return "bool"
    if all(isinstance(c, int) for c in classes):
        return "int64"
    return "object"


def _column_type(feature: nn.preparation.Feature) -> str:
    if feature.kind == "numeric":
        return "double"
    seen = [*feature.categories, *(feature.folded or ())]
    if set(seen) <= {"true", "false"}:
        return "boolean"
    try:
        numbers = [float(c) for c in seen]
    except ValueError:
        return "string"
    # pandas keeps whole numbers int64 until a cell is missing, and MLflow takes int64 for
    # a long column only (it would lose digits as double)
    whole = all(x.is_integer() for x in numbers)
    return "long" if whole and not feature.missing_level else "double"


def signature(model: nn.Model, features: list[str] | None = None) -> dict:
    """The ``inputs`` and ``outputs`` of the MLmodel's signature, as JSON-ready lists."""
    if carries_preparation(model):
        inputs = [
            {"type": _column_type(f), "name": f.name, "required": True}
            for f in model.preparation.features
        ]
    elif features and len(features) == model.n_features:
        inputs = [{"type": "double", "name": f, "required": True} for f in features]
    else:
        inputs = [_tensor("float64", [-1, model.n_features])]
    k = model.network.n_outputs
    if model.kind == "regression":
        outputs = [_tensor("float64", [-1] if model.squeeze else [-1, k], "values")]
    elif model.kind == "multilabel":
        outputs = [
            _tensor("float32", [-1, k], "probabilities"),
            _tensor("int64", [-1, k], "label"),
        ]
    else:
        outputs = [
            _tensor("float32", [-1, len(model.classes)], "probabilities"),
            _tensor(_label_dtype(model.classes), [-1], "label"),
        ]
    return {"inputs": inputs, "outputs": outputs}


def _mlmodel(model: nn.Model, features: list[str] | None) -> str:
    sig = signature(model, features)
    q = json.dumps
    return "\n".join(
        [
            "flavors:",
            "  python_function:",
            f"    loader_module: {LOADER}",
            "    code: code",
            "    data: model.onnx",
            "    env:",
            "      virtualenv: python_env.yaml",
            f"    python_version: {q(platform.python_version())}",
            "signature:",
            f"  inputs: {q(json.dumps(sig['inputs']))}",
            f"  outputs: {q(json.dumps(sig['outputs']))}",
            "  params: null",
            "",
        ]
    )


def requirements() -> list[str]:
    """The loader's requirements, pinned no lower than the versions that wrote the file."""
    major_minor = ".".join(onnxruntime.__version__.split(".")[:2])
    return ["mlflow-skinny", "pandas", "numpy", f"onnxruntime>={major_minor}"]


def _python_env() -> str:
    lines = [f"python: {platform.python_version()}", "build_dependencies:", "  - pip"]
    lines += ["dependencies:", "  - -r requirements.txt", ""]
    return "\n".join(lines)


def to_mlflow_zip(model: nn.Model, features: list[str] | None = None) -> bytes:
    """The zipped MLflow model directory of ``model``; ExportRefused (from the ONNX
    export) when the graph cannot express it."""
    files = {
        "MLmodel": _mlmodel(model, features).encode(),
        "model.onnx": to_onnx(model),
        f"code/{LOADER}.py": _LOADER_SOURCE.read_bytes(),
        "requirements.txt": ("\n".join(requirements()) + "\n").encode(),
        "python_env.yaml": _python_env().encode(),
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, _ZIP_TIME)
            # float32 weights barely compress (by 8 %, at a second per 10 MB): stored
            info.compress_type = (
                zipfile.ZIP_STORED if name == "model.onnx" else zipfile.ZIP_DEFLATED
            )
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    return buf.getvalue()
