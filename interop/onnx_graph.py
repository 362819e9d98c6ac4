"""A trained model as one ONNX graph: raw inputs in, probabilities (or values) and labels out.

The graph, for a model of ``F`` features and ``K`` outputs::

    inputs (batch, F) double
      -> Sub mean, Div scale                  the input standardization, in double as nn
      -> Cast float                           does it, then float32 like the network
      -> per hidden layer: Gemm, activation   (maxout: Reshape to (batch, units, pieces),
                                               ReduceMax over the pieces)
      -> Gemm                                 the output layer's logits (batch, K)
      -> softmax: Softmax, ArgMax, Gather     probabilities (batch, K), label (batch,)
         sigmoid, two classes: Sigmoid        probabilities (batch, 2) as (1 - p, p),
                                               label = classes[p >= threshold]
         sigmoid, multi-label: Sigmoid        probabilities (batch, K), label (batch, K)
                                               0/1 int64
         linear: Cast double, Mul, Add        values (batch, K) in the targets' units,
                                               (batch,) for a 1-D target

Labels are a string, int64 or bool tensor, as the model's classes are. Dropout is absent:
the network has none at inference. The batch dimension is dynamic (``batch``).

**Opset 13, IR version 7.** Every operator the graph needs has, at opset 13, the
definition it uses: Softmax normalizes along one axis (before 13 it flattened the input
to 2-D), ArgMax, Gather, Squeeze and ReduceMax exist in their present forms (ReduceMax
takes its axes as an attribute until 18, which changes nothing here). Nothing newer is
needed, and the older the opset and IR version the more runtimes read the file:
onnxruntime from 1.6, TensorRT, OpenVINO and the converters of the ecosystem. GELU is
therefore written out as nn's tanh formula (Clip, Mul, Add, Tanh) rather than opset 20's
Gelu operator, which also keeps nn's clipping of its cube exactly.

**Why here and not in nn.** nn imports NumPy and the standard library only; writing the
protobuf by hand there would be a second, untested implementation of ONNX's schema, where
the ``onnx`` package builds the graph from its own definitions and checks it. So the
writer lives in this package, which may import ``onnx``; nn stays as it is.

Preparations: a model trained on a table's columns whose preparation is more than the
raw numeric columns (one-hot categories, missing-value indicators) carries it in the
graph (:mod:`interop.onnx_preparation`): the graph then has one input per raw feature,
named as the feature, instead of ``inputs``, and imports the ``ai.onnx.ml`` domain
(version 2) beside opset 13. A preparation of numeric columns only, none with an
indicator, exports as a model without one: its inputs are the raw columns. Any other
preparation is refused (:class:`ExportRefused`), naming it, unless :data:`PREPARATIONS`
knows it by name.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import nn
from nn.activations import GELU_C, GELU_CLIP, GELU_K, SELU_ALPHA, SELU_SCALE

from . import onnx_preparation

OPSET = 13
IR_VERSION = 7
INPUT = "inputs"
#: the batch dimension's name
BATCH = "batch"
PRODUCER = "nnjobs"


class ExportRefused(ValueError):
    """The model cannot be written in the format asked for; the message says why."""


class _Graph:
    """Nodes and constants being collected, with fresh names for intermediate values."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._count = 0
        self._reserved: set[str] = set()

    def reserve(self, name: str) -> None:
        """Keep ``name`` (a graph input's) from the names made for intermediate values."""
        self._reserved.add(name)

    def name(self, hint: str) -> str:
        self._count += 1
        while f"{hint}_{self._count}" in self._reserved:
            self._count += 1
        return f"{hint}_{self._count}"

    def const(self, hint: str, value) -> str:
        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def const_f32(self, hint: str, value: float) -> str:
        return self.const(hint, np.float32(value))

    def op(self, op_type: str, inputs: list[str], hint: str | None = None, **attrs) -> str:
        out = self.name(hint or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out

    def output(self, op_type: str, inputs: list[str], name: str, **attrs) -> str:
        self.nodes.append(helper.make_node(op_type, inputs, [name], **attrs))
        return name


# -- activations: each writes nn's formula in ONNX operators ---------------------------


def _leaky_relu(g: _Graph, z: str, alpha: float) -> str:
    return g.op("LeakyRelu", [z], alpha=float(np.float32(alpha)))


def _elu(g: _Graph, z: str, alpha: float) -> str:
    return g.op("Elu", [z], alpha=float(np.float32(alpha)))


def _selu(g: _Graph, z: str) -> str:
    # nn's constants, rounded to float32 as nn's float32 arithmetic rounds them
    return g.op(
        "Selu", [z], alpha=float(np.float32(SELU_ALPHA)), gamma=float(np.float32(SELU_SCALE))
    )


def _gelu(g: _Graph, z: str) -> str:
    # 0.5 z (1 + tanh(c (zc + k zc^3))), zc = clip(z, -10, 10): nn's operations, in its order
    zc = g.op("Clip", [z, g.const_f32("low", -GELU_CLIP), g.const_f32("high", GELU_CLIP)])
    cube = g.op("Mul", [g.op("Mul", [g.op("Mul", [g.const_f32("k", GELU_K), zc]), zc]), zc])
    inner = g.op("Mul", [g.const_f32("c", GELU_C), g.op("Add", [zc, cube])])
    one_plus = g.op("Add", [g.const_f32("one", 1.0), g.op("Tanh", [inner])])
    return g.op("Mul", [g.op("Mul", [g.const_f32("half", 0.5), z]), one_plus], "gelu")


def _silu(g: _Graph, z: str) -> str:
    return g.op("Mul", [z, g.op("Sigmoid", [z])], "silu")


def _maxout(g: _Graph, z: str, units: int, pieces: int) -> str:
    # nn lays a unit's pieces side by side: column = unit * pieces + piece
    shape = g.const("shape", np.array([-1, units, pieces], dtype=np.int64))
    return g.op("ReduceMax", [g.op("Reshape", [z, shape])], axes=[2], keepdims=0)


#: hidden activation -> (graph, pre-activation, units, its parameters) -> activation;
#: a new activation of nn's registry is a new entry, and the export tests fail without it
ACTIVATIONS: dict[str, Callable[..., str]] = {
    "linear": lambda g, z, units: z,
    "sigmoid": lambda g, z, units: g.op("Sigmoid", [z]),
    "tanh": lambda g, z, units: g.op("Tanh", [z]),
    "relu": lambda g, z, units: g.op("Relu", [z]),
    "leaky_relu": lambda g, z, units, alpha: _leaky_relu(g, z, alpha),
    "elu": lambda g, z, units, alpha: _elu(g, z, alpha),
    "selu": lambda g, z, units: _selu(g, z),
    "gelu": lambda g, z, units: _gelu(g, z),
    "silu": lambda g, z, units: _silu(g, z),
    "softplus": lambda g, z, units: g.op("Softplus", [z]),
    "maxout": lambda g, z, units, pieces: _maxout(g, z, units, pieces),
}

#: preparation name -> writer of its nodes (graph, model) -> (the name of the double
#: matrix the standardization takes, the graph's inputs); a model with a preparation not
#: listed here is refused by name
PREPARATIONS: dict[str, Callable[[_Graph, nn.Model], tuple[str, list]]] = dict.fromkeys(
    ("one-hot", "imputation", "one-hot+imputation"), onnx_preparation.write
)


def preparation_name(model: nn.Model) -> str | None:
    """The name of the preparation ``model`` applies to its raw inputs, or None."""
    prep = getattr(model, "preparation", None)
    if not prep:
        return None
    if isinstance(prep, nn.Preparation):
        # numeric columns only, none with an indicator: the inputs are the raw columns
        steps = [
            step
            for step, used in (
                ("one-hot", any(f.kind == "categorical" for f in prep.features)),
                ("imputation", any(f.indicator for f in prep.features)),
            )
            if used
        ]
        return "+".join(steps) or None
    if isinstance(prep, dict):
        return str(prep.get("name") or prep.get("kind") or "unnamed")
    return str(getattr(prep, "name", None) or type(prep).__name__)


def check_exportable(model: nn.Model) -> None:
    """ExportRefused when the graph cannot express ``model``."""
    prep = preparation_name(model)
    if prep is not None and prep not in PREPARATIONS:
        raise ExportRefused(
            f"the model's inputs go through a {prep!r} preparation, which the ONNX export "
            "does not write"
        )
    if isinstance(getattr(model, "preparation", None), nn.Preparation):
        reason = onnx_preparation.refusal(model.preparation)
        if reason is not None:
            raise ExportRefused(reason)
    for layer in model.network.layers:
        if layer.activation.name not in ACTIVATIONS:
            raise ExportRefused(f"no ONNX form of the {layer.activation.name!r} activation")


def _label_tensor(classes: list) -> tuple[np.ndarray, int]:
    """The classes as a constant tensor (strings, int64 or bool) and its element type."""
    if all(isinstance(c, bool) for c in classes):
        return np.array(classes, dtype=np.bool_), TensorProto.BOOL
    if all(isinstance(c, int) and not isinstance(c, bool) for c in classes):
        return np.array(classes, dtype=np.int64), TensorProto.INT64
    return np.array([str(c) for c in classes], dtype=object), TensorProto.STRING


def _outputs(g: _Graph, logits: str, model: nn.Model) -> list[onnx.ValueInfoProto]:
    """The output nodes for the model's kind; returns the graph's output declarations."""
    k = model.network.n_outputs
    info = helper.make_tensor_value_info
    if model.kind == "regression":
        values = g.op("Cast", [logits], to=TensorProto.DOUBLE)
        values = g.op("Mul", [values, g.const("y_scale", model.y_scaler.scale.astype(np.float64))])
        mean = g.const("y_mean", model.y_scaler.mean.astype(np.float64))
        if model.squeeze:
            values = g.op("Add", [values, mean])
            g.output("Squeeze", [values, g.const("axis", np.array([1], np.int64))], "values")
            return [info("values", TensorProto.DOUBLE, [BATCH])]
        g.output("Add", [values, mean], "values")
        return [info("values", TensorProto.DOUBLE, [BATCH, k])]
    if model.kind == "multilabel":
        p = g.output("Sigmoid", [logits], "probabilities")
        at_least = g.op("GreaterOrEqual", [p, g.const_f32("threshold", model.threshold)])
        g.output("Cast", [at_least], "label", to=TensorProto.INT64)
        return [
            info("probabilities", TensorProto.FLOAT, [BATCH, k]),
            info("label", TensorProto.INT64, [BATCH, k]),
        ]
    labels, label_type = _label_tensor(model.classes)
    table = g.const("classes", labels)
    if model.kind == "binary":
        p = g.op("Sigmoid", [logits])
        g.output("Concat", [g.op("Sub", [g.const_f32("one", 1.0), p]), p], "probabilities", axis=1)
        at_least = g.op("GreaterOrEqual", [p, g.const_f32("threshold", model.threshold)])
        chosen = g.op("Cast", [at_least], to=TensorProto.INT64)
        index = g.op("Squeeze", [chosen, g.const("axis", np.array([1], np.int64))])
        n_probabilities = 2
    else:
        p = g.output("Softmax", [logits], "probabilities", axis=1)
        # the argmax of the probabilities, as nn takes it (two logits apart can round to
        # one probability, and then the first class wins)
        index = g.op("ArgMax", [p], axis=1, keepdims=0)
        n_probabilities = k
    g.output("Gather", [table, index], "label", axis=0)
    return [
        info("probabilities", TensorProto.FLOAT, [BATCH, n_probabilities]),
        info("label", label_type, [BATCH]),
    ]


def to_model_proto(model: nn.Model, name: str = "model") -> onnx.ModelProto:
    """The ONNX model of ``model``; ExportRefused when it cannot be written."""
    check_exportable(model)
    g = _Graph()
    x = INPUT
    inputs = [helper.make_tensor_value_info(INPUT, TensorProto.DOUBLE, [BATCH, model.n_features])]
    opsets = [helper.make_opsetid("", OPSET)]
    prep = preparation_name(model)
    if prep is not None:
        x, inputs = PREPARATIONS[prep](g, model)
        opsets.append(helper.make_opsetid(onnx_preparation.ML_DOMAIN, onnx_preparation.ML_OPSET))
    x = g.op("Sub", [x, g.const("x_mean", model.x_scaler.mean.astype(np.float64))])
    x = g.op("Div", [x, g.const("x_scale", model.x_scaler.scale.astype(np.float64))])
    a = g.op("Cast", [x], "standardized", to=TensorProto.FLOAT)
    net = model.network
    for i, layer in enumerate(net.layers):
        z = g.op("Gemm", [a, g.const(f"W{i}", net.W[i]), g.const(f"b{i}", net.b[i])], f"z{i}")
        a = ACTIVATIONS[layer.activation.name](g, z, layer.units, **layer.params)
    logits = g.op("Gemm", [a, g.const("W_out", net.W[-1]), g.const("b_out", net.b[-1])], "logits")
    outputs = _outputs(g, logits, model)
    graph = helper.make_graph(
        g.nodes,
        name,
        inputs,
        outputs,
        g.initializers,
    )
    proto = helper.make_model(
        graph,
        opset_imports=opsets,
        ir_version=IR_VERSION,
        producer_name=PRODUCER,
        doc_string=f"{model.kind} model: {model.n_features} features, {net.n_outputs} outputs",
    )
    return proto


def to_onnx(model: nn.Model, name: str = "model") -> bytes:
    """The ONNX file of ``model``, as bytes; ExportRefused when it cannot be written."""
    return to_model_proto(model, name).SerializeToString()
