"""Model serialization without pickle.

Layout of a blob::

    MAGIC (12 bytes) | format version (u16) | header length (u32) |
    SHA-256 of header + payload (32 bytes) | header (JSON, UTF-8) | payload

The header holds the metadata (resolved spec, classes, shapes) and, for each array, its
offset and length in the payload; each array is stored in NumPy's ``.npy`` format and read
back with ``allow_pickle=False``. Loading checks the magic, the digest, every shape and
dtype, and rebuilds the model from data only, so a truncated, tampered or foreign blob
raises :class:`~nn.errors.ModelFormatError` and nothing in it is ever executed.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct

import numpy as np

from .data import Scaler
from .errors import ModelFormatError, SpecError
from .limits import Limits
from .model import Model, build_network
from .spec import resolve_spec

MAGIC = b"NNJOBS-MODEL"
FORMAT_VERSION = 1
_FIXED = struct.Struct("<HI")
_PREFIX = len(MAGIC) + _FIXED.size + 32
_KINDS = {
    "binary": "sigmoid",
    "multilabel": "sigmoid",
    "multiclass": "softmax",
    "regression": "linear",
}
# a stored model was validated when it was trained, under whatever limits were then set
_NO_LIMITS = Limits.unbounded()


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def dumps(model: Model) -> bytes:
    """Serialize ``model`` to bytes."""
    arrays = {
        "params": model.network.params,
        "x_mean": model.x_scaler.mean,
        "x_scale": model.x_scaler.scale,
    }
    if model.y_scaler is not None:
        arrays["y_mean"], arrays["y_scale"] = model.y_scaler.mean, model.y_scaler.scale
    payload, index = bytearray(), {}
    for name, array in arrays.items():
        blob = _npy(array)
        index[name] = [len(payload), len(blob)]
        payload += blob
    header = json.dumps(
        {
            "meta": {
                "spec": model.spec,
                "n_features": model.n_features,
                "n_outputs": model.network.n_outputs,
                "kind": model.kind,
                "classes": model.classes,
                "squeeze": model.squeeze,
                "metrics": model.metrics,
            },
            "arrays": index,
        },
        separators=(",", ":"),
        allow_nan=False,
    ).encode()
    digest = hashlib.sha256(header + payload).digest()
    return MAGIC + _FIXED.pack(FORMAT_VERSION, len(header)) + digest + header + bytes(payload)


def loads(blob: bytes) -> Model:
    """Rebuild a model from :func:`dumps` output, or raise ModelFormatError."""
    if not isinstance(blob, (bytes, bytearray, memoryview)):
        raise ModelFormatError(f"a model blob is bytes, not {type(blob).__name__}")
    blob = bytes(blob)
    if len(blob) < _PREFIX or not blob.startswith(MAGIC):
        raise ModelFormatError("not an nnjobs model (bad magic or too short)")
    version, header_len = _FIXED.unpack_from(blob, len(MAGIC))
    if version != FORMAT_VERSION:
        raise ModelFormatError(f"unsupported model format version {version}")
    digest = blob[len(MAGIC) + _FIXED.size : _PREFIX]
    body = blob[_PREFIX:]
    if header_len > len(body):
        raise ModelFormatError("model blob is truncated")
    if hashlib.sha256(body).digest() != digest:
        raise ModelFormatError("model blob is corrupted or truncated (checksum mismatch)")
    try:
        header = json.loads(body[:header_len])
        return _rebuild(header["meta"], _arrays(header["arrays"], body[header_len:]))
    except ModelFormatError:
        raise
    except (ValueError, KeyError, TypeError, IndexError, SpecError) as e:
        raise ModelFormatError(f"model blob is malformed: {e}") from None


def _arrays(index: dict, payload: bytes) -> dict[str, np.ndarray]:
    out = {}
    for name, (offset, length) in index.items():
        if not (offset >= 0 and length > 0 and offset + length <= len(payload)):
            raise ModelFormatError(f"array {name!r} lies outside the blob")
        arr = np.load(io.BytesIO(payload[offset : offset + length]), allow_pickle=False)
        if arr.dtype.kind != "f" or not np.isfinite(arr).all():
            raise ModelFormatError(f"array {name!r} is not finite floating point data")
        out[name] = arr
    return out


def _rebuild(meta: dict, arrays: dict[str, np.ndarray]) -> Model:
    kind = meta["kind"]
    output = meta["spec"]["output"]
    if _KINDS.get(kind) != output:
        raise ModelFormatError(f"model kind {kind!r} does not match output {output!r}")
    spec = resolve_spec(meta["spec"], _NO_LIMITS)
    spec["output"] = output
    n_features, n_outputs = int(meta["n_features"]), int(meta["n_outputs"])
    net = build_network(spec, n_features, n_outputs)
    params = arrays["params"]
    if params.dtype != net.dtype or params.shape != net.params.shape:
        raise ModelFormatError(
            f"parameters have shape {params.shape}, the architecture needs {net.params.shape}"
        )
    net.params[...] = params

    def scaler(prefix: str, size: int) -> Scaler:
        mean, scale = arrays[f"{prefix}_mean"], arrays[f"{prefix}_scale"]
        if mean.shape != (size,) or scale.shape != (size,) or not (scale > 0).all():
            raise ModelFormatError(f"{prefix} scaling does not fit the model")
        return Scaler(mean, scale)

    classes = meta["classes"]
    if kind != "regression" and (
        not isinstance(classes, list) or len(classes) != (2 if kind == "binary" else n_outputs)
    ):
        raise ModelFormatError("classes do not fit the model's outputs")
    return Model(
        spec,
        net,
        n_features,
        kind,
        scaler("x", n_features),
        classes,
        scaler("y", n_outputs) if kind == "regression" else None,
        bool(meta["squeeze"]),
        dict(meta.get("metrics") or {}),
    )
