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
from ..tenants import DEFAULT_TENANT
from .base import Store, reaches
from .keys import new_id
from .records import now_iso


class Models(Store):
    @property
    def model_changes_channel(self) -> str:
        """Where every model stored (``stored <id>``) or deleted (``deleted <id>``) is
        published, for the API processes' caches."""
        return self.keys.model_changes

    def resolve_model(
        self, ref: str, tenant: str = DEFAULT_TENANT, reach: str | None = None
    ) -> str | None:
        """The id of the model ``ref`` names: an id (of a model of the tenant ``reach``,
        when given), or one of ``tenant``'s names (latest version) or name@version."""
        if not isinstance(ref, str) or not REF_RE.fullmatch(ref):
            return None
        if "@" in ref:
            name, version = ref.rsplit("@", 1)
            ids = self.r.zrangebyscore(self.keys.name(name, tenant), int(version), int(version))
            return ids[0].decode() if ids else None
        return self._id_or_newest(self.keys.model(ref), self.keys.name(ref, tenant), ref, reach)

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

    def get_model(
        self,
        ref: str,
        with_history: bool = True,
        tenant: str = DEFAULT_TENANT,
        reach: str | None = None,
    ) -> dict | None:
        """The Model ``ref`` names (see :meth:`resolve_model`), or None."""
        model_id = self.resolve_model(ref, tenant, reach)
        if model_id is None:
            return None
        meta, version = self.r.hmget(self.keys.model(model_id), "meta", "version")
        return self._decode_model(meta, version, with_history)

    def list_models(
        self,
        name: str | None = None,
        offset: int = 0,
        limit: int = 20,
        tenant: str | None = None,
        names_of: str = DEFAULT_TENANT,
    ) -> tuple[list[dict], int]:
        """Models newest first: the tenant ``tenant``'s (None: every tenant's), or the
        versions of the name ``name`` of ``tenant`` (or, without one, of ``names_of``)."""
        if name:
            index = self.keys.name(name, tenant or names_of)
        else:
            index = self.keys.owned("models", tenant) if tenant else self.keys.models
        total = self.r.zcard(index)
        ids = self.r.zrevrange(index, offset, offset + limit - 1)
        with self.r.pipeline(transaction=False) as pipe:
            for model_id in ids:
                pipe.hmget(self.keys.model(model_id.decode()), "meta", "version")
            rows = pipe.execute()
        models = [self._decode_model(meta, version, False) for meta, version in rows]
        return [m for m in models if m is not None], total

    def import_model(
        self, name: str, blob: bytes, meta: dict, tenant: str = DEFAULT_TENANT
    ) -> dict:
        """Store ``blob`` (checked by the caller) as the next version of the tenant
        ``tenant``'s ``name``, with ``meta`` (the Model's description); returns the Model.
        It has no job."""
        model_id = new_id()
        meta = {**meta, "id": model_id, "name": name, "job_id": None, "created_at": now_iso()}
        keys = self.keys.stored_model_keys(model_id, name, tenant)
        args = {
            "model_id": model_id,
            "meta": json.dumps(meta),
            "blob": blob,
            "created_ms": int(time.time() * 1000),
            "changes": self.keys.model_changes,
            "tenant": tenant,
        }
        self.scripts.run("import_model", keys=keys, args=args)
        return self.get_model(model_id, tenant=tenant)

    def model_blob(self, model_id: str) -> bytes | None:
        return self.r.hget(self.keys.model(model_id), "blob")

    def model_blob_and_name(self, model_id: str) -> tuple[bytes | None, str | None]:
        """The model's bytes and its name, in one round trip; (None, None) if it is gone."""
        blob, meta = self.model_blob_and_meta(model_id)
        return blob, None if meta is None else meta["name"]

    def model_blob_and_meta(self, model_id: str) -> tuple[bytes | None, dict | None]:
        """The model's bytes and its description without history (its version included),
        in one round trip; (None, None) if it is gone."""
        blob, meta, version = self.r.hmget(self.keys.model(model_id), "blob", "meta", "version")
        if blob is None or meta is None:
            return None, None
        return blob, self._decode_model(meta, version, with_history=False)

    def model_exists(self, model_id: str) -> bool:
        return bool(self.r.exists(self.keys.model(model_id)))

    def model_tenant(self, model_id: str) -> str | None:
        """The tenant of the model ``model_id``, None if there is none."""
        meta, owner = self.r.hmget(self.keys.model(model_id), "meta", "tenant")
        return None if meta is None else (owner or DEFAULT_TENANT.encode()).decode()

    def delete_model(
        self, ref: str, tenant: str = DEFAULT_TENANT, reach: str | None = None
    ) -> bool:
        """Delete a model (its name's other versions stay); False if there is none."""
        model_id = self.resolve_model(ref, tenant, reach)
        if model_id is None:
            return False
        key = self.keys.model(model_id)
        with self.r.pipeline(transaction=False) as pipe:
            pipe.hmget(key, "meta", "tenant")
            pipe.hstrlen(key, "blob")
            (meta, owner), size = pipe.execute()
        if meta is None or not reaches(owner, reach):
            return False
        name, owner = json.loads(meta)["name"], (owner or DEFAULT_TENANT.encode()).decode()
        with self.r.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.zrem(self.keys.models, model_id)
            pipe.zrem(self.keys.owned("models", owner), model_id)
            pipe.zrem(self.keys.name(name, owner), model_id)
            pipe.hincrby(self.keys.owned("bytes", owner), "models", -size)
            pipe.publish(self.model_changes_channel, f"deleted {model_id} {owner}")
            removed = pipe.execute()[0]
        return bool(removed)
