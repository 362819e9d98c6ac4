"""What the views work with, built once per app by :func:`service.create_app`."""

from __future__ import annotations

from flask import current_app

from domain.services import Services


def services() -> Services:
    """The running app's services."""
    return current_app.extensions["nnjobs"]


def page(fetch, query: dict, **filters) -> dict:
    """One page of a listing: ``fetch(offset=, limit=, **filters) -> (items, total)`` asked
    for the page ``query`` names, in the listings' envelope."""
    number, size = query["page"], query["page_size"]
    items, total = fetch(offset=(number - 1) * size, limit=size, **filters)
    return {"items": items, "total": total, "page": number, "page_size": size}
