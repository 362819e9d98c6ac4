"""The Redis key schema of the store, in one place.

Keys (``P`` is the prefix, ``nnjobs`` by default):

- ``P:job:<id>``: hash, the job record (its fields: :data:`registry.store.records.JOB_FIELDS`;
  JSON-encoded spec, data, progress, history and error); ``P:job:<id>:X`` and
  ``P:job:<id>:y``: the training data as ``.npy`` bytes, deleted when the job ends;
  ``P:job:<id>:epochs``: list of the running attempt's epochs, one JSON row each
  (:func:`registry.store.records.epoch_row`), appended by progress writes and never
  rewritten; the job's history is assembled from it on read (a succeeded job's, from
  its model, which keeps the one copy).
- Retention: the scripts that end a job let its keys expire after ``NNJOBS_JOB_TTL``
  seconds and note when in ``P:jobs:expiring`` (sorted set, job id by expiry in ms),
  from which listings trim the indexes of expired ids lazily (:meth:`Jobs.trim_expired`);
  ``P:sweeps:expiring`` likewise for sweeps, which expire once their last job ended.
- ``P:jobs``: sorted set of every job id by creation time; ``P:jobs:<status>``: the same
  per status, kept in step with the record by the scripts that change a status.
- ``P:stats:submitted``: jobs accepted (a counter); ``P:stats:ended``: hash of jobs ended,
  by status; ``P:stats:training:<status>``: hash of training durations (seconds from an
  attempt's start to the job's end, for jobs that ended while running), one field per
  bucket of :data:`TRAINING_BUCKETS` (``+Inf`` above the last), plus ``count`` and ``sum``;
  ``P:stats:nodes``: hash of attempts ended, by worker node and outcome (``<node>|<outcome>``).
  The scripts that end a job update them in the same step, so the figures hold whichever
  process (API, worker, sweeper) ended the job, and any API process can read them.
- ``P:model:<id>``: hash with the model's metadata (JSON), version and serialized bytes;
  ``P:models``: sorted set by creation time; ``P:name:<name>``: sorted set of a name's
  model ids scored by version; ``P:name:<name>:seq``: the name's last version number, so
  a version is never reused after a deletion.
- ``P:dataset:<id>``: hash with the dataset's metadata (JSON, ``meta``) and one field per
  column, ``col:<index>``: ``.npy`` float64 bytes for a numeric column, a JSON list for
  the others (``service.tables`` writes and reads them); ``P:datasets``: sorted set of
  dataset ids by creation time; ``P:dataset-name:<name>``: the same for one name.
- ``P:models:changes``: a Pub/Sub channel, not a key: ``stored <id> <tenant>`` and
  ``deleted <id> <tenant>`` for every model stored or deleted.
- Tenants: every record names its tenant (a ``tenant`` field; none, in a record stored
  before tenants existed: ``default``'s). Names are a tenant's own: the name keys above
  are the tenant ``default``'s, and another tenant's are the same under
  ``P:tenant:<tenant>`` (``P:tenant:<tenant>:name:<name>``, ...). ``P:tenant:<tenant>:jobs``,
  ``...:models``, ``...:datasets``, ``...:sweeps``: sorted sets of the tenant's ids by
  creation time (those of jobs and sweeps may still hold ids that expired: a listing drops
  them, see ``lua/owned_page.lua``); ``P:tenant:<tenant>:bytes``: hash of the bytes the
  tenant stores, ``models`` and ``datasets``; ``P:tenant:<tenant>:bucket``: its request
  token bucket (``lua/bucket.lua``); ``P:tenant:<tenant>:submitting``: the lock under which
  a submission counts the tenant's active jobs and stores its own; ``P:tenancy``: set once
  what was stored before tenants existed was given to ``default``.
- ``P:sweep:<id>``: hash, a sweep (JSON-encoded ``vary`` and ``combinations``, the varied
  values of each of its jobs, in the order of ``P:sweep:<id>:jobs``, the list of its job
  ids); ``P:sweeps``: sorted set of every sweep id by creation time. A sweep's jobs are
  ordinary jobs whose record names the sweep (``sweep_id``); they share its training
  data, stored once, ``P:sweep:<id>:X`` and ``P:sweep:<id>:y``, with ``P:sweep:<id>:users``
  the set of its jobs that have not ended: the data goes when the last one ends.

Every status change is one Lua script, so a record is never half-written and two
processes cannot both move a job out of the same status. Each script that changes a job
record also publishes the job's new status (or ``progress``) on a channel named like the
record's key, ``P:job:<id>``, so that a client can wait for a change without polling
(:meth:`Registry.wait_for_change`).

A running job holds a lease: ``lease_until`` (Redis server time, seconds) is set when an
attempt starts and pushed forward with every progress report. Each attempt is numbered
(``attempts``); progress, success and failure are accepted only from the attempt that holds
the job, so an attempt that lost its lease (its worker was presumed dead) can never store a
model or overwrite the outcome of the attempt that took over. The record keeps every
attempt's node, host, process id (not shown in the Job), start, end and outcome
(``attempt_log``), written by the same scripts.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from ..tenants import DEFAULT_TENANT

JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
ENDED = ("succeeded", "failed", "cancelled")
#: a job on its way to a model
ACTIVE = ("queued", "running")
#: upper bounds (seconds) of the training-duration histogram's buckets
TRAINING_BUCKETS = (
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
    1800.0,
    3600.0,
    7200.0,
)


def new_id() -> str:
    """A new id of 32 hex digits: the microsecond it was made, then 76 random bits.

    Listings are sorted sets scored by the creation millisecond, and Redis orders equal
    scores by member: ids that begin with their time keep things made in the same
    millisecond (a sweep's jobs, say) newest first too.
    """
    return f"{time.time_ns() // 1000:013x}{secrets.token_hex(10)[:19]}"


def bucket_field(bound: float) -> str:
    """The field of ``P:stats:training:<status>`` that counts durations up to ``bound``."""
    return "+Inf" if bound == float("inf") else repr(bound)


@dataclass(frozen=True)
class Keys:
    """The name of every key under one prefix."""

    prefix: str

    def job(self, job_id: str) -> str:
        """The job record; also the channel its changes are published on."""
        return f"{self.prefix}:job:{job_id}"

    def job_data(self, job_id: str) -> tuple[str, str, str]:
        """The job's training data: X, y, then the rows' weights (absent without)."""
        return tuple(f"{self.prefix}:job:{job_id}:{part}" for part in ("X", "y", "w"))

    def data_of(self, job_id: str, sweep_id: str | None) -> tuple[str, str, str]:
        """The training data a job trains on: its own, or its sweep's."""
        return self.sweep_data(sweep_id) if sweep_id else self.job_data(job_id)

    def epochs(self, job_id: str) -> str:
        """The job's epochs so far, one JSON row each."""
        return f"{self.prefix}:job:{job_id}:epochs"

    def expiring(self, kind: str) -> str:
        """Ended ``jobs`` or ``sweeps`` by when they expire (ms)."""
        return f"{self.prefix}:{kind}:expiring"

    def jobs(self, status: str = "") -> str:
        """Every job id (``status`` empty), or those of one status."""
        return f"{self.prefix}:jobs:{status}" if status else f"{self.prefix}:jobs"

    def stats(self, name: str) -> str:
        return f"{self.prefix}:stats:{name}"

    def training(self, status: str) -> str:
        """The training-duration histogram of jobs that ended ``status``."""
        return self.stats(f"training:{status}")

    def model(self, model_id: str) -> str:
        return f"{self.prefix}:model:{model_id}"

    def scope(self, tenant: str) -> str:
        """Where a tenant's names live: ``default``'s where every name lived before."""
        return self.prefix if tenant == DEFAULT_TENANT else f"{self.prefix}:tenant:{tenant}"

    def owned(self, kind: str, tenant: str) -> str:
        """A tenant's ``jobs``, ``models``, ``datasets`` or ``sweeps`` by creation time, or
        its ``bytes``, its ``bucket`` or its ``submitting`` lock."""
        return f"{self.prefix}:tenant:{tenant}:{kind}"

    @property
    def adopted(self) -> str:
        """Set once what was stored before tenants existed belongs to ``default``."""
        return f"{self.prefix}:tenancy"

    @property
    def models(self) -> str:
        return f"{self.prefix}:models"

    def name(self, name: str, tenant: str = DEFAULT_TENANT) -> str:
        """A tenant's name's model ids, scored by version."""
        return f"{self.scope(tenant)}:name:{name}"

    def name_seq(self, name: str, tenant: str = DEFAULT_TENANT) -> str:
        """A tenant's name's last version number."""
        return f"{self.scope(tenant)}:name:{name}:seq"

    @property
    def model_changes(self) -> str:
        """The channel (not a key) of models stored and deleted."""
        return f"{self.prefix}:models:changes"

    def sweep(self, sweep_id: str) -> str:
        return f"{self.prefix}:sweep:{sweep_id}"

    def sweep_jobs(self, sweep_id: str) -> str:
        return f"{self.prefix}:sweep:{sweep_id}:jobs"

    def sweep_data(self, sweep_id: str) -> tuple[str, str, str]:
        """The training data of every job of the sweep: X, y, then the rows' weights."""
        return tuple(f"{self.prefix}:sweep:{sweep_id}:{part}" for part in ("X", "y", "w"))

    def sweep_users(self, sweep_id: str) -> str:
        """The sweep's jobs that have not ended, which still need its data."""
        return f"{self.prefix}:sweep:{sweep_id}:users"

    @property
    def sweeps(self) -> str:
        return f"{self.prefix}:sweeps"

    def dataset(self, dataset_id: str) -> str:
        return f"{self.prefix}:dataset:{dataset_id}"

    @property
    def datasets(self) -> str:
        return f"{self.prefix}:datasets"

    def dataset_name(self, name: str, tenant: str = DEFAULT_TENANT) -> str:
        return f"{self.scope(tenant)}:dataset-name:{name}"

    def stored_model_keys(self, model_id: str, name: str, tenant: str) -> dict[str, str]:
        """The keys ``store_model`` of ``lua/lib.lua`` writes when a model is stored under
        ``tenant``'s ``name``, whether trained here (``succeed``) or imported."""
        return {
            "model": self.model(model_id),
            "models": self.models,
            "name": self.name(name, tenant),
            "name_seq": self.name_seq(name, tenant),
            "owned_models": self.owned("models", tenant),
            "tenant_bytes": self.owned("bytes", tenant),
        }

    def job_script_keys(
        self, job_id: str, statuses: tuple[str, ...] = (), sweep_id: str | None = None
    ) -> dict[str, str]:
        """The keys a script that changes a job's status may touch: the record, its
        epochs, its data and who else uses it, its sweep (for a job outside a sweep, keys
        that never exist), the expiry index, and for each of ``statuses`` its index
        (``index_<status>``) and, for an ended one, its training histogram
        (``training_<status>``), plus the count of jobs ended and of attempts ended by
        node."""
        x_key, y_key, w_key = self.data_of(job_id, sweep_id)
        sweep = sweep_id or ""
        keys = {
            "job": self.job(job_id),
            "epochs": self.epochs(job_id),
            "data_x": x_key,
            "data_y": y_key,
            "data_w": w_key,
            "data_users": self.sweep_users(sweep) if sweep_id else f"{self.job(job_id)}:users",
            "sweep": self.sweep(sweep),
            "sweep_jobs": self.sweep_jobs(sweep),
            "expiring": self.expiring("jobs"),
            "sweeps_expiring": self.expiring("sweeps"),
        }
        keys |= {f"index_{status}": self.jobs(status) for status in statuses}
        ended = [status for status in statuses if status in ENDED]
        if ended:
            keys["stats_ended"] = self.stats("ended")
            keys["stats_nodes"] = self.stats("nodes")
            keys |= {f"training_{status}": self.training(status) for status in ended}
        return keys
