"""Who is asking: the tenant, role and key of a request (a :class:`Scope`, built by the
host from the request), and the lookups every use case goes through to reach a job, a
model, a dataset or a sweep, so that another tenant's never answers anything but 404.

Existence does not leak: a reference to another tenant's resource is refused exactly as a
reference to nothing is. Names are the tenant's own: ``alice``'s ``iris`` and ``bob``'s
``iris`` are two names. An admin reaches every tenant's resources by id, and names in its
own tenant.
"""

from __future__ import annotations

from dataclasses import dataclass

from registry.tenants import DEFAULT_TENANT, Quotas

from .errors import NotFound, Refused
from .services import Services


@dataclass(frozen=True)
class Scope:
    """A request's tenant, its key's role and id (the key's name in audit lines, never
    the key), and the tenant's quotas (None: none apply)."""

    tenant: str = DEFAULT_TENANT
    role: str = "admin"
    key_id: str = ""
    quotas: Quotas | None = None

    @property
    def admin(self) -> bool:
        return self.role == "admin"

    @property
    def reach(self) -> str | None:
        """The tenant whose ids this scope reaches (None: every tenant's)."""
        return None if self.admin else self.tenant

    def listing(self, asked: str | None) -> str | None:
        """Whose resources a listing shows, ``asked`` being its ``?tenant=``: an admin's,
        that tenant's or (None) every tenant's; anyone else's, its own only."""
        if self.admin:
            return asked
        if asked not in (None, self.tenant):
            reason = f"the role {self.role} lists its own tenant's only; ?tenant= is for admins"
            raise Refused(403, f"tenant: {reason}", {"query": {"tenant": [reason]}})
        return self.tenant


#: the scope of every request when no key is configured: one tenant, every right
OPEN = Scope()


def job(svc: Services, scope: Scope, job_id: str, with_history: bool = True) -> dict:
    """The job ``job_id`` if the scope reaches it; NotFound otherwise."""
    found = svc.registry.get_job(job_id, with_history, tenant=scope.reach)
    if found is None:
        raise NotFound(f"no job {job_id!r}")
    return found


def owns_job(svc: Services, scope: Scope, job_id: str) -> None:
    """NotFound unless the job ``job_id`` exists and the scope reaches it."""
    if not svc.registry.job_belongs(job_id, scope.reach):
        raise NotFound(f"no job {job_id!r}")


def model_id(svc: Services, scope: Scope, ref: str) -> str | None:
    """The id of the model ``ref`` names for this scope (its names; another tenant's
    id, for an admin only), or None."""
    return svc.registry.resolve_model(ref, scope.tenant, scope.reach)


def dataset_id(svc: Services, scope: Scope, ref: str) -> str | None:
    """The id of the dataset ``ref`` names for this scope, or None."""
    return svc.registry.resolve_dataset(ref, scope.tenant, scope.reach)


def sweep(svc: Services, scope: Scope, sweep_id: str) -> dict:
    """The sweep as the registry reads it, if the scope reaches it; NotFound otherwise."""
    found = svc.registry.get_sweep(sweep_id, tenant=scope.reach)
    if found is None:
        raise NotFound(f"no sweep {sweep_id!r}")
    return found
