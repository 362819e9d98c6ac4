"""A model's preparation (:class:`nn.Preparation`) as ONNX nodes: raw columns in, the
network's input matrix out.

One graph input per raw feature, named as the feature, of shape ``(batch, 1)``:

- a numeric column is ``double``, NaN where the value is missing. ``IsNaN`` finds the
  missing values, ``Where`` puts the column's median in their place, and when the
  preparation has an indicator column for it, ``Cast(IsNaN)`` is that column (1.0 where
  the value was missing);
- a categorical column is ``string``: each cell is the category as the preparation
  compares it, as text (:func:`nn.columns.category_key`: booleans ``true``/``false``,
  numbers in their shortest form, ``94110`` rather than ``94110.0``, surrounding spaces
  removed). ``LabelEncoder`` maps each kept category to its one-hot position, each
  folded category to ``<other>``'s, the missing tokens (:data:`nn.columns.MISSING_TEXT`:
  ``""``, ``NA``, ``null``, ...) to ``<missing>``'s (``<other>``'s when the column had no
  missing value in training, as the preparation counts it), and any other text, a
  category never seen, to ``<other>``'s by its default. ``Equal`` against the positions
  ``0 .. width - 1`` and ``Cast`` to double give the one-hot columns.

``Concat`` joins the columns in the preparation's order (:attr:`nn.Preparation.encoded`),
which the standardization then takes as it takes a numeric model's inputs.

**Operators and opsets.** The one-hot encoding is ``LabelEncoder`` of the ``ai.onnx.ml``
domain, version 2 (string keys to int64 values, with a default: the version that first
has them), then ``Equal`` on int64 of the default domain. String comparison with
``Equal`` would need opset 19 and ``StringNormalizer`` cannot strip spaces; the
``ai.onnx.ml`` LabelEncoder is older than opset 13, so every onnxruntime that reads opset
13 (1.6 and later) reads it too, and the default domain stays at opset 13: numeric
models and prepared ones share one opset, and numeric models' files stay exactly as they
were (they import no ``ai.onnx.ml`` domain).
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper

import nn
from nn.columns import MISSING_TEXT

#: the ai.onnx.ml domain and the version whose LabelEncoder maps strings to int64
ML_DOMAIN = "ai.onnx.ml"
ML_OPSET = 2
#: the graph's outputs: a feature of one of these names cannot be an input beside them
OUTPUT_NAMES = ("probabilities", "label", "values")


def refusal(prep: nn.Preparation) -> str | None:
    """Why the preparation's inputs cannot be graph inputs, or None."""
    taken = [f.name for f in prep.features if f.name in OUTPUT_NAMES]
    if taken:
        return (
            f"the feature {taken[0]!r} has the name of one of the graph's outputs "
            f"({', '.join(OUTPUT_NAMES)}); rename the column"
        )
    return None


def category_codes(feature: nn.preparation.Feature) -> tuple[list[str], list[int], int]:
    """The LabelEncoder's string keys, their one-hot positions, and its default (the
    position of ``<other>``)."""
    other = len(feature.categories)
    missing = other + 1 if feature.missing_level else other
    codes = {c: j for j, c in enumerate(feature.categories)}
    codes |= dict.fromkeys(feature.folded or (), other)
    codes |= dict.fromkeys(MISSING_TEXT, missing)
    # booleans as Python and pandas spell them, beside the preparation's true/false
    for word in ("true", "false"):
        if word in codes:
            codes |= dict.fromkeys((word.capitalize(), word.upper()), codes[word])
    return list(codes), list(codes.values()), other


def write(g, model: nn.Model) -> tuple[str, list]:
    """The preparation's nodes in ``g``; returns the name of the (batch, n_features)
    double matrix and the graph's input declarations."""
    prep = model.preparation
    columns, inputs = [], []
    for f in prep.features:
        g.reserve(f.name)
    for f in prep.features:
        if f.kind == "numeric":
            inputs.append(helper.make_tensor_value_info(f.name, TensorProto.DOUBLE, ["batch", 1]))
            nan = g.op("IsNaN", [f.name], "missing")
            median = g.const("median", np.array([[f.median or 0.0]], np.float64))
            columns.append(g.op("Where", [nan, median, f.name], "imputed"))
            if f.indicator:
                columns.append(g.op("Cast", [nan], "indicator", to=TensorProto.DOUBLE))
            continue
        inputs.append(helper.make_tensor_value_info(f.name, TensorProto.STRING, ["batch", 1]))
        keys, values, other = category_codes(f)
        code = g.op(
            "LabelEncoder",
            [f.name],
            "category",
            domain=ML_DOMAIN,
            keys_strings=keys,
            values_int64s=values,
            default_int64=other,
        )
        positions = g.const("positions", np.arange(len(f.encoded), dtype=np.int64)[None, :])
        hot = g.op("Equal", [code, positions], "hot")
        columns.append(g.op("Cast", [hot], "one_hot", to=TensorProto.DOUBLE))
    return g.op("Concat", columns, "prepared", axis=1), inputs
