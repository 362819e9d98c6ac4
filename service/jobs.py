"""Training jobs: submit, follow, list, cancel."""

from __future__ import annotations

import logging

from flask import Response
from flask.views import MethodView

from domain import fixes, jobs

from .context import page, scope, services
from .parsing import Blueprint
from .schemas import (
    FixQuerySchema,
    JobPageSchema,
    JobQuerySchema,
    JobRequestSchema,
    JobSchema,
    JobWaitQuerySchema,
    PurgeQuerySchema,
    SweepSchema,
)

log = logging.getLogger(__name__)

blp = Blueprint(
    "jobs", __name__, url_prefix="/jobs", description="Training jobs: submit, follow, cancel."
)

EXAMPLE = {
    "name": "spirals",
    "data": {"synthetic": {"name": "spiral", "n_samples": 400, "noise": 0.1, "seed": 0}},
    "layers": [{"units": 16, "activation": "relu"}, {"units": 16, "activation": "tanh"}],
    "training": {"epochs": 300, "learning_rate": 0.01},
}


@blp.route("")
class Jobs(MethodView):
    @blp.arguments(JobRequestSchema, example=EXAMPLE)
    @blp.accepted(JobSchema, "Accepted and queued", "/jobs/<id>")
    def post(self, body):
        """Submit a training job: it is checked in full, stored and queued."""
        job = jobs.submit(services(), body, scope=scope())
        log.info(
            "job %s queued (%s samples)",
            job["id"],
            job["data"]["n_samples"],
            extra={
                "job_id": job["id"],
                "job_name": job["name"],
                "n_samples": job["data"]["n_samples"],
            },
        )
        return job, {"Location": f"/jobs/{job['id']}"}

    @blp.arguments(JobQuerySchema, location="query")
    @blp.response(200, JobPageSchema)
    def get(self, query):
        """List jobs, newest first, without their history."""
        tenant = scope().listing(query.get("tenant"))
        return page(services().registry.list_jobs, query, status=query.get("status"), tenant=tenant)


@blp.route("/<ref:job_id>")
class Job(MethodView):
    @blp.arguments(JobWaitQuerySchema, location="query")
    @blp.response(200, JobSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, query, job_id):
        """A job with its progress and history; ?wait=: once it changes; ?since=N: epochs N+1 on."""
        return jobs.wait(services(), job_id, query["wait"], query.get("since"), scope=scope())

    @blp.arguments(PurgeQuerySchema, location="query")
    @blp.response(200, JobSchema, description="The job, now cancelled")
    @blp.alt_response(204, description="With ?purge=true: the job is removed")
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def delete(self, query, job_id):
        """Cancel a queued or running job; it ends cancelled and stores no model. With
        ?purge=true, remove the job now, whatever its status (its model stays); ended jobs
        are otherwise removed NNJOBS_JOB_TTL seconds after they end."""
        if query["purge"]:
            jobs.remove(services(), job_id, scope=scope())
            return Response(status=204)
        return jobs.cancel(services(), job_id, scope=scope())


@blp.route("/<ref:job_id>/fix")
class JobFix(MethodView):
    @blp.arguments(FixQuerySchema, location="query")
    @blp.accepted(SweepSchema, "Accepted: the fix's sweep, stored and queued", "/sweeps/<id>")
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, query, job_id):
        """Test the fix a job's warning offers: submit its sweep (the job's own values
        first, then the fix's) on the job's data."""
        sweep = fixes.submit(services(), job_id, query["warning"], scope=scope())
        log.info("job %s: fix submitted as sweep %s", job_id, sweep["id"])
        return sweep, {"Location": f"/sweeps/{sweep['id']}"}
