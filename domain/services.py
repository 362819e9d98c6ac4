"""What the domain works with, built once per process by its host (the API's app)."""

from __future__ import annotations

from dataclasses import dataclass

from celery import Celery

import nn
from registry import Registry
from registry.waiting import JobWaits

from .cache import ModelCache, RefCache


@dataclass
class Services:
    #: the host's settings by name (``NNJOBS_MAX_VALUES``, ...)
    settings: dict
    limits: nn.Limits
    registry: Registry
    #: the app the training messages are sent through, by task name only
    celery: Celery
    queue: str
    cache: ModelCache
    refs: RefCache
    #: where long polls wait (one subscription per process)
    waits: JobWaits
