"""A model trained on a mixed table exports its preparation: the ONNX graph takes the raw
columns (imputation, indicators and one-hot inside it), checked by onnx's checker and run
by onnxruntime and by ``mlflow.pyfunc`` against ``Model.predict`` on the same raw rows."""

from __future__ import annotations

import functools
import io
import math
import zipfile

import mlflow.pyfunc
import numpy as np
import onnx
import pandas as pd
import pytest
from table_helpers import RAW_ROWS, mixed_table

import nn
from interop import onnx_graph, parity
from interop.mlflow_model import to_mlflow_zip
from nn.columns import columns_of

TOLERANCE = 1e-5
TRAINING = {"epochs": 15, "batch_size": 16, "seed": 3}


@functools.cache
def fitted(output: str) -> nn.Model:
    """The mixed table, ``zip`` named categorical: binary (its labels), three classes
    (by island, its missing cells a class of their own), or a regression."""
    table, labels = mixed_table()
    spec = {"training": TRAINING, "data": {"features": {"zip": "categorical"}}}
    if output == "softmax":
        labels = [("none" if i is None else i) for i in table["island"]]
        table = {k: v for k, v in table.items() if k != "island"}
    elif output == "linear":
        labels = [
            float(len(lab)) + (t is True) for lab, t in zip(labels, table["tagged"], strict=True)
        ]
    return nn.fit(spec, table, labels)[0]


def columns(rows: list[dict], names) -> dict[str, list]:
    cols = columns_of(rows)
    return {n: list(cols[n]) if n in cols else [None] * len(rows) for n in names}


def assert_same(model: nn.Model, table: dict, got: dict) -> None:
    want = model.predict(table)
    if model.kind == "regression":
        np.testing.assert_allclose(got["values"], want["predictions"], rtol=0, atol=TOLERANCE)
        return
    p = np.asarray(want["probabilities"])
    if model.kind == "binary":
        p = np.stack([1 - p, p], axis=1)
    np.testing.assert_allclose(got["probabilities"], p, rtol=0, atol=TOLERANCE)
    assert got["label"].tolist() == want["predictions"]


@pytest.mark.parametrize("output", ["sigmoid", "softmax", "linear"])
def test_the_graph_carries_the_preparation_and_matches_predict_on_raw_rows(output):
    model = fitted(output)
    proto = onnx_graph.to_model_proto(model)
    onnx.checker.check_model(proto, full_check=True)
    names = model.preparation.names
    types = {i.name: i.type.tensor_type.elem_type for i in proto.graph.input}
    assert list(types) == names
    for f in model.preparation.features:
        string = f.kind == "categorical"
        assert types[f.name] == (onnx.TensorProto.STRING if string else onnx.TensorProto.DOUBLE)
    opsets = {o.domain: o.version for o in proto.opset_import}
    assert opsets == {"": onnx_graph.OPSET, "ai.onnx.ml": 2}
    ops = {n.op_type for n in proto.graph.node}
    assert {"IsNaN", "Where", "LabelEncoder", "Equal"} <= ops
    sess = parity.session(proto.SerializeToString())
    # an extra column, shuffled keys, a missing cell, an unseen category, text numbers,
    # a column absent from a row; then the training table itself
    raw = columns(RAW_ROWS, names)
    assert_same(model, raw, parity.run(sess, raw))
    table, _ = mixed_table()
    whole = {n: table[n] for n in names}
    assert_same(model, whole, parity.run(sess, whole))


def test_the_graph_itself_maps_missing_texts_and_unseen_categories():
    model = fitted("sigmoid")
    sess = parity.session(onnx_graph.to_onnx(model))
    # the cells as a caller of onnxruntime sends them, none turned by nnjobs
    island = ["Dream", "NA", "", "null", "Atlantis", "Biscoe", "N/A", "Torgersen"]
    tagged = ["true", "True", "false", "FALSE", "maybe", "", "true", "false"]
    zipcode = ["10001", "94110", "60601", "12345", "NA", "10001", "60601", "94110"]
    length = [44.5, math.nan, 38.0, 41.0, math.nan, 36.0, 40.0, 50.0]
    fed = {
        "length": np.array(length).reshape(-1, 1),
        "island": np.array(island, dtype=object).reshape(-1, 1),
        "tagged": np.array(tagged, dtype=object).reshape(-1, 1),
        "zip": np.array(zipcode, dtype=object).reshape(-1, 1),
    }
    got = dict(
        zip(["probabilities", "label"], sess.run(["probabilities", "label"], fed), strict=True)
    )
    table = {"length": length, "island": island, "tagged": tagged, "zip": zipcode}
    assert_same(model, table, got)
    # the imputed and one-hot columns, read off the graph, are the preparation's own
    encoded, _ = model.encode(table)
    assert encoded[1].tolist()[:2] == [model.preparation.features[0].median, 1.0]
    assert encoded[4][2:7].tolist() == [0, 0, 0, 1, 0]  # Atlantis: <other>


def test_mlflow_takes_a_frame_of_mixed_columns(tmp_path):
    model = fitted("sigmoid")
    with zipfile.ZipFile(io.BytesIO(to_mlflow_zip(model, model.preparation.names))) as zf:
        zf.extractall(tmp_path)
    loaded = mlflow.pyfunc.load_model(str(tmp_path))
    inputs = loaded.metadata.signature.inputs
    assert inputs.input_names() == ["length", "island", "tagged", "zip"]
    assert [t.name for t in inputs.input_types()] == ["double", "string", "boolean", "long"]
    frame = pd.DataFrame(
        {
            "zip": [10001, 94110, 60601, 12345, 10001],
            "length": [44.5, 38.0, np.nan, 41.5, 39.0],
            "island": ["Dream", "Atlantis", None, "NA", " Biscoe "],
            "tagged": [True, False, True, False, True],
            "extra": ["x"] * 5,
        }
    )
    table = {c: [None if v is np.nan else v for v in frame[c]] for c in frame.columns}
    table["length"][2] = None
    assert_same(model, table, loaded.predict(frame))


@pytest.mark.parametrize("output", ["sigmoid", "linear"])
def test_the_certificate_feeds_the_raw_rows_the_inputs_encode(output):
    model = fitted(output)
    table, _ = mixed_table()
    x, _ = model.encode(table)
    # decoding is exact: the raw rows encode back to the same inputs
    raw = parity.raw_table(model.preparation, x)
    np.testing.assert_array_equal(model.encode(raw)[0], x)
    cert = parity.certificate(model, x[:40], "validation")
    assert cert["exportable"] and cert["fed"] == "raw columns" and cert["rows"] == 40
    assert 0 <= cert["max_abs_difference"] < TOLERANCE
    assert cert["labels_agree"] is (None if output == "linear" else True)
    # an imported model's rows are drawn at random: they decode all the same
    drawn = parity.certificate(model, parity.drawn_rows(model, 20), "drawn")
    assert drawn["max_abs_difference"] < TOLERANCE and drawn["fed"] == "raw columns"
    extreme = parity.extreme_table(model)
    assert "" in extreme["island"] and "<other>" in extreme["island"]
    present = [v for v in extreme["length"] if v is not None]
    assert None in extreme["length"] and max(present) > 100 and min(present) < -100


def test_numeric_columns_with_missing_values_take_one_input_each(tmp_path):
    table, labels = mixed_table(60)
    table = {"length": table["length"], "width": [float(i % 7) for i in range(60)]}
    model = nn.fit({"training": {"epochs": 3}}, table, labels)[0]
    assert onnx_graph.preparation_name(model) == "imputation"
    proto = onnx_graph.to_model_proto(model)
    onnx.checker.check_model(proto, full_check=True)
    assert [i.name for i in proto.graph.input] == ["length", "width"]
    raw = {"length": [None, 41.0, "NA"], "width": [2.0, 3.0, 6.0]}
    assert_same(model, raw, parity.run(parity.session(proto.SerializeToString()), raw))
    with zipfile.ZipFile(io.BytesIO(to_mlflow_zip(model))) as zf:
        zf.extractall(tmp_path)
    loaded = mlflow.pyfunc.load_model(str(tmp_path))
    frame = pd.DataFrame({"length": [np.nan, 41.0, np.nan], "width": [2.0, 3.0, 6.0]})
    assert_same(model, raw, loaded.predict(frame))


def test_a_feature_named_as_an_output_is_refused_by_name():
    table, labels = mixed_table(30)
    table["label"] = table.pop("island")
    model = nn.fit({"training": {"epochs": 1}}, table, labels)[0]
    with pytest.raises(onnx_graph.ExportRefused, match="the feature 'label' has the name"):
        onnx_graph.to_onnx(model)
    cert = parity.certificate(model, model.encode(table)[0][:5], "validation")
    assert cert["exportable"] is False and "'label'" in cert["reason"]
