"""Returning the memory of a large request to the system once it is answered.

glibc's malloc raises its mmap threshold each time a large block is freed, up to 32 MiB,
so the arrays of a parsed upload are later taken from the heap, and freeing them leaves
them there: a gunicorn worker that took 30 MiB CSV files grew from 172 to 297 MiB over
five uploads and kept it (``bench/uploads.py``'s file, one worker). ``malloc_trim(0)``,
once the answer to a large request is sent, gives those pages back; with the CSV parser
on malloc too (``domain/numeric_csv.py``), three such uploads leave 4-12 MiB behind
(``tests/test_api_memory.py``). It runs only after a request whose body is at least
:data:`TRIM_AFTER_BYTES`, so small requests (predictions, listings) pay nothing, and not
where the C library has no ``malloc_trim`` (musl, macOS).
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable

from flask import Flask, Response, request

#: a request body at least this large is followed by a trim
TRIM_AFTER_BYTES = 1 << 20


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def init(app: Flask) -> None:
    """Trim the heap after each request with a body of :data:`TRIM_AFTER_BYTES` or more."""
    trim = _malloc_trim()
    if trim is None:
        return

    @app.after_request
    def _trim_after_large_body(response: Response) -> Response:
        # once the answer is sent and the request's body and arrays are gone
        if (request.content_length or 0) >= TRIM_AFTER_BYTES:
            response.call_on_close(lambda: trim(0))
        return response
