"""Serialization: exact round trips, and clear refusal of truncated, tampered or foreign blobs."""

import io
import json
import struct

import numpy as np
import pytest

import nn
from nn.serialize import _PREFIX, MAGIC

SPEC = {
    "layers": [
        {"units": 8, "activation": "maxout", "pieces": 3},
        {"units": 4, "activation": "leaky_relu", "alpha": 0.1, "dropout": 0.1},
    ],
    "training": {"epochs": 3},
}


def _models():
    X, y = nn.synthetic.make("spiral", n_samples=120, noise=0.05, seed=0)
    rng = np.random.default_rng(0)
    yield "binary-bool", X, y.astype(bool)
    yield "multiclass", X, np.array(["a", "b", "c"])[rng.integers(0, 3, 120)]
    yield "multilabel", X, rng.integers(0, 2, (120, 3))
    yield "regression", X * 1000, X[:, 0] * 5e4 + 7
    yield "regression-2", X, X * [3, -1]


@pytest.mark.parametrize(
    ("kind", "X", "y"), list(_models()), ids=lambda v: v if isinstance(v, str) else ""
)
def test_round_trip_is_exact(kind, X, y):
    model, _ = nn.fit(SPEC, X, y)
    blob = model.to_bytes()
    assert isinstance(blob, bytes)
    again = nn.load(blob)
    assert again.predict(X) == model.predict(X)  # same floats, bit for bit
    assert np.array_equal(again.network.params, model.network.params)
    assert again.spec == model.spec and again.metrics == model.metrics
    assert again.to_bytes() == blob


def _blob():
    X, y = nn.synthetic.make("circle", n_samples=60, seed=0)
    return nn.fit({"layers": [{"units": 3}], "training": {"epochs": 1}}, X, y)[0].to_bytes()


def _reseal(header: dict, payload: bytes) -> bytes:
    """A blob with a valid checksum around a crafted header: the digest alone is no defence."""
    import hashlib

    h = json.dumps(header).encode()
    return (
        MAGIC + struct.pack("<HI", 1, len(h)) + hashlib.sha256(h + payload).digest() + h + payload
    )


def _split(blob):
    (header_len,) = struct.unpack_from("<I", blob, len(MAGIC) + 2)
    body = blob[_PREFIX:]
    return json.loads(body[:header_len]), body[header_len:]


def test_truncated_tampered_and_foreign_blobs_are_refused():
    blob = _blob()
    for bad, reason in [
        (blob[:-1], "truncated"),
        (blob[: len(blob) // 2], "truncated"),
        (blob[:10], "not an nnjobs model"),
        (b"", "not an nnjobs model"),
        (blob[:-5] + bytes([blob[-5] ^ 1]) + blob[-4:], "checksum"),
        (b"\x93NUMPY" + blob[6:], "not an nnjobs model"),
        (b"PK\x03\x04" + bytes(100), "not an nnjobs model"),
        (MAGIC + struct.pack("<HI", 99, 0) + bytes(32), "unsupported model format version 99"),
    ]:
        with pytest.raises(nn.ModelFormatError, match=reason):
            nn.load(bad)
    with pytest.raises(nn.ModelFormatError, match="bytes"):
        nn.load("a string")


def test_resealed_blobs_with_bad_contents_are_refused():
    header, payload = _split(_blob())
    # a pickled object array where the weights should be
    buf = io.BytesIO()
    np.save(buf, np.array([object()], dtype=object), allow_pickle=True)
    evil = buf.getvalue()
    bad_header = json.loads(json.dumps(header))
    bad_header["arrays"]["params"] = [len(payload), len(evil)]
    with pytest.raises(nn.ModelFormatError, match="malformed"):
        nn.load(_reseal(bad_header, payload + evil))

    cases = []
    h = json.loads(json.dumps(header))
    h["meta"]["spec"]["layers"][0]["units"] = 5  # architecture no longer fits the weights
    cases.append((h, "parameters have shape"))
    h = json.loads(json.dumps(header))
    h["meta"]["spec"]["layers"][0]["activation"] = "os.system"
    cases.append((h, "unknown activation"))
    h = json.loads(json.dumps(header))
    h["arrays"]["params"][1] += 10**6
    cases.append((h, "outside the blob"))
    h = json.loads(json.dumps(header))
    h["meta"]["kind"] = "regression"
    cases.append((h, "does not match output"))
    h = json.loads(json.dumps(header))
    del h["meta"]["n_features"]
    cases.append((h, "malformed"))
    h = json.loads(json.dumps(header))
    h["meta"]["classes"] = [0]
    cases.append((h, "classes do not fit"))
    for bad, reason in cases:
        with pytest.raises(nn.ModelFormatError, match=reason):
            nn.load(_reseal(bad, payload))
    assert nn.load(_reseal(header, payload)).n_features == 2


def test_a_resealed_header_claiming_a_vast_network_is_refused_before_it_is_built():
    header, payload = _split(_blob())
    huge = json.loads(json.dumps(header))
    # 4,096 units, 30 layers deep, a billion features: terabytes, were it built to compare
    huge["meta"]["spec"]["layers"] = [{"units": 4096, "activation": "relu"}] * 30
    huge["meta"]["n_features"] = 10**9
    with pytest.raises(nn.ModelFormatError, match="parameters have shape"):
        nn.load(_reseal(huge, payload))


def test_a_resealed_header_nested_too_deeply_is_refused():
    import hashlib

    header, payload = _split(_blob())
    text = json.dumps({**header, "deep": "NEST"}).replace('"NEST"', "[" * 10**5 + "]" * 10**5)
    h = text.encode()
    blob = MAGIC + struct.pack("<HI", 1, len(h)) + hashlib.sha256(h + payload).digest() + h
    with pytest.raises(nn.ModelFormatError, match="malformed"):
        nn.load(blob + payload)
