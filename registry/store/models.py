"""Models: read, listed, resolved by id, name or name@version, imported, deleted.

A model is stored by the job that trained it, in the same step that ends the job
(:meth:`registry.store.jobs.Jobs.succeed_job`), or imported from another deployment's
bytes (:meth:`Models.import_model`). Every model stored or deleted is announced on
:attr:`Models.model_changes_channel`, the change feed the API processes' caches follow.
"""

from __future__ import annotations

import json
import time

from ..names import REF_RE
from .base import Store
from .keys import new_id
from .records import now_iso


class Models(Store):
    @property
    def model_changes_channel(self) -> str:
        """Where every model stored (``stored <id>``) or deleted (``deleted <id>``) is
        published, for the API processes' caches."""
        return self.keys.model_changes

    def resolve_model(self, ref: str) -> str | None:
        """The id of the model ``ref`` names: an id, a name (latest version) or name@version."""
        if not isinstance(ref, str) or not REF_RE.fullmatch(ref):
            return None
        if "@" in ref:
            name, version = ref.rsplit("@", 1)
            ids = self.r.zrangebyscore(self.keys.name(name), int(version), int(version))
            return ids[0].decode() if ids else None
        return self._id_or_newest(self.keys.model(ref), self.keys.name(ref), ref)

    def _decode_model(
        self, meta: bytes | None, version: bytes | None, with_history: bool = True
    ) -> dict | None:
        if meta is None:
            return None
        model = json.loads(meta)
        model["version"] = int(version)
        if not with_history:
            # listings: the bulky parts are read one model at a time
            for key in ("history", "evaluation", "importance"):
                model.pop(key, None)
        return model

    def get_model(self, ref: str, with_history: bool = True) -> dict | None:
        model_id = self.resolve_model(ref)
        if model_id is None:
            return None
        meta, version = self.r.hmget(self.keys.model(model_id), "meta", "version")
        return self._decode_model(meta, version, with_history)

    def list_models(
        self, name: str | None = None, offset: int = 0, limit: int = 20
    ) -> tuple[list[dict], int]:
        """Models newest first (one name's versions, newest first, with ``name``)."""
        index = self.keys.name(name) if name else self.keys.models
        total = self.r.zcard(index)
        ids = self.r.zrevrange(index, offset, offset + limit - 1)
        with self.r.pipeline(transaction=False) as pipe:
            for model_id in ids:
                pipe.hmget(self.keys.model(model_id.decode()), "meta", "version")
            rows = pipe.execute()
        models = [self._decode_model(meta, version, False) for meta, version in rows]
        return [m for m in models if m is not None], total

    def import_model(self, name: str, blob: bytes, meta: dict) -> dict:
        """Store ``blob`` (checked by the caller) as the next version of ``name``, with
        ``meta`` (the Model's description); returns the Model. It has no job."""
        model_id = new_id()
        meta = {**meta, "id": model_id, "name": name, "job_id": None, "created_at": now_iso()}
        keys = {
            "model": self.keys.model(model_id),
            "models": self.keys.models,
            "name": self.keys.name(name),
            "name_seq": self.keys.name_seq(name),
        }
        args = {
            "model_id": model_id,
            "meta": json.dumps(meta),
            "blob": blob,
            "created_ms": int(time.time() * 1000),
            "changes": self.keys.model_changes,
        }
        self.scripts.run("import_model", keys=keys, args=args)
        return self.get_model(model_id)

    def model_blob(self, model_id: str) -> bytes | None:
        return self.r.hget(self.keys.model(model_id), "blob")

    def model_blob_and_name(self, model_id: str) -> tuple[bytes | None, str | None]:
        """The model's bytes and its name, in one round trip; (None, None) if it is gone."""
        blob, meta = self.r.hmget(self.keys.model(model_id), "blob", "meta")
        if blob is None or meta is None:
            return None, None
        return blob, json.loads(meta)["name"]

    def model_exists(self, model_id: str) -> bool:
        return bool(self.r.exists(self.keys.model(model_id)))

    def delete_model(self, ref: str) -> bool:
        """Delete a model (its name's other versions stay); False if there is none."""
        model_id = self.resolve_model(ref)
        if model_id is None:
            return False
        meta = self.r.hget(self.keys.model(model_id), "meta")
        if meta is None:
            return False
        name = json.loads(meta)["name"]
        with self.r.pipeline(transaction=True) as pipe:
            pipe.delete(self.keys.model(model_id))
            pipe.zrem(self.keys.models, model_id)
            pipe.zrem(self.keys.name(name), model_id)
            pipe.publish(self.model_changes_channel, f"deleted {model_id}")
            removed = pipe.execute()[0]
        return bool(removed)
