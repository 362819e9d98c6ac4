"""What the views work with, built once per app by :func:`service.create_app`."""

from __future__ import annotations

import time

from flask import current_app, request

from domain.deadline import Deadline
from domain.services import Services

from .auth import scope
from .metrics import STARTED

__all__ = ["deadline", "page", "scope", "services"]


def services() -> Services:
    """The running app's services."""
    return current_app.extensions["nnjobs"]


def page(fetch, query: dict, **filters) -> dict:
    """One page of a listing: ``fetch(offset=, limit=, **filters) -> (items, total)`` asked
    for the page ``query`` names, in the listings' envelope."""
    number, size = query["page"], query["page_size"]
    items, total = fetch(offset=(number - 1) * size, limit=size, **filters)
    return {"items": items, "total": total, "page": number, "page_size": size}


def deadline(svc: Services | None = None) -> Deadline:
    """This request's deadline (``NNJOBS_REQUEST_DEADLINE``), counted from its arrival,
    before its body was read (``svc``: the app's services, when the caller has them)."""
    started = request.environ.get(STARTED) or time.perf_counter()
    return Deadline(started, (svc or services()).settings["NNJOBS_REQUEST_DEADLINE"])
