"""A job's warning, tested: the sweep its fix offers, submitted as ``POST /sweeps`` would.

Each warning of a job carries a ``fix`` (:func:`nn.fixes.fix`): a change to the job's spec
and the values of a sweep that compares it with the job as it was. The sweep trains on
the job's own stored data, under the job's name.
"""

from __future__ import annotations

import nn.fixes
from registry import ENDED

from . import sweeps
from .errors import Conflict, Invalid, Refused
from .jobs import SPEC_KEYS, data_of, not_found
from .services import Services
from .tenancy import Scope


def submit(svc: Services, job_id: str, index: int = 0, *, scope: Scope) -> dict:
    """Submit the sweep of the fix of job ``job_id``'s warning number ``index`` (0-based).

    Raises
    ------
    NotFound
        No such job.
    Conflict
        The job has no warning that offers a fix, or its data cannot be read again.
    Refused
        422: ``index`` names no warning of the job.
    """
    job = svc.registry.get_job(job_id, tenant=scope.reach)
    if job is None:
        raise not_found(job_id)
    warnings = job["warnings"] or []
    if not any(w.get("fix") for w in warnings):
        ended = job["status"] in ENDED
        why = "nothing to fix" if ended else f"it is {job['status']}; warnings come as it trains"
        raise Conflict(f"job {job_id!r} has no warning that offers a fix: {why}")
    if index >= len(warnings):
        reason = f"job {job_id!r} has {len(warnings)} warning(s), numbered from 0"
        raise Refused(422, f"warning: {reason}", {"query": {"warning": [reason]}})
    fix = warnings[index].get("fix")
    if not fix:
        raise Conflict(f"warning {index} of job {job_id!r} offers no fix")
    X, y, w, source = _data(svc, job, scope=scope)
    # a warm start's sweep starts from the same model
    spec = {key: job["spec"][key] for key in (*SPEC_KEYS, "init") if key in job["spec"]}
    body = {
        "name": job["name"],
        "job": {"name": job["name"], **nn.fixes.apply(spec, fix["change"])},
        "vary": fix["vary"],
    }
    return sweeps.create(svc, body, X, y, source, w, scope=scope)


def _data(svc: Services, job: dict, scope: Scope) -> tuple:
    """The job's training data: as stored while it runs, else read again from where it
    came from (a synthetic set or a dataset; rows sent in the request are not kept)."""
    source = job["spec"].get("data")
    stored = svc.registry.load_data(job["id"])
    if stored is not None:
        return (*stored, source)
    if source is None:
        raise Conflict(
            f"job {job['id']!r} was trained on rows sent with it, which are not kept once "
            "it ends; submit the sweep with them (POST /sweeps, the warning's fix.vary)"
        )
    try:
        return data_of(svc, source, (), scope=scope)
    except (Refused, Invalid) as e:
        raise Conflict(f"job {job['id']!r}'s data cannot be read again: {e}") from None
