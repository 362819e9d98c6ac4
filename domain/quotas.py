"""A tenant's quotas, checked before anything is stored: the jobs it has queued or
running at once, and the bytes of its models and datasets. Over one: 429 with
``Retry-After`` (:class:`~domain.errors.Exceeded`), nothing stored.

The job quota is checked twice: first before the request's data is read, so that a
refusal costs nothing, then again with the job stored under the tenant's submission lock
(:func:`jobs_stored`), so that two submissions sent at once cannot both take the last place.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from redis.exceptions import LockError

from .errors import Busy, Exceeded
from .services import Services
from .tenancy import Scope

#: seconds a refused submission waits: jobs end by themselves, bytes do not (the tenant
#: deletes models or datasets), so the second is a hint to look rather than to retry
JOBS_RETRY_AFTER = 10
BYTES_RETRY_AFTER = 60
#: seconds a submission waits for the tenant's lock: held only to count and store, it is
#: free again in milliseconds unless Redis is failing
LOCK_WAIT = 5
#: seconds the lock lives if its holder dies holding it
LOCK_TTL = 30

T = TypeVar("T")
log = logging.getLogger(__name__)


def _mb(size: int) -> str:
    return f"{size / 2**20:.1f} MB"


def check_jobs(svc: Services, scope: Scope, new_jobs: int) -> None:
    """Exceeded unless the tenant may queue ``new_jobs`` more jobs (and store their
    models)."""
    quotas = scope.quotas
    if quotas is None:
        return
    if quotas.max_active_jobs:
        active = svc.registry.active_jobs(scope.tenant)
        if active + new_jobs > quotas.max_active_jobs:
            raise Exceeded(
                f"tenant {scope.tenant!r} has {active} jobs queued or running; {new_jobs} "
                f"more would be over its quota of {quotas.max_active_jobs} "
                "(NNJOBS_TENANT_MAX_ACTIVE_JOBS); wait for some to end or cancel them",
                JOBS_RETRY_AFTER,
            )
    # a job's model adds bytes: none is queued once the tenant's bytes are used up
    check_bytes(svc, scope, 0, "a new job")


def jobs_stored(svc: Services, scope: Scope, new_jobs: int, store: Callable[[], T]) -> T:
    """``store()``, which stores ``new_jobs`` jobs of the tenant, run while the tenant's
    submission lock is held and after :func:`check_jobs` passes again under it; without a
    job quota, at once."""
    quotas = scope.quotas
    if quotas is None or not quotas.max_active_jobs:
        return store()
    lock = svc.registry.submission_lock(scope.tenant, LOCK_TTL, LOCK_WAIT)
    if not lock.acquire():
        raise Busy(f"tenant {scope.tenant!r} is submitting other jobs; send it again shortly", 1)
    try:
        check_jobs(svc, scope, new_jobs)
        return store()
    finally:
        try:
            lock.release()
        except LockError:
            # held past its TTL: it is gone already and the jobs are stored
            log.warning("tenant %r's submission lock expired before its release", scope.tenant)


def check_bytes(svc: Services, scope: Scope, adding: int, what: str) -> None:
    """Exceeded if storing ``adding`` more bytes (``what``) would put the tenant over its
    stored bytes (at it, for a job)."""
    quotas = scope.quotas
    if quotas is None or not quotas.max_stored_bytes:
        return
    stored = svc.registry.stored_bytes(scope.tenant)
    if stored + adding > quotas.max_stored_bytes or stored >= quotas.max_stored_bytes:
        raise Exceeded(
            f"tenant {scope.tenant!r} stores {_mb(stored)} of models and datasets; "
            f"{what} ({_mb(adding)}) would be over its quota of "
            f"{_mb(quotas.max_stored_bytes)} (NNJOBS_TENANT_MAX_STORED_MB); delete models "
            "or datasets first",
            BYTES_RETRY_AFTER,
        )
