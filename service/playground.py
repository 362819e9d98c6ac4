"""``GET /``: the playground, a page to train networks on synthetic data and watch them.

A static page and its script and style, served from the package (nothing is fetched
from elsewhere); the script talks to the API as any client does. It is no part of the
API, so it stays out of the OpenAPI document.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, send_from_directory

STATIC = Path(__file__).parent / "static" / "playground"

#: The page loads its own script and style and talks to this origin only. Nothing
#: inline runs, so an injected script or style attribute has no effect.
CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)

#: The page's own files, served at /playground/<name>.
ASSET_PREFIX = "/playground/"

blp = Blueprint(
    "playground",
    __name__,
    static_folder=str(STATIC),
    static_url_path=ASSET_PREFIX.rstrip("/"),
)


@blp.get("/")
def index():
    """The playground page."""
    return send_from_directory(STATIC, "index.html", max_age=0)


@blp.after_request
def _headers(response):
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
