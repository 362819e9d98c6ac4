"""What gunicorn refuses before the app runs (a request line or headers over its limits)
is answered in the API's JSON error shape, through a real gunicorn and a raw socket."""

from __future__ import annotations

import json
import socket
import uuid

import pytest
from live_service import LiveService


@pytest.fixture(scope="module")
def live(redis_url):
    with LiveService(redis_url, f"nnjobs-test-{uuid.uuid4().hex[:10]}", workers=1) as service:
        yield service


def raw(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``request`` as is; the status, headers and body of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize(
    ("request_bytes", "code", "words"),
    [
        (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "request line"),
        (
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
            + b"".join(b"X-H%d: v\r\n" % i for i in range(120))
            + b"\r\n",
            431,
            "too many headers",
        ),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"v" * 9000 + b"\r\n\r\n", 431, "large"),
    ],
    ids=["long-request-line", "too-many-headers", "header-too-large"],
)
def test_gunicorn_refusals_are_json_in_the_error_shape(live, request_bytes, code, words):
    status, headers, body = raw(live.port, request_bytes)
    assert status == code
    assert headers["content-type"] == "application/json"
    assert int(headers["content-length"]) == len(body)
    error = json.loads(body)
    assert set(error) == {"code", "status", "message"}
    assert error["code"] == code and error["status"]
    assert words in error["message"]


def test_a_request_within_the_limits_still_reaches_the_app(live):
    status, headers, body = raw(
        live.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert status == 200 and headers["content-type"] == "application/json"
    assert json.loads(body) == {"status": "ok"}
