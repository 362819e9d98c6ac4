"""The byte format of a stored model, without pickle.

Layout of a blob::

    MAGIC (12 bytes) | format version (u16) | header length (u32) |
    SHA-256 of header + payload (32 bytes) | header (JSON, UTF-8) | payload

The header holds the metadata (resolved spec, classes, shapes) and, for each array, its
offset and length in the payload; each array is stored in NumPy's ``.npy`` format and read
back with ``allow_pickle=False``. :func:`unpack` checks the magic, the digest, and that
every array is finite floating point data; :mod:`nn.model` checks every shape against the
architecture and rebuilds the model from data only, so a truncated, tampered or foreign
blob raises :class:`~nn.errors.ModelFormatError` and nothing in it is ever executed.

This module knows the envelope, not the model: it packs and unpacks plain metadata and
arrays, so that :mod:`nn.model` can use it without it using :mod:`nn.model`.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
from collections.abc import Mapping

import numpy as np

from .errors import ModelFormatError

MAGIC = b"NNJOBS-MODEL"
FORMAT_VERSION = 1
_FIXED = struct.Struct("<HI")
_PREFIX = len(MAGIC) + _FIXED.size + 32


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def pack(meta: Mapping, arrays: Mapping[str, np.ndarray]) -> bytes:
    """A blob holding ``meta`` (JSON-ready, finite) and the named ``arrays``."""
    payload, index = bytearray(), {}
    for name, array in arrays.items():
        blob = _npy(array)
        index[name] = [len(payload), len(blob)]
        payload += blob
    header = json.dumps(
        {
            "meta": meta,
            "arrays": index,
        },
        separators=(",", ":"),
        allow_nan=False,
    ).encode()
    digest = hashlib.sha256(header + payload).digest()
    return MAGIC + _FIXED.pack(FORMAT_VERSION, len(header)) + digest + header + bytes(payload)


def unpack(blob: bytes) -> tuple[dict, dict[str, np.ndarray]]:
    """``(meta, arrays)`` from :func:`pack` output.

    Raises
    ------
    ModelFormatError
        Not a blob of this format, or one whose bytes were changed.
    ValueError, KeyError, TypeError, IndexError
        A sealed header that does not describe the payload (the caller, which also reads
        the metadata, reports every such error as a malformed blob).
    """
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
    header = json.loads(body[:header_len])
    return header["meta"], _arrays(header["arrays"], body[header_len:])


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
