"""Returning the memory of a large request to the system once it is answered.

glibc's malloc raises its mmap threshold each time a large block is freed, up to 32 MiB,
so the arrays of a parsed upload are later taken from a heap, and freeing them leaves them
there: a gunicorn worker that took 30 MiB CSV files grew from 172 to 297 MiB over five
uploads and kept it (``bench/uploads.py``'s file, one worker). Two things give it back:

- ``malloc_trim(0)`` once the answer to a request with a body of at least
  :data:`TRIM_AFTER_BYTES` is sent (:func:`init`), so small requests (predictions,
  listings) pay nothing;
- one malloc arena for the API's threads (:func:`one_arena`, from ``gunicorn.conf.py``):
  ``malloc_trim`` cannot shrink the top of a thread's own arena, which kept up to 37 MiB
  after an upload in one run of five. The threads take turns on the GIL for nearly all
  their allocations, so sharing one arena costs them little.

Together, with the CSV parser on malloc too (``domain/numeric_csv.py``), three such uploads
leave nothing behind (``tests/test_api_memory.py``), and an upload takes no longer. Where
the C library has neither function (musl, macOS) nothing is done. Fixing the mmap
threshold instead would also have kept the worker's size, but it made an upload 55%
slower, each of its large arrays a fresh mapping.
"""

from __future__ import annotations

import ctypes
import ctypes.util

from flask import Flask, Response, request

#: a request body at least this large is followed by a trim
TRIM_AFTER_BYTES = 1 << 20
#: mallopt's parameter number for the most arenas (glibc's malloc.h)
M_ARENA_MAX = -8


def libc_function(name: str, argtypes: list, restype=ctypes.c_int):
    """The C library's function ``name``, typed; None where there is none."""
    path = ctypes.util.find_library("c")
    try:
        function = getattr(ctypes.CDLL(path), name) if path else None
    except (OSError, AttributeError):
        return None
    if function is not None:
        function.argtypes, function.restype = argtypes, restype
    return function


def one_arena() -> bool:
    """Have every thread of this process allocate from one malloc arena; call it before
    the threads start. False where the C library cannot."""
    mallopt = libc_function("mallopt", [ctypes.c_int, ctypes.c_int])
    return mallopt is not None and bool(mallopt(M_ARENA_MAX, 1))


def init(app: Flask) -> None:
    """Trim the heap after each request with a body of :data:`TRIM_AFTER_BYTES` or more."""
    trim = libc_function("malloc_trim", [ctypes.c_size_t])
    if trim is None:
        return

    @app.after_request
    def _trim_after_large_body(response: Response) -> Response:
        # once the answer is sent and the request's body and arrays are gone
        if (request.content_length or 0) >= TRIM_AFTER_BYTES:
            response.call_on_close(lambda: trim(0))
        return response
