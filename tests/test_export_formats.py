"""The ONNX graph and the MLflow model of every hidden activation and every output, run by
the other side's real software (onnx's checker, onnxruntime, ``mlflow.pyfunc``) against
``Model.predict``; and the parity certificate."""

from __future__ import annotations

import functools
import io
import zipfile

import mlflow.pyfunc
import numpy as np
import onnx
import pandas as pd
import pytest

import nn
from interop import onnx_graph, parity
from interop.mlflow_model import to_mlflow_zip
from nn.activations import SELU_ALPHA, SELU_SCALE

OUTPUTS = ("sigmoid", "softmax", "linear", "multilabel")
TOLERANCE = 1e-5


def _params(activation: str) -> dict:
    # parameters away from their defaults, so that a writer that drops one is caught
    return {"leaky_relu": {"alpha": 0.2}, "elu": {"alpha": 0.7}, "maxout": {"pieces": 3}}.get(
        activation, {}
    )


@functools.cache
def fitted(activation: str, output: str) -> nn.Model:
    rng = np.random.default_rng(7)
    X = rng.normal([3.0, -20.0, 0.5], [2.0, 5.0, 0.1], size=(120, 3))
    u = (X - X.mean(0)) / X.std(0)
    spec = {
        "layers": [
            {"units": 5, "activation": activation, **_params(activation)},
            {"units": 4, "activation": activation, **_params(activation), "dropout": 0.2},
        ],
        "training": {"epochs": 3, "seed": 1},
    }
    if output == "sigmoid":
        y = np.where(u[:, 0] + u[:, 1] > 0, "yes", "no")
    elif output == "softmax":
        y = (u[:, 0] > 0).astype(int) + (u[:, 2] > 0.5) * 2 + 10
    elif output == "linear":
        y = u[:, 0] - 0.5 * u[:, 1]
    else:
        y = np.stack([u[:, 0] > 0, u[:, 1] > 0, u[:, 0] > u[:, 2]], axis=1).astype(float)
        spec["output"] = "sigmoid"
    model, _ = nn.fit(spec, X, y)
    return model


def rows(model: nn.Model, n: int) -> np.ndarray:
    """``n`` rows: drawn around the training mean, and (from 9 rows) 50 standard
    deviations away."""
    if n < 9:
        return parity.drawn_rows(model, n)
    return np.concatenate([parity.drawn_rows(model, n - 8), parity.extreme_rows(model)])


def assert_matches(model: nn.Model, x: np.ndarray, got: dict) -> None:
    want, labels = parity.expected(model, x)
    name = "values" if model.kind == "regression" else "probabilities"
    assert got[name].shape == want.shape
    np.testing.assert_allclose(got[name], want, rtol=0, atol=TOLERANCE)
    if labels is not None:
        assert got["label"].tolist() == labels


CASES = [(a, o) for a in sorted(nn.ACTIVATIONS) for o in OUTPUTS]


@pytest.mark.parametrize(("activation", "output"), CASES)
def test_onnx_graph_checks_and_matches_predict(activation, output):
    model = fitted(activation, output)
    proto = onnx_graph.to_model_proto(model)
    onnx.checker.check_model(proto, full_check=True)
    assert "Dropout" not in {node.op_type for node in proto.graph.node}
    sess = parity.session(proto.SerializeToString())
    for n in (1, 1000):
        x = rows(model, n)
        assert_matches(model, x, parity.run(sess, x))


@pytest.mark.parametrize(("activation", "output"), CASES)
def test_mlflow_pyfunc_loads_and_matches_predict(activation, output, tmp_path):
    model = fitted(activation, output)
    with zipfile.ZipFile(io.BytesIO(to_mlflow_zip(model))) as zf:
        zf.extractall(tmp_path)
    loaded = mlflow.pyfunc.load_model(str(tmp_path))
    for n in (1, 1000):
        x = rows(model, n)
        assert_matches(model, x, loaded.predict(x))


def test_every_activation_of_the_registry_has_an_onnx_form():
    assert set(onnx_graph.ACTIVATIONS) == set(nn.ACTIVATIONS)


def test_the_graph_states_its_opset_and_a_dynamic_batch():
    proto = onnx_graph.to_model_proto(fitted("relu", "softmax"))
    assert [(o.domain, o.version) for o in proto.opset_import] == [("", onnx_graph.OPSET)]
    assert proto.ir_version == onnx_graph.IR_VERSION
    (inp,) = proto.graph.input
    dims = inp.type.tensor_type.shape.dim
    assert inp.name == "inputs" and inp.type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    assert dims[0].dim_param == "batch" and dims[1].dim_value == 3
    assert [o.name for o in proto.graph.output] == ["probabilities", "label"]


def test_selu_carries_its_exact_constants():
    proto = onnx_graph.to_model_proto(fitted("selu", "sigmoid"))
    (node,) = [n for n in proto.graph.node if n.op_type == "Selu"][:1]
    attrs = {a.name: a.f for a in node.attribute}
    assert attrs == {"alpha": np.float32(SELU_ALPHA), "gamma": np.float32(SELU_SCALE)}


def test_maxout_is_a_reshape_and_a_reduce_max():
    proto = onnx_graph.to_model_proto(fitted("maxout", "linear"))
    ops = [n.op_type for n in proto.graph.node]
    assert ops.count("Reshape") == 2 and ops.count("ReduceMax") == 2


@pytest.mark.parametrize(
    ("labels", "elem_type"),
    [
        (["cat", "dog"], onnx.TensorProto.STRING),
        ([3, 7], onnx.TensorProto.INT64),
        ([False, True], onnx.TensorProto.BOOL),
    ],
)
def test_labels_keep_the_type_of_the_classes(labels, elem_type):
    X, y = nn.synthetic.make("circle", n_samples=60, seed=0)
    model, _ = nn.fit({"training": {"epochs": 2}}, X, np.asarray(labels)[y])
    proto = onnx_graph.to_model_proto(model)
    assert proto.graph.output[1].type.tensor_type.elem_type == elem_type
    x = parity.drawn_rows(model, 30)
    assert (
        parity.run(parity.session(proto.SerializeToString()), x)["label"].tolist()
        == (model.predict(x)["predictions"])
    )


def test_regression_with_several_targets_keeps_its_columns():
    X, _ = nn.synthetic.make("circle", n_samples=60, seed=0)
    Y = np.stack([X[:, 0] * 100 + 5, X[:, 1] - 2], axis=1)
    model, _ = nn.fit({"training": {"epochs": 2}}, X, Y)
    x = rows(model, 50)
    got = parity.run(parity.session(onnx_graph.to_onnx(model)), x)
    assert got["values"].shape == (50, 2)
    # float32 logits, in each target's own units
    error = np.abs(got["values"] - parity.expected(model, x)[0]) / model.y_scaler.scale
    assert error.max() < TOLERANCE


def test_a_preparation_the_export_does_not_know_is_refused_by_name():
    model = fitted("tanh", "sigmoid")
    model.preparation = {"name": "categorical"}
    try:
        with pytest.raises(onnx_graph.ExportRefused, match="'categorical' preparation"):
            onnx_graph.to_onnx(model)
        refused = parity.certificate(model, parity.drawn_rows(model, 5), "drawn")
        assert refused["exportable"] is False and "categorical" in refused["reason"]
    finally:
        del model.preparation


def test_mlflow_signature_names_the_features_when_known(tmp_path):
    model = fitted("tanh", "softmax")
    with zipfile.ZipFile(io.BytesIO(to_mlflow_zip(model, ["a", "b", "c"]))) as zf:
        names = set(zf.namelist())
        assert not any(name.endswith((".pkl", ".pickle")) for name in names)
        assert {"MLmodel", "model.onnx", "code/nnjobs_pyfunc.py", "python_env.yaml"} <= names
        zf.extractall(tmp_path)
    loaded = mlflow.pyfunc.load_model(str(tmp_path))
    assert loaded.metadata.signature.inputs.input_names() == ["a", "b", "c"]
    x = rows(model, 20)
    assert_matches(model, x, loaded.predict(pd.DataFrame(x, columns=["a", "b", "c"])))


@pytest.mark.parametrize("output", OUTPUTS)
def test_the_certificate_measures_the_graph(output):
    model = fitted("gelu", output)
    cert = parity.certificate(model, parity.drawn_rows(model, 40), "validation")
    assert cert["exportable"] and cert["opset"] == onnx_graph.OPSET
    assert cert["rows"] == 40 and cert["rows_from"] == "validation"
    assert 0 <= cert["max_abs_difference"] < TOLERANCE
    assert cert["labels_agree"] is (None if output == "linear" else True)
    assert cert["compared"] == ("values" if output == "linear" else "probabilities")


def test_the_certificate_sees_a_graph_that_differs():
    model = fitted("relu", "softmax")
    x = parity.drawn_rows(model, 40)
    other = fitted("tanh", "softmax")
    diff, _ = parity.compare(model, parity.session(onnx_graph.to_onnx(other)), x)
    assert diff > 1e-3
