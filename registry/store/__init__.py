"""Job records, model artifacts, sweeps and datasets in Redis, split by resource.

- :mod:`.keys`: the key schema (what every key holds), the job statuses and the
  training-duration buckets;
- :mod:`.records`: the job record's fields, declared once, and their encoding;
- :mod:`.scripts`: the Lua scripts of ``lua/``, called with named keys and arguments;
- :mod:`.models`, :mod:`.jobs` (with stats and each job's change feed), :mod:`.leases`
  (the attempts that hold running jobs), :mod:`.sweeps`, :mod:`.datasets`: one class per
  resource, each scoping its records to their tenant; :mod:`.tenancy`: what spans them (a
  tenant's bytes, the records stored before tenants existed).

Each resource class builds on the one it needs: models on the shared :class:`~.base.Store`,
jobs on models (a job's success stores its model in the same step), leases and sweeps on
jobs (a sweep is a set of jobs); datasets stand alone. :class:`Registry` is all of them at once.
"""

from .base import NotReplicated
from .datasets import Datasets
from .jobs import DEFAULT_LEASE, DEFAULT_MAX_ATTEMPTS
from .keys import ACTIVE, ENDED, JOB_STATUSES, TRAINING_BUCKETS
from .leases import Leases
from .records import now_iso
from .sweeps import Sweeps
from .tenancy import Tenancy

__all__ = [
    "ACTIVE",
    "DEFAULT_LEASE",
    "DEFAULT_MAX_ATTEMPTS",
    "ENDED",
    "JOB_STATUSES",
    "TRAINING_BUCKETS",
    "NotReplicated",
    "Registry",
    "now_iso",
]


class Registry(Tenancy, Leases, Sweeps, Datasets):
    """Jobs, models, sweeps and datasets in one Redis database (its parameters: those of
    :class:`~.base.Store`)."""
