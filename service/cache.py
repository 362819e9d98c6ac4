"""A bounded, least-recently-used cache of deserialized models, keyed by model id.

Loading a model means fetching its bytes from Redis and rebuilding the network, so the
API keeps the models it predicts with. A cache belongs to one API process; a model
deleted through another process is noticed because every prediction first resolves the
model in Redis (``Registry.resolve_model``) and only then looks here.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import nn


class ModelCache:
    """At most ``size`` models; ``size`` 0 keeps none. Safe to share between threads."""

    def __init__(self, size: int):
        self.size = size
        self._models: OrderedDict[str, nn.Model] = OrderedDict()
        # the model's name, for the metrics' labels (ids would be too many)
        self._names: dict[str, str] = {}
        self._lock = threading.Lock()

    def get(self, model_id: str) -> nn.Model | None:
        with self._lock:
            model = self._models.get(model_id)
            if model is not None:
                self._models.move_to_end(model_id)
            return model

    def put(self, model_id: str, model: nn.Model, name: str | None = None) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._models[model_id] = model
            if name is not None:
                self._names[model_id] = name
            self._models.move_to_end(model_id)
            while len(self._models) > self.size:
                evicted, _ = self._models.popitem(last=False)
                self._names.pop(evicted, None)

    def name(self, model_id: str) -> str | None:
        """The name a cached model was put with."""
        with self._lock:
            return self._names.get(model_id)

    def discard(self, model_id: str) -> None:
        with self._lock:
            self._models.pop(model_id, None)
            self._names.pop(model_id, None)

    def __contains__(self, model_id: str) -> bool:
        with self._lock:
            return model_id in self._models

    def __len__(self) -> int:
        with self._lock:
            return len(self._models)

    def ids(self) -> list[str]:
        """Cached ids, least recently used first."""
        with self._lock:
            return list(self._models)
