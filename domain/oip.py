"""The Open Inference Protocol (version 2, as KServe, Triton and MLServer speak it) over
the models in the store: a model's metadata as tensors, and an inference request's
tensors turned into the rows ``/predict`` takes, predicted by the same code and cache
(:mod:`domain.prediction`), its answer turned back into output tensors.

A model takes one tensor ``input`` of shape ``[rows, features]`` (``[rows]`` for one
feature), ``FP32`` or ``FP64``, its data row-major, flat or nested by row. A model
trained from a dataset, whose features have names, also takes one tensor per feature,
named after it, of shape ``[rows]`` or ``[rows, 1]`` (as MLServer takes columns). A model
whose table was prepared declares its encoded inputs and, when its features are all
numbers, also takes their raw values (one tensor, or one per feature), as ``/predict``
takes rows of numbers.

It answers ``probabilities`` (``FP32``: one per row for two classes, that of the second
class as ``/predict`` gives it; one per class or label otherwise) and ``label`` (the
predicted class: ``BYTES`` for text classes, ``INT64`` for integers, ``BOOL`` for
booleans; 0/1 per label for multi-label), or ``values`` (``FP64``) for regression.
"""

from __future__ import annotations

import math
from itertools import chain
from typing import NoReturn

import numpy as np

import nn

from . import prediction
from .deadline import NONE, Deadline
from .errors import Invalid, Refused
from .services import Services
from .tenancy import Scope

#: the input tensor's name (any name is taken when there is one tensor)
INPUT = "input"
#: the data types inputs are taken in, and the NumPy type each is read as
INPUT_TYPES = {"FP32": np.float32, "FP64": np.float64}
#: the parameters of the binary tensor data extension, which is not served: a request
#: asking for binary outputs gets them as JSON, so the parameter is not passed on
BINARY_PARAMETERS = frozenset({"binary_data", "binary_data_output", "binary_data_size"})
#: what the server metadata's ``platform`` says of every model
PLATFORM = "nnjobs_numpy"

_NUMBERS = {int, float}
#: what a value that is not a number is, as a message names it
_KINDS = {
    str: "a string",
    bool: "a boolean",
    type(None): "null",
    dict: "an object",
    list: "an array nested too deeply",
}


def ref(name: str, version: str | None) -> str:
    """The registry's reference for a model name and, if given, a version number."""
    return name if version is None else f"{name}@{version}"


def _dtype(model: nn.Model) -> str:
    return "FP64" if model.network.dtype == np.float64 else "FP32"


def _label_type(classes: list) -> str:
    kinds = set(map(type, classes))
    if kinds == {bool}:
        return "BOOL"
    if kinds == {int}:
        return "INT64"
    return "BYTES"


def _outputs(model: nn.Model) -> list[dict]:
    """The model's output tensors as metadata (``-1`` for the batch)."""
    kind, width = model.kind, model.network.n_outputs
    if kind == "regression":
        return [
            {"name": "values", "datatype": "FP64", "shape": [-1] if model.squeeze else [-1, width]}
        ]
    if kind == "multilabel":
        return [
            {"name": "probabilities", "datatype": "FP32", "shape": [-1, width]},
            {"name": "label", "datatype": "INT64", "shape": [-1, width]},
        ]
    return [
        {
            "name": "probabilities",
            "datatype": "FP32",
            "shape": [-1] if kind == "binary" else [-1, width],
        },
        {"name": "label", "datatype": _label_type(model.classes), "shape": [-1]},
    ]


def metadata(svc: Services, name: str, version: str | None = None, *, scope: Scope) -> dict:
    """The model's metadata: its name, versions, and input and output tensors."""
    loaded = prediction.load(svc, ref(name, version), scope=scope)
    model = loaded.model
    shape = [-1] if model.n_features == 1 else [-1, model.n_features]
    return {
        "name": loaded.name,
        "versions": [str(loaded.version)],
        "platform": PLATFORM,
        "inputs": [{"name": INPUT, "datatype": _dtype(model), "shape": shape}],
        "outputs": _outputs(model),
    }


def ready(svc: Services, name: str, version: str | None = None, *, scope: Scope) -> dict:
    """The model loaded (into this process's cache), so ready to infer."""
    loaded = prediction.load(svc, ref(name, version), scope=scope)
    return {"name": loaded.name, "ready": True}


# -- inference ----------------------------------------------------------------------------


def _refuse(field: str, reason: str, status: int = 422) -> NoReturn:
    path = field.split(".")
    node: dict | list = [reason]
    for part in reversed(path):
        node = {part: node}
    raise Refused(status, f"{field}: {reason}", {"json": node})


def _shown(name: str) -> str:
    """A name sent by the client, shortened for a message."""
    return repr(name if len(name) <= 64 else name[:61] + "...")


def _values(tensor: dict, field: str, count: int) -> list:
    """A tensor's data as a flat list of ``count`` numbers, from flat or nested data."""
    data, shape = tensor["data"], tensor["shape"]
    kinds = set(map(type, data))
    if kinds == {list}:
        if len(shape) != 2:
            _refuse(f"{field}.data", f"is nested; a tensor of shape {shape} takes flat data")
        if len(data) != shape[0] or set(map(len, data)) != {shape[1]}:
            _refuse(
                f"{field}.data",
                f"does not match shape {shape}: nested data must be {shape[0]} rows of "
                f"{shape[1]} values",
            )
        data = list(chain.from_iterable(data))
        kinds = set(map(type, data))
    if not kinds <= _NUMBERS:
        wrong = type(next(v for v in data if type(v) not in _NUMBERS))
        _refuse(f"{field}.data", f"must hold numbers only; it holds {_KINDS.get(wrong, wrong)}")
    if len(data) != count:
        _refuse(f"{field}.data", f"has {len(data)} values; shape {shape} holds {count}")
    return data


def _array(tensor: dict, field: str, count: int) -> np.ndarray:
    """A tensor's data in its data type, then as float64 for the model, in its shape."""
    values = _values(tensor, field, count)
    try:
        x = np.array(values, dtype=np.float64)
    except OverflowError:
        _refuse(f"{field}.data", "holds a number too large for FP64")
    with np.errstate(over="ignore"):
        typed = x.astype(INPUT_TYPES[tensor["datatype"]])
    if not np.isfinite(typed).all():
        i = int(np.flatnonzero(~np.isfinite(typed))[0])
        _refuse(f"{field}.data", f"value {i} is not a finite {tensor['datatype']} number")
    return typed.astype(np.float64).reshape(tensor["shape"])


def _features(loaded: prediction.Loaded) -> list | None:
    """The names a tensor per feature can take: the raw features of a model whose table
    was prepared (one-hot encoded, indicators added) when they are all numbers, else
    those of its dataset."""
    prep = loaded.model.preparation
    if prep is None:
        return loaded.features
    return prep.names if all(f.kind == "numeric" for f in prep.features) else None


def _raw_width(model: nn.Model) -> int | None:
    """The raw numeric features a prepared model also takes as one tensor, as /predict
    takes its rows of numbers (:func:`domain.prediction.raw_numbers`)."""
    prep = model.preparation
    if prep is None or any(f.kind != "numeric" for f in prep.features):
        return None
    return len(prep.features)


def _check_shapes(tensors: list, loaded: prediction.Loaded) -> tuple[int, list[int]]:
    """(rows, columns order) of the request's tensors, refusing any that the model does
    not take, before their data are read."""
    model, features = loaded.model, _features(loaded)
    for i, tensor in enumerate(tensors):
        if tensor["datatype"] not in INPUT_TYPES:
            _refuse(
                f"inputs.{i}.datatype", f"{tensor['datatype']!r} is not taken; send FP32 or FP64"
            )
    takes = f"the model takes one tensor of shape [-1, {model.n_features}]"
    if len(tensors) == 1:
        shape = tensors[0]["shape"]
        one_column = len(shape) == 1 and model.n_features == 1
        if not one_column and shape[1:] not in ([model.n_features], [_raw_width(model)]):
            _refuse("inputs.0.shape", f"is {shape}; {takes}")
        return shape[0], [0]
    if not features:
        _refuse("inputs", f"has {len(tensors)} tensors; {takes} (its features have no names)")
    if len(tensors) != len(features):
        _refuse(
            "inputs",
            f"has {len(tensors)} tensors; {takes}, or one per feature ({len(features)}: "
            f"{', '.join(features[:10])}{', ...' if len(features) > 10 else ''})",
        )
    position = {feature: j for j, feature in enumerate(features)}
    order = [-1] * len(features)
    rows = tensors[0]["shape"][0]
    for i, tensor in enumerate(tensors):
        name, shape = tensor["name"], tensor["shape"]
        j = position.get(name)
        if j is None:
            _refuse(f"inputs.{i}.name", f"{_shown(name)} is not a feature of the model")
        if order[j] != -1:
            _refuse(f"inputs.{i}.name", f"{_shown(name)} is sent twice")
        order[j] = i
        if shape[1:] not in ([], [1]):
            _refuse(f"inputs.{i}.shape", f"is {shape}; a feature's tensor is [-1] or [-1, 1]")
        if shape[0] != rows:
            _refuse(f"inputs.{i}.shape", f"has {shape[0]} rows; inputs.0 has {rows}")
    return rows, order


def _matrix(svc: Services, loaded: prediction.Loaded, tensors: list) -> np.ndarray:
    max_columns = svc.settings["NNJOBS_MAX_DATASET_COLUMNS"]
    if len(tensors) > max_columns:
        _refuse(
            "inputs",
            f"{len(tensors)} tensors, over the limit of {max_columns} (NNJOBS_MAX_DATASET_COLUMNS)",
            413,
        )
    rows, order = _check_shapes(tensors, loaded)
    counts = [math.prod(t["shape"]) for t in tensors]
    max_values = svc.settings["NNJOBS_MAX_VALUES"]
    if sum(counts) > max_values:
        raise Invalid(
            nn.LimitError(
                "inputs",
                f"{sum(counts)} values, over the limit of {max_values} (NNJOBS_MAX_VALUES)",
            )
        )
    if rows == 0:
        _refuse("inputs.0.shape", "has no rows")
    prediction.check_answer(svc, loaded.model, rows, "json")
    columns = [_array(tensors[i], f"inputs.{i}", counts[i]).reshape(rows, -1) for i in order]
    model = loaded.model
    try:
        if len(columns) == 1:
            return prediction.raw_numbers(model, columns[0])
        if model.preparation is None:
            return np.hstack(columns)
        named = {
            name: col[:, 0] for name, col in zip(model.preparation.names, columns, strict=True)
        }
        return model.preparation.transform(named, "inputs")[0]
    except nn.SpecError as e:
        raise Invalid(e) from None


def _passed(parameters: dict | None) -> dict:
    """The parameters passed on to the answer: all but the binary data extension's."""
    return {k: v for k, v in (parameters or {}).items() if k not in BINARY_PARAMETERS}


def _tensor(name: str, datatype: str, values) -> dict:
    array = np.asarray(values, dtype=object if datatype == "BYTES" else None)
    data = array.ravel().tolist()
    if datatype == "FP32":
        # the float32 the model computed, written back as the float64 /predict shows
        data = array.astype(np.float32).astype(np.float64).ravel().tolist()
    elif datatype == "BYTES":
        data = [str(v) for v in data]
    return {"name": name, "datatype": datatype, "shape": list(array.shape), "data": data}


def _answer_tensors(model: nn.Model, result: dict) -> dict[str, dict]:
    if model.kind == "regression":
        return {"values": _tensor("values", "FP64", result["predictions"])}
    label = "INT64" if model.kind == "multilabel" else _label_type(model.classes)
    return {
        "probabilities": _tensor("probabilities", "FP32", result["probabilities"]),
        "label": _tensor("label", label, result["predictions"]),
    }


def infer(
    svc: Services,
    name: str,
    version: str | None,
    request: dict,
    deadline: Deadline = NONE,
    *,
    scope: Scope,
) -> tuple[dict, prediction.Prediction]:
    """The answer to an inference request (as the request schema has read it) with the
    model ``scope`` reaches, and the prediction made for it."""
    loaded = prediction.load(svc, ref(name, version), scope=scope)
    names = [o["name"] for o in _outputs(loaded.model)]
    wanted = request.get("outputs") or [{"name": n} for n in names]
    seen = set()
    for i, output in enumerate(wanted):
        if output["name"] not in names:
            _refuse(
                f"outputs.{i}.name",
                f"{_shown(output['name'])} is not an output of the model; its outputs are "
                + ", ".join(names),
            )
        if output["name"] in seen:
            _refuse(f"outputs.{i}.name", f"{output['name']!r} is asked for twice")
        seen.add(output["name"])
    x = _matrix(svc, loaded, request["inputs"])
    done = prediction.predict_matrix(loaded, x, deadline)
    tensors = _answer_tensors(loaded.model, done.result)
    outputs = []
    for output in wanted:
        tensor = tensors[output["name"]]
        parameters = _passed(output.get("parameters"))
        outputs.append({**tensor, "parameters": parameters} if parameters else tensor)
    answer = {"model_name": loaded.name, "model_version": str(loaded.version)}
    if "id" in request:
        answer["id"] = request["id"]
    parameters = _passed(request.get("parameters"))
    if parameters:
        answer["parameters"] = parameters
    answer["outputs"] = outputs
    return answer, done
