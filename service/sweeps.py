"""Sweeps: one job per combination of varied values, and their results ranked (the rules
are :mod:`domain.sweeps`')."""

from __future__ import annotations

import logging

from flask import Response
from flask.views import MethodView

from domain import sweeps

from .context import page, scope, services
from .parsing import Blueprint
from .schemas import (
    PageQuerySchema,
    PurgeQuerySchema,
    SweepPageSchema,
    SweepRequestSchema,
    SweepSchema,
)

log = logging.getLogger(__name__)

blp = Blueprint(
    "sweeps",
    __name__,
    url_prefix="/sweeps",
    description="Sweeps: one job per combination of activations, layers, learning rates "
    "or optimizers, ranked by their validation results.",
)

EXAMPLE = {
    "name": "spiral-activations",
    "job": {
        "data": {"synthetic": {"name": "spiral", "n_samples": 400, "noise": 0.1, "seed": 0}},
        "layers": [{"units": 32}, {"units": 32}],
        "training": {"epochs": 200, "learning_rate": 0.01},
    },
    "vary": {"activation": ["linear", "tanh", "relu", "leaky_relu"]},
}


@blp.route("")
class Sweeps(MethodView):
    @blp.arguments(SweepRequestSchema, example=EXAMPLE)
    @blp.accepted(SweepSchema, "Accepted: every job stored and queued", "/sweeps/<id>")
    def post(self, body):
        """Start a sweep: one job per combination of the varied values, all checked first."""
        sweep = sweeps.submit(services(), body, scope=scope())
        log.info("sweep %s queued %d jobs", sweep["id"], sweep["n_jobs"])
        return sweep, {"Location": f"/sweeps/{sweep['id']}"}

    @blp.arguments(PageQuerySchema, location="query")
    @blp.response(200, SweepPageSchema)
    def get(self, query):
        """List sweeps, newest first."""
        tenant = scope().listing(query.get("tenant"))
        return page(lambda **kw: sweeps.list_page(services(), **kw), query, tenant=tenant)


@blp.route("/<ref:sweep_id>")
class Sweep(MethodView):
    @blp.response(200, SweepSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, sweep_id):
        """A sweep: its jobs, their counts by status, and the leaderboard."""
        return sweeps.get(services(), sweep_id, scope=scope())

    @blp.arguments(PurgeQuerySchema, location="query")
    @blp.response(200, SweepSchema, description="The sweep, now cancelled")
    @blp.alt_response(204, description="With ?purge=true: the sweep and its jobs are removed")
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def delete(self, query, sweep_id):
        """Cancel every job of the sweep that has not ended; those that ended keep their
        results. With ?purge=true, remove the sweep and its jobs now (cancelling first
        those that have not ended; their models stay)."""
        if query["purge"]:
            sweeps.remove(services(), sweep_id, scope=scope())
            return Response(status=204)
        return sweeps.cancel(services(), sweep_id, scope=scope())
