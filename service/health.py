"""Liveness and readiness, for load balancers and orchestrators."""

from __future__ import annotations

from flask.views import MethodView

from .context import services
from .errors import RETRY_AFTER, UNAVAILABLE, abort
from .parsing import Blueprint
from .schemas import HealthSchema, ReadySchema

blp = Blueprint("health", __name__, description="Liveness and readiness.")


def listening_workers(timeout: float) -> int:
    """How many Celery workers consume the service's queue (0 if none answers in time).

    Asking for the queues each worker consumes, not just for a ping, keeps a worker of
    another deployment on the same Redis from counting.
    """
    svc = services()
    replies = svc.celery.control.inspect(timeout=timeout).active_queues() or {}
    return sum(
        any(queue.get("name") == svc.queue for queue in queues or ()) for queues in replies.values()
    )


@blp.route("/healthz")
class Health(MethodView):
    @blp.response(200, HealthSchema)
    def get(self):
        """The process is up (it says nothing of Redis or the workers)."""
        return {"status": "ok"}


@blp.route("/readyz")
class Ready(MethodView):
    @blp.response(200, ReadySchema)
    @blp.alt_response(503, response="SERVICE_UNAVAILABLE")
    def get(self):
        """Ready when Redis answers and at least one worker listens on the queue."""
        svc = services()
        missing = {}
        try:
            svc.registry.ping()
        except UNAVAILABLE as e:
            missing["redis"] = f"Redis is unreachable: {e}"
            missing["workers"] = "unknown while Redis is unreachable"
        workers = 0
        if not missing:
            workers = listening_workers(svc.settings["NNJOBS_READY_TIMEOUT"])
            if not workers:
                missing["workers"] = f"no worker is listening on queue {svc.queue!r}"
        if missing:
            abort(
                503,
                "not ready: " + "; ".join(missing.values()),
                errors=missing,
                headers={"Retry-After": RETRY_AFTER},
            )
        return {"status": "ready", "redis": "ok", "workers": workers}
