"""gunicorn's own refusals in the API's one JSON error shape.

gunicorn answers a request it cannot parse or that breaks its limits (a request line over
``limit_request_line``, more headers than ``limit_request_fields``, a header over
``limit_request_field_size``, a malformed line or header) before the app runs, through
``gunicorn.util.write_error``, with an HTML page. gunicorn offers no hook for that answer,
so each API worker process replaces that function (``post_worker_init`` in
``gunicorn.conf.py``) with :func:`write_json_error`: the same status, as JSON.
"""

from __future__ import annotations

import json
from http import HTTPStatus

from gunicorn import util

#: what to tell the client, by status, beside gunicorn's own words
EXPLAINED = {
    414: "the request line is too long (gunicorn's limit_request_line)",
    431: (
        "the request has too many headers, or one too large (gunicorn's "
        "limit_request_fields, limit_request_field_size)"
    ),
}


def body(status: int, detail: str) -> bytes:
    """The error body of status ``status``, ``detail`` being gunicorn's words."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    message = EXPLAINED.get(status) or detail or phrase
    if status in EXPLAINED and detail:
        message = f"{message}: {detail}"
    return json.dumps({"code": status, "status": phrase, "message": message}).encode()


def write_json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """``gunicorn.util.write_error``'s signature, answering in the JSON error shape."""
    payload = body(status_int, mesg)
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + payload)


def install() -> None:
    """Answer gunicorn's refusals in JSON in this process from now on."""
    util.write_error = write_json_error
