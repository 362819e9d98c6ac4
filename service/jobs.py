"""Training jobs: submit, follow, list, cancel."""

from __future__ import annotations

import logging
from contextlib import suppress

from flask.views import MethodView

import nn
from registry import TRAIN_TASK
from registry.waiting import TooManyWaiting

from . import data as arrays
from . import datasets
from .context import page, services
from .errors import UNAVAILABLE, abort, refuse
from .parsing import Blueprint
from .schemas import (
    JobPageSchema,
    JobQuerySchema,
    JobRequestSchema,
    JobSchema,
    JobWaitQuerySchema,
)
from .synthetic import make as make_synthetic

log = logging.getLogger(__name__)

blp = Blueprint(
    "jobs", __name__, url_prefix="/jobs", description="Training jobs: submit, follow, cancel."
)

#: seconds a long poll refused for want of room should wait before asking again
WAITING_RETRY_AFTER = "1"
SPEC_KEYS = ("layers", "activation", "output", "training")

EXAMPLE = {
    "name": "spirals",
    "data": {"synthetic": {"name": "spiral", "n_samples": 400, "noise": 0.1, "seed": 0}},
    "layers": [{"units": 16, "activation": "relu"}, {"units": 16, "activation": "tanh"}],
    "training": {"epochs": 300, "learning_rate": 0.01},
}


def training_data(data: dict, prefix: tuple = ()) -> tuple:
    """``(X, y, where they came from: what the job's spec records, or None)`` from the
    request's ``data``, which sits at ``prefix`` in the body (a refusal names the field
    from there)."""
    max_values = services().settings["NNJOBS_MAX_VALUES"]
    if "dataset" in data:
        try:
            return datasets.job_arrays(data, max_values)
        except nn.SpecError as e:  # named from data: data.target, data.features...
            refuse(e, prefix)
    if "synthetic" in data:
        X, y, params = make_synthetic(data["synthetic"], (*prefix, "data", "synthetic"))
        return X, y, {"synthetic": params}
    try:
        X = arrays.matrix(data["X"], "X", max_values)
        y = arrays.labels(data["y"], "y", max_values)
    except nn.SpecError as e:
        refuse(e, (*prefix, "data"))
    return X, y, None


#: what nn calls the arrays of a job on a dataset, and what the request calls them
_DATASET_ARRAYS = {("X",): "features", ("y",): "target"}


def resolve(body: dict, X, y, source: dict | None) -> tuple[dict, dict]:
    """The job as the worker will run it and its data's summary; raises nn.SpecError.

    ``source`` (from :func:`training_data`) goes into the spec's ``data``; a dataset's
    id, target and features also into the summary, where the model finds its features.
    """
    spec = {key: body[key] for key in SPEC_KEYS if key in body}
    try:
        resolved, summary = nn.validate(spec, X, y, services().limits)
    except nn.SpecError as e:
        if source and "dataset" in source and e.path[:1] in _DATASET_ARRAYS:
            raise type(e)(f"data.{_DATASET_ARRAYS[e.path[:1]]}", e.reason) from None
        raise
    if source is not None:
        resolved["data"] = source
        if "dataset" in source:
            summary.update(source)
    return resolved, summary


def refuse_spec(error: nn.SpecError, prefix: tuple = ()) -> None:
    """Answer a refusal of :func:`resolve` for the job at ``prefix`` in the body."""
    # nn names the arrays X and y; in the request they sit under data
    data = ("data",) if error.path[:1] in (("X",), ("y",)) else ()
    refuse(error, (*prefix, *data))


def queue(job_ids: list[str], undo) -> None:
    """Send a training message per job; on failure call ``undo`` to remove what was
    stored, as a job nobody will ever run must not stay behind, queued forever."""
    svc = services()
    try:
        for job_id in job_ids:
            svc.celery.send_task(TRAIN_TASK, args=[job_id], queue=svc.queue)
    except BaseException:
        with suppress(Exception):
            undo()
        raise
    try:
        svc.registry.count_submitted(len(job_ids))
    except UNAVAILABLE as e:
        # the jobs are queued and will run: a figure missed is no reason to answer 503
        log.warning("%d jobs not counted as submitted: %s", len(job_ids), e)


def submit(body: dict) -> dict:
    """Validate a job as the worker will run it, store it, then queue its id."""
    registry = services().registry
    X, y, source = training_data(body["data"])
    try:
        resolved, summary = resolve(body, X, y, source)
    except nn.SpecError as e:
        refuse_spec(e)
    job = registry.create_job(name=body.get("name"), spec=resolved, data=summary, X=X, y=y)
    queue([job["id"]], lambda: registry.delete_job(job["id"]))
    log.info(
        "job %s queued (%s samples)",
        job["id"],
        summary["n_samples"],
        extra={"job_id": job["id"], "job_name": job["name"], "n_samples": summary["n_samples"]},
    )
    return job


def _not_found(job_id: str):
    abort(404, f"no job {job_id!r}")


@blp.route("")
class Jobs(MethodView):
    @blp.arguments(JobRequestSchema, example=EXAMPLE)
    @blp.accepted(JobSchema, "Accepted and queued", "/jobs/<id>")
    def post(self, body):
        """Submit a training job: it is checked in full, stored and queued."""
        job = submit(body)
        return job, {"Location": f"/jobs/{job['id']}"}

    @blp.arguments(JobQuerySchema, location="query")
    @blp.response(200, JobPageSchema)
    def get(self, query):
        """List jobs, newest first, without their history."""
        return page(services().registry.list_jobs, query, status=query.get("status"))


@blp.route("/<ref:job_id>")
class Job(MethodView):
    @blp.arguments(JobWaitQuerySchema, location="query")
    @blp.response(200, JobSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, query, job_id):
        """A job with its progress and history; with ?wait=<seconds>, once it changes."""
        try:
            job = services().waits.wait(job_id, query["wait"])
        except TooManyWaiting as exc:
            abort(
                503,
                f"{exc} (NNJOBS_MAX_WAITING); ask again without ?wait= or in a moment",
                headers={"Retry-After": WAITING_RETRY_AFTER},
            )
        if job is None:
            _not_found(job_id)
        return job

    @blp.response(200, JobSchema, description="The job, now cancelled")
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def delete(self, job_id):
        """Cancel a queued or running job; it ends cancelled and stores no model."""
        job = services().registry.cancel_job(job_id)
        if job is None:
            _not_found(job_id)
        if job["status"] != "cancelled":
            abort(
                409,
                f"job {job_id!r} has already {job['status']}; only a queued or running "
                "job can be cancelled",
            )
        return job
