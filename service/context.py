"""What the views work with, built once per app by :func:`service.create_app`."""

from __future__ import annotations

from dataclasses import dataclass

from celery import Celery
from flask import current_app

import nn
from registry import Registry
from registry.waiting import JobWaits

from .cache import ModelCache, RefCache


@dataclass
class Services:
    settings: dict
    limits: nn.Limits
    registry: Registry
    celery: Celery
    queue: str
    cache: ModelCache
    refs: RefCache
    waits: JobWaits
    api: object  # service.errors.Api; typed loosely to keep this module import-light


def services() -> Services:
    """The running app's services."""
    return current_app.extensions["nnjobs"]


def page(fetch, query: dict, **filters) -> dict:
    """One page of a listing: ``fetch(offset=, limit=, **filters) -> (items, total)`` asked
    for the page ``query`` names, in the listings' envelope."""
    number, size = query["page"], query["page_size"]
    items, total = fetch(offset=(number - 1) * size, limit=size, **filters)
    return {"items": items, "total": total, "page": number, "page_size": size}
