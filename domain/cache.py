"""What an API process keeps so that a prediction need not ask Redis anything.

- :class:`ModelCache`: a least-recently-used cache of deserialized models, keyed by model
  id, bounded by their number and by their bytes. A model's id never names anything
  else, so a cached model stays right until the model is deleted.
- :class:`RefCache`: which model id each reference (id, name, name@version) resolved to.
  A name's latest version changes when a model is stored or deleted.

Both are kept right by the registry's change feed: every model stored or deleted is
published on one Redis channel (``Registry.model_changes_channel``), and before each
lookup the process reads, without waiting, whatever has arrived on its subscription
(:meth:`RefCache.resolve`): a deletion evicts the model, and any change forgets every
resolved reference. Whether anything has arrived is asked of the kernel with one
``poll`` of the subscription's socket: redis-py's own non-blocking read costs about ten
times more, on every prediction. A change that finished before a request was sent has
reached the process's socket by the time the request is read (Redis writes the
notification before it answers the command that made the change), so in practice a
prediction never sees a deleted model or an older version of a name, at no Redis round
trip for a cached model.
While the subscription is down (Redis restarted, connection lost) nothing is trusted:
every prediction resolves in Redis, as without the feed, and the caches are emptied when
the subscription comes back.
"""

from __future__ import annotations

import contextlib
import math
import os
import select
import threading
from collections import OrderedDict

import redis

import nn
from registry import Registry
from registry.tenants import DEFAULT_TENANT

#: resolved references kept at most (then forgotten together): unknown references are
#: never kept, so only real models' names and ids fill it
MAX_REFS = 10_000


class _Always:
    """A poll that always says there may be something to read."""

    def poll(self, timeout: float) -> bool:
        return True


_ALWAYS = _Always()


def footprint(model: nn.Model) -> int:
    """The bytes a loaded model holds: its parameters, the gradient buffer of the same
    size its network carries, its scalers, and its preparation's names and categories."""
    scalers = [s for s in (model.x_scaler, model.y_scaler) if s is not None]
    return (
        model.network.params.nbytes
        + model.network.grads.nbytes
        + sum(s.mean.nbytes + s.scale.nbytes for s in scalers)
        + (0 if model.preparation is None else model.preparation.nbytes())
    )


class ModelCache:
    """At most ``size`` models of at most ``max_bytes`` together (their
    :func:`footprint`); ``size`` 0 keeps none, and a model over ``max_bytes`` alone is
    not kept. Safe to share between threads."""

    def __init__(self, size: int, max_bytes: float = math.inf):
        self.size, self.max_bytes = size, max_bytes
        self._models: OrderedDict[str, nn.Model] = OrderedDict()
        self._bytes: dict[str, int] = {}
        #: the bytes of the models kept
        self.nbytes = 0
        # the model's name, for the metrics' labels (ids would be too many)
        self._names: dict[str, str] = {}
        # what else serving needs of the model's record (its version, its features)
        self._info: dict[str, dict] = {}
        self._lock = threading.Lock()

    def get(self, model_id: str) -> nn.Model | None:
        with self._lock:
            model = self._models.get(model_id)
            if model is not None:
                self._models.move_to_end(model_id)
            return model

    def entry(self, model_id: str) -> tuple[nn.Model, dict] | None:
        """The cached model and the ``info`` it was put with, under one lock (what a
        prediction needs), or None unless both are kept."""
        with self._lock:
            model = self._models.get(model_id)
            info = self._info.get(model_id)
            if model is None or info is None:
                return None
            self._models.move_to_end(model_id)
            return model, info

    def put(
        self,
        model_id: str,
        model: nn.Model,
        name: str | None = None,
        nbytes: int = 0,
        info: dict | None = None,
    ) -> None:
        """Keep ``model`` (of ``nbytes``, its :func:`footprint`) and ``info`` about it,
        evicting the least recently used until both bounds hold."""
        if self.size <= 0 or nbytes > self.max_bytes:
            return
        with self._lock:
            self._drop(model_id)
            self._models[model_id] = model
            self._bytes[model_id] = nbytes
            self.nbytes += nbytes
            if name is not None:
                self._names[model_id] = name
            if info is not None:
                self._info[model_id] = info
            while len(self._models) > self.size or self.nbytes > self.max_bytes:
                self._drop(next(iter(self._models)))

    def _drop(self, model_id: str) -> None:
        if self._models.pop(model_id, None) is not None:
            self.nbytes -= self._bytes.pop(model_id)
        self._names.pop(model_id, None)
        self._info.pop(model_id, None)

    def name(self, model_id: str) -> str | None:
        """The name a cached model was put with."""
        with self._lock:
            return self._names.get(model_id)

    def info(self, model_id: str) -> dict | None:
        """The ``info`` a cached model was put with."""
        with self._lock:
            return self._info.get(model_id)

    def discard(self, model_id: str) -> None:
        with self._lock:
            self._drop(model_id)

    def clear(self) -> None:
        with self._lock:
            self._models.clear()
            self._names.clear()
            self._info.clear()
            self._bytes.clear()
            self.nbytes = 0

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


class RefCache:
    """References resolved to model ids, kept while the registry's change feed is live.

    Safe to share between threads. The subscription is opened on first use in each process
    (a forked worker opens its own).
    """

    def __init__(self, registry: Registry, models: ModelCache):
        self.registry, self.models = registry, models
        #: (tenant, reach, ref) -> model id: names are a tenant's own
        self._refs: dict[tuple, str] = {}
        self._lock = threading.Lock()
        self._pubsub = None
        self._poll = None
        self._pid = 0
        self._reconnected = False
        #: changes seen: a resolution made across a change is not kept
        self.changes = 0

    def resolve(
        self, ref: str, tenant: str = DEFAULT_TENANT, reach: str | None = None
    ) -> str | None:
        """The id of the model ``ref`` names for the tenant ``tenant`` (its names; ids of
        the tenant ``reach``, None for any), or None; from memory when the feed allows."""
        key = (tenant, reach, ref)
        live, changes, hit = self._catch_up(key)
        if hit is not None:
            return hit
        model_id = self.registry.resolve_model(ref, tenant, reach)
        if live and model_id is not None:
            with self._lock:
                # a change read meanwhile may be one this answer predates
                if self.changes == changes and self._pubsub is not None:
                    if len(self._refs) >= MAX_REFS:
                        self._refs.clear()
                    self._refs[key] = model_id
        return model_id

    def forget(self, model_id: str | None = None) -> None:
        """Drop every resolved reference, and the model ``model_id`` if given."""
        with self._lock:
            self._forget(model_id)

    def _forget(self, model_id: str | None) -> None:
        self.changes += 1
        self._refs.clear()
        if model_id:
            self.models.discard(model_id)

    def _catch_up(self, key: tuple) -> tuple[bool, int, str | None]:
        """Apply the changes that have arrived; (feed live, changes seen, the id ``key``
        resolved to if it is kept and the feed live), under one lock."""
        with self._lock:
            try:
                if self._pubsub is None or self._pid != os.getpid():
                    self._subscribe()
                # Reading until get_message answers None leaves redis-py's buffer empty, so
                # the socket alone tells whether a message (or a closed connection) waits
                if self._poll.poll(0):
                    while (message := self._pubsub.get_message(timeout=0)) is not None:
                        if message["type"] == "message":
                            event, model_id, *_ = message["data"].decode().split(" ")
                            self._forget(model_id if event == "deleted" else None)
            except redis.RedisError:
                self._close()
                return False, self.changes, None
            if self._reconnected:
                # redis-py reconnected and subscribed again by itself: what was published
                # in between is lost, so start afresh (on the next request)
                self._close()
                return False, self.changes, None
            return True, self.changes, self._refs.get(key)

    def _subscribe(self) -> None:
        self._close()
        pubsub = self.registry.r.pubsub()
        pubsub.subscribe(self.registry.model_changes_channel)
        # until Redis confirms, changes would not be delivered: nothing may be trusted
        message = pubsub.get_message(timeout=2)
        if message is None or message["type"] != "subscribe":
            pubsub.close()
            raise redis.ConnectionError("no confirmation of the model change subscription")
        pubsub.connection.register_connect_callback(self._on_reconnect)
        # what came with the confirmation predates the fresh start below; reading it
        # leaves redis-py's buffer empty, as polling the socket needs
        while pubsub.get_message(timeout=0) is not None:
            pass
        sock = getattr(pubsub.connection, "_sock", None)
        if sock is None:  # pragma: no cover - a redis-py without the attribute
            self._poll = _ALWAYS
        else:
            self._poll = select.poll()
            self._poll.register(sock, select.POLLIN | select.POLLPRI)
        # whatever changed while unsubscribed is unknown
        self._forget(None)
        self.models.clear()
        self._pubsub, self._pid = pubsub, os.getpid()

    def _on_reconnect(self, connection) -> None:
        self._reconnected = True

    def _close(self) -> None:
        if self._pubsub is not None:
            # a pubsub inherited through fork shares its socket with the parent: let go of
            # it without a word on the wire
            if self._pid == os.getpid():
                with contextlib.suppress(redis.RedisError):
                    self._pubsub.close()
            self._pubsub = None
        self._reconnected = False
