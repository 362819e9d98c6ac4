"""Submitting training jobs: resolve their data, validate them through ``nn`` as the worker
will run them, store them, and queue their ids by task name."""

from __future__ import annotations

import logging

import nn
from registry import ENDED, TRAIN_TASK
from registry.store import NotReplicated
from registry.waiting import TooManyWaiting

from . import quotas
from .errors import UNAVAILABLE, Busy, Conflict, Invalid, NotFound, Refused
from .inputs import training_data
from .prediction import load_model
from .services import Services
from .tenancy import Scope, owns_job

log = logging.getLogger(__name__)

SPEC_KEYS = nn.spec.SPEC_KEYS

#: what nn calls the arrays of a job on a dataset, and what the request calls them
_DATASET_ARRAYS = {("X",): "features", ("y",): "target", ("weight",): "weight"}

#: seconds a long poll refused for want of room should wait before asking again
WAITING_RETRY_AFTER = 1
#: seconds a submission no replica confirmed should wait before it is sent again (a
#: replica catching up, or the sentinels promoting one, takes a few)
REPLICAS_RETRY_AFTER = 2


def data_of(svc: Services, data: dict, prefix: tuple = (), *, scope: Scope) -> tuple:
    """``(X, y, w, source)`` of a job's ``data`` at ``prefix`` in the body (see
    :func:`domain.inputs.training_data`), a dataset as ``scope`` sees it."""
    owner = (scope.tenant, scope.reach)
    return training_data(svc.registry, data, svc.settings, prefix, svc.limits, owner)


def parent_of(svc: Services, init: dict | None, *, scope: Scope) -> tuple[str, nn.Model] | None:
    """The id and the model a warm start (``init: {"model": ref}``) continues from, as
    ``scope`` sees it (another tenant's model is no model); a reference that names no
    model ready is refused on ``init.model``."""
    if not init:
        return None
    try:
        model_id, model, _ = load_model(svc, init["model"], scope=scope)
    except Refused as e:  # 404 or 409 for a model named in the path; a field here
        raise nn.SpecError("init.model", e.message) from None
    return model_id, model


def resolve(
    svc: Services, spec: dict, X, y, source: dict | None, w=None, *, scope: Scope
) -> tuple[dict, dict]:
    """The job as the worker will run it and its data's summary; raises nn.SpecError.

    ``source`` (from :func:`data_of`) goes into the spec's ``data``; a dataset's id,
    target and features also into the summary, where the model finds its features. ``w``
    is the rows' weights; a warm start's model (``spec["init"]``, looked up within
    ``scope``) is checked against the job, its preparation included, and recorded by id.
    """
    parent = parent_of(svc, spec.get("init"), scope=scope)
    fitted = (source or {}).get("preparation")
    spec = {key: spec[key] for key in SPEC_KEYS if key in spec}
    try:
        resolved, summary = nn.validate(
            spec,
            X,
            y,
            svc.limits,
            sample_weight=w,
            init_model=None if parent is None else parent[1],
            preparation=None if fitted is None else nn.Preparation.from_dict(fitted),
        )
    except nn.SpecError as e:
        if source and "dataset" in source and e.path[:1] in _DATASET_ARRAYS:
            raise type(e)(f"data.{_DATASET_ARRAYS[e.path[:1]]}", e.reason, limit=e.limit) from None
        raise
    if parent is not None:
        resolved["init"] = {"model": parent[0]}
    if source is not None:
        resolved["data"] = source
        if "dataset" in source:
            # the fitted preparation is the spec's (what the worker trains with) and
            # the model's; the summary names the raw features, as before kinds existed
            summary.update({k: v for k, v in source.items() if k != "preparation"})
            preparation = source.get("preparation")
            if preparation is not None:
                summary["features"] = [f["name"] for f in preparation["features"]]
    return resolved, summary


def invalid_spec(error: nn.SpecError, prefix: tuple = ()) -> Invalid:
    """A refusal of :func:`resolve` for the job at ``prefix`` in the body."""
    # nn names the arrays X, y and weight; in the request they sit under data
    data = ("data",) if error.path[:1] in (("X",), ("y",), ("weight",)) else ()
    return Invalid(error, (*prefix, *data))


def _undo(undo, job_ids: list[str]) -> None:
    try:
        undo()
    except Exception:
        # the first error is the answer; this one leaves jobs stored
        log.exception("jobs %s could not be removed after their submission failed", job_ids)


def queue(svc: Services, job_ids: list[str], undo) -> None:
    """Send a training message per job; on failure call ``undo`` to remove what was
    stored, as a job nobody will ever run must not stay behind, queued forever.

    With ``NNJOBS_REDIS_MIN_REPLICAS``, the jobs are acknowledged only once that many
    replicas have them (a failover then keeps them): else ``undo`` too, and a 503 with
    ``Retry-After``. A message sent whose job is gone finds nothing to train.
    """
    try:
        for job_id in job_ids:
            svc.celery.send_task(TRAIN_TASK, args=[job_id], queue=svc.queue)
    except BaseException:
        _undo(undo, job_ids)
        raise
    replicated = svc.registry.min_replicas > 0
    try:
        svc.registry.count_submitted(len(job_ids))
    except NotReplicated as e:
        _undo(undo, job_ids)
        raise Busy(
            f"not acknowledged: {e}; nothing was kept, send it again shortly",
            retry_after=REPLICAS_RETRY_AFTER,
        ) from None
    except UNAVAILABLE as e:
        if replicated:
            # unconfirmed, the jobs may be lost in a failover: not acknowledged
            _undo(undo, job_ids)
            raise
        # the jobs are queued and will run: a figure missed is no reason to answer 503
        log.warning("%d jobs not counted as submitted: %s", len(job_ids), e)


def submit(svc: Services, body: dict, *, scope: Scope) -> dict:
    """Validate a job as the worker will run it, store it as the scope's tenant's, then
    queue its id; over one of the tenant's quotas, Exceeded (429) before anything is
    read or stored."""
    quotas.check_jobs(svc, scope, 1)
    registry = svc.registry
    X, y, w, source = data_of(svc, body["data"], (), scope=scope)
    try:
        resolved, summary = resolve(svc, body, X, y, source, w, scope=scope)
    except nn.SpecError as e:
        raise invalid_spec(e) from None
    job = quotas.jobs_stored(
        svc,
        scope,
        1,
        lambda: registry.create_job(
            name=body.get("name"), spec=resolved, data=summary, X=X, y=y, w=w, tenant=scope.tenant
        ),
    )
    queue(svc, [job["id"]], lambda: registry.delete_job(job["id"]))
    return job


def not_found(job_id: str) -> NotFound:
    return NotFound(f"no job {job_id!r}")


def wait(
    svc: Services, job_id: str, seconds: float, since: int | None = None, *, scope: Scope
) -> dict:
    """The job as soon as it changes, else after ``seconds`` (at once when it has ended);
    given ``since``, its history from epoch ``since + 1`` on, for a follower that has the
    epochs before (no more than NNJOBS_MAX_EPOCHS, the most a job runs).

    The waiting requests of a process are bounded, so that they never hold every request
    thread: over the bound the answer is a 503 to retry after a second. Another tenant's
    job is not waited for (a job's tenant never changes, so asking first is enough).
    """
    max_epochs = svc.settings["NNJOBS_MAX_EPOCHS"]
    if since is not None and since > max_epochs:
        reason = f"must be between 0 and {max_epochs} (NNJOBS_MAX_EPOCHS): no job has more epochs"
        raise Refused(422, f"since: {reason}", {"query": {"since": [reason]}})
    owns_job(svc, scope, job_id)
    try:
        job = svc.waits.wait(job_id, seconds, since=since)
    except TooManyWaiting as exc:
        raise Busy(
            f"{exc} (NNJOBS_MAX_WAITING); ask again without ?wait= or in a moment",
            retry_after=WAITING_RETRY_AFTER,
        ) from None
    if job is None:
        raise not_found(job_id)
    return job


def cancel(svc: Services, job_id: str, *, scope: Scope) -> dict:
    """Cancel a queued or running job."""
    owns_job(svc, scope, job_id)
    job = svc.registry.cancel_job(job_id)
    if job is None:
        raise not_found(job_id)
    if job["status"] != "cancelled":
        raise Conflict(
            f"job {job_id!r} has already {job['status']}; only a queued or running "
            "job can be cancelled"
        )
    return job


def remove(svc: Services, job_id: str, *, scope: Scope) -> None:
    """Remove a job now, cancelling it first if it has not ended; its model stays."""
    owns_job(svc, scope, job_id)
    registry = svc.registry
    status = registry.remove_job(job_id)
    if status is not None and status not in ENDED:
        registry.cancel_job(job_id)
        status = registry.remove_job(job_id)
    if status is None:
        raise not_found(job_id)
