"""Job records and model artifacts in Redis.

Keys (``P`` is the prefix, ``nnjobs`` by default):

- ``P:job:<id>``: hash, the job record (JSON-encoded fields for spec, data, progress,
  history and error); ``P:job:<id>:X`` and ``P:job:<id>:y``: the training data as
  ``.npy`` bytes, deleted when the job ends.
- ``P:jobs``: sorted set of every job id by creation time; ``P:jobs:<status>``: the same
  per status, kept in step with the record by the scripts that change a status.
- ``P:stats:submitted``: jobs accepted (a counter); ``P:stats:ended``: hash of jobs ended,
  by status; ``P:stats:training:<status>``: hash of training durations (seconds from an
  attempt's start to the job's end, for jobs that ended while running), one field per
  bucket of :data:`TRAINING_BUCKETS` (``+Inf`` above the last), plus ``count`` and ``sum``.
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
- ``P:models:changes``: a Pub/Sub channel, not a key: ``stored <id>`` and ``deleted <id>``
  for every model stored or deleted.
- ``P:sweep:<id>``: hash, a sweep (JSON-encoded ``vary`` and ``combinations``, the varied
  values of each of its jobs, in the order of ``P:sweep:<id>:jobs``, the list of its job
  ids); ``P:sweeps``: sorted set of every sweep id by creation time. A sweep's jobs are
  ordinary jobs whose record names the sweep (``sweep_id``).

Every status change is one Lua script, so a record is never half-written and two
processes cannot both move a job out of the same status. Each script that changes a job
record also publishes the job's new status (or ``progress``) on a channel named like the
record's key, ``P:job:<id>``, so that a client can wait for a change without polling
(:meth:`Registry.wait_for_change`).

A running job holds a lease: ``lease_until`` (Redis server time, seconds) is set when an
attempt starts and pushed forward with every progress report. Each attempt is numbered
(``attempts``); progress, success and failure are accepted only from the attempt that holds
the job, so an attempt that lost its lease (its worker was presumed dead) can never store a
model or overwrite the outcome of the attempt that took over.
"""

from __future__ import annotations

import io
import json
import re
import time
import uuid
from datetime import UTC, datetime

import numpy as np
import redis

#: seconds an attempt holds a running job without reporting progress (worker default:
#: ``NNJOBS_LEASE_SECONDS``), and attempts before a job is given up
DEFAULT_LEASE = 30.0
DEFAULT_MAX_ATTEMPTS = 3

JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
ENDED = ("succeeded", "failed", "cancelled")
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
_JSON_FIELDS = ("spec", "data", "progress", "history", "error", "warnings")
_REF = re.compile(r"[A-Za-z0-9._-]{1,64}(@[0-9]{1,9})?")

# Counts a job's end and, when it ended while running, how long its attempt trained (from
# started_ms, Redis server time); one HINCRBY into the first bucket that holds it.
_STATS_LIB = (
    "local BUCKETS = {"
    + ", ".join(f"{{{b!r}, '{b!r}'}}" for b in TRAINING_BUCKETS)
    + """}
local function record_end(stats, status, was)
  redis.call('HINCRBY', stats .. 'ended', status, 1)
  if was ~= 'running' then return end
  local started = tonumber(redis.call('HGET', KEYS[1], 'started_ms') or '')
  if not started then return end
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local seconds = math.max(0, now - started) / 1000
  local field = '+Inf'
  for _, b in ipairs(BUCKETS) do
    if seconds <= b[1] then field = b[2] break end
  end
  local key = stats .. 'training:' .. status
  redis.call('HINCRBY', key, field, 1)
  redis.call('HINCRBY', key, 'count', 1)
  redis.call('HINCRBYFLOAT', key, 'sum', string.format('%.3f', seconds))
end
"""
)

# Moves a job from one of the allowed statuses to another, updating the status indexes;
# with ended = 1 the training data goes too; with an attempt number, only while that
# attempt holds the job. Returns {old status, 1 if moved else 0}.
_TRANSITION = (
    _STATS_LIB
    + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return false end
if ARGV[7] ~= '' and redis.call('HGET', KEYS[1], 'attempts') ~= ARGV[7] then
  return {status, 0}
end
local allowed = cjson.decode(ARGV[1])
local ok = false
for _, s in ipairs(allowed) do if s == status then ok = true end end
if not ok then return {status, 0} end
local fields = cjson.decode(ARGV[3])
redis.call('HSET', KEYS[1], 'status', ARGV[2], unpack(fields))
local created = redis.call('HGET', KEYS[1], 'created_ms')
redis.call('ZREM', ARGV[4] .. status, ARGV[5])
redis.call('ZADD', ARGV[4] .. ARGV[2], created, ARGV[5])
if ARGV[6] == '1' then
  redis.call('DEL', KEYS[2], KEYS[3])
  record_end(ARGV[8], ARGV[2], status)
end
redis.call('PUBLISH', KEYS[1], ARGV[2])
return {status, 1}
"""
)

# Stores a model and marks its job succeeded in one step, only if the job is still running
# (a job cancelled during training must not leave a model behind). Returns the version.
_SUCCEED = (
    _STATS_LIB
    + """
if redis.call('HGET', KEYS[1], 'status') ~= 'running' then return false end
if ARGV[8] ~= '' and redis.call('HGET', KEYS[1], 'attempts') ~= ARGV[8] then return false end
local version = redis.call('INCR', KEYS[5])
redis.call('HSET', KEYS[4], 'meta', ARGV[1], 'blob', ARGV[2], 'version', version)
redis.call('ZADD', KEYS[6], ARGV[3], ARGV[4])
redis.call('ZADD', KEYS[7], version, ARGV[4])
local fields = cjson.decode(ARGV[5])
redis.call('HSET', KEYS[1], 'status', 'succeeded', 'model_id', ARGV[4], unpack(fields))
local created = redis.call('HGET', KEYS[1], 'created_ms')
redis.call('ZREM', ARGV[6] .. 'running', ARGV[7])
redis.call('ZADD', ARGV[6] .. 'succeeded', created, ARGV[7])
redis.call('DEL', KEYS[2], KEYS[3])
record_end(ARGV[9], 'succeeded', 'running')
redis.call('PUBLISH', KEYS[1], 'succeeded')
redis.call('PUBLISH', KEYS[6] .. ':changes', 'stored ' .. ARGV[4])
return version
"""
)

# Writes progress and extends the lease, only while this attempt holds the running job,
# so a late report cannot overwrite an ending nor keep alive a job taken over by another.
_PROGRESS = """
local rec = redis.call('HMGET', KEYS[1], 'status', 'attempts')
if rec[1] ~= 'running' then return 0 end
if ARGV[2] ~= '' and rec[2] ~= ARGV[2] then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('HSET', KEYS[1], 'lease_until', string.format('%.3f', now + tonumber(ARGV[3])),
  unpack(cjson.decode(ARGV[1])))
redis.call('PUBLISH', KEYS[1], 'progress')
return 1
"""

# Shared by the scripts that start or reclaim a job: server time, and ending a job failed.
_LEASE_LIB = (
    _STATS_LIB
    + """
local function server_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local function give_up(status, error_json, finished_at, index, job_id, stats)
  redis.call('HSET', KEYS[1], 'status', 'failed', 'error', error_json,
    'finished_at', finished_at)
  redis.call('HDEL', KEYS[1], 'lease_until')
  local created = redis.call('HGET', KEYS[1], 'created_ms')
  redis.call('ZREM', index .. status, job_id)
  redis.call('ZADD', index .. 'failed', created, job_id)
  redis.call('DEL', KEYS[2], KEYS[3])
  record_end(stats, 'failed', status)
  redis.call('PUBLISH', KEYS[1], 'failed')
end
"""
)

# Starts an attempt: a queued job, or a running one whose lease has run out (its worker
# is presumed dead). Returns {'started', attempt}, {'busy', seconds left on the lease},
# {'exhausted', attempts} when the attempts are used up (the job is failed), or
# {status, 0} for a job that has ended; false for an unknown job.
_START = (
    _LEASE_LIB
    + """
local rec = redis.call('HMGET', KEYS[1], 'status', 'attempts', 'lease_until')
local status = rec[1]
if not status then return false end
local attempts = tonumber(rec[2] or '0')
local now = server_now()
if status == 'running' then
  local left = tonumber(rec[3] or '0') - now
  if left > 0 then return {'busy', string.format('%.3f', left)} end
elseif status ~= 'queued' then
  return {status, 0}
end
if attempts >= tonumber(ARGV[4]) then
  give_up(status, ARGV[7], ARGV[8], ARGV[5], ARGV[6], ARGV[9])
  return {'exhausted', attempts}
end
attempts = attempts + 1
redis.call('HSET', KEYS[1], 'status', 'running', 'started_at', ARGV[2], 'worker', ARGV[1],
  'attempts', attempts, 'lease_until', string.format('%.3f', now + tonumber(ARGV[3])),
  'started_ms', string.format('%d', now * 1000))
local created = redis.call('HGET', KEYS[1], 'created_ms')
redis.call('ZREM', ARGV[5] .. status, ARGV[6])
redis.call('ZADD', ARGV[5] .. 'running', created, ARGV[6])
redis.call('PUBLISH', KEYS[1], 'running')
return {'started', attempts}
"""
)

# What the sweeper does with a running job: nothing while its lease is live ('live');
# fail it when its attempts are used up ('failed'); otherwise report it ('expired') or,
# with ARGV[1] = 'requeue', put it back in the queued state ('requeued').
_RECLAIM = (
    _LEASE_LIB
    + """
local rec = redis.call('HMGET', KEYS[1], 'status', 'attempts', 'lease_until')
if rec[1] ~= 'running' then return 'gone' end
if tonumber(rec[3] or '0') > server_now() then return 'live' end
if tonumber(rec[2] or '0') >= tonumber(ARGV[2]) then
  give_up('running', ARGV[5], ARGV[6], ARGV[3], ARGV[4], ARGV[7])
  return 'failed'
end
if ARGV[1] ~= 'requeue' then return 'expired' end
redis.call('HSET', KEYS[1], 'status', 'queued', 'sent_ms',
  string.format('%d', server_now() * 1000))
redis.call('HDEL', KEYS[1], 'lease_until', 'worker')
local created = redis.call('HGET', KEYS[1], 'created_ms')
redis.call('ZREM', ARGV[3] .. 'running', ARGV[4])
redis.call('ZADD', ARGV[3] .. 'queued', created, ARGV[4])
redis.call('PUBLISH', KEYS[1], 'queued')
return 'requeued'
"""
)


# Claims the right to send another message for a job queued without one starting it for
# ARGV[1] ms (its message may have been lost): 1 if this caller should send, else 0.
_RESEND = """
local rec = redis.call('HMGET', KEYS[1], 'status', 'sent_ms', 'created_ms')
if rec[1] ~= 'queued' then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if tonumber(rec[2] or rec[3] or '0') > now - tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'sent_ms', now)
return 1
"""


def now_iso() -> str:
    """The current UTC time as ISO 8601 with milliseconds and a ``Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode()


class Registry:
    """Jobs and models in one Redis database.

    Parameters
    ----------
    client : redis.Redis
        A client that returns bytes (``decode_responses=False``): model blobs are binary.
    prefix : str
        Namespace of every key, so several deployments or tests can share a server.
    """

    def __init__(self, client: redis.Redis, prefix: str = "nnjobs"):
        self.r = client
        self.prefix = prefix
        self._transition = client.register_script(_TRANSITION)
        self._succeed = client.register_script(_SUCCEED)
        self._progress = client.register_script(_PROGRESS)
        self._start = client.register_script(_START)
        self._reclaim = client.register_script(_RECLAIM)
        self._resend = client.register_script(_RESEND)

    @classmethod
    def from_url(cls, url: str, prefix: str = "nnjobs", **kwargs) -> Registry:
        kwargs.setdefault("socket_timeout", 5)
        kwargs.setdefault("socket_connect_timeout", 2)
        kwargs.setdefault("health_check_interval", 30)
        return cls(redis.Redis.from_url(url, **kwargs), prefix)

    def ping(self) -> bool:
        return bool(self.r.ping())

    # -- keys ----------------------------------------------------------------------------

    def _job(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}"

    def _data(self, job_id: str) -> tuple[str, str]:
        return f"{self.prefix}:job:{job_id}:X", f"{self.prefix}:job:{job_id}:y"

    def _status_index(self, status: str = "") -> str:
        return f"{self.prefix}:jobs:{status}" if status else f"{self.prefix}:jobs"

    def _stats(self, name: str = "") -> str:
        return f"{self.prefix}:stats:{name}"

    def _model(self, model_id: str) -> str:
        return f"{self.prefix}:model:{model_id}"

    def _name(self, name: str) -> str:
        return f"{self.prefix}:name:{name}"

    @property
    def model_changes_channel(self) -> str:
        """Where every model stored (``stored <id>``) or deleted (``deleted <id>``) is
        published, for the API processes' caches."""
        return f"{self.prefix}:models:changes"

    def _sweep(self, sweep_id: str) -> str:
        return f"{self.prefix}:sweep:{sweep_id}"

    def _sweep_jobs(self, sweep_id: str) -> str:
        return f"{self.prefix}:sweep:{sweep_id}:jobs"

    # -- jobs ----------------------------------------------------------------------------

    def _job_record(self, name: str | None, spec: dict, data: dict, **extra) -> dict:
        created_ms = int(time.time() * 1000)
        return {
            "id": uuid.uuid4().hex,
            "name": name or "model",
            "status": "queued",
            "created_at": now_iso(),
            "created_ms": created_ms,
            "spec": json.dumps(spec),
            "data": json.dumps(data),
            "progress": json.dumps(None),
            "history": json.dumps({}),
            "error": json.dumps(None),
            "warnings": json.dumps([]),
            "attempts": 0,
            # when a training message was last sent for it (the API sends one at once)
            "sent_ms": created_ms,
            **extra,
        }

    def _store_job(self, pipe, record: dict, x_blob: bytes, y_blob: bytes) -> None:
        job_id, created_ms = record["id"], record["created_ms"]
        x_key, y_key = self._data(job_id)
        pipe.hset(self._job(job_id), mapping=record)
        pipe.set(x_key, x_blob)
        pipe.set(y_key, y_blob)
        pipe.zadd(self._status_index(), {job_id: created_ms})
        pipe.zadd(self._status_index("queued"), {job_id: created_ms})

    def create_job(
        self, *, name: str | None, spec: dict, data: dict, X: np.ndarray, y: np.ndarray
    ) -> dict:
        """Store a new queued job with its training data; return the Job."""
        record = self._job_record(name, spec, data)
        with self.r.pipeline(transaction=True) as pipe:
            self._store_job(pipe, record, _npy(np.asarray(X)), _npy(np.asarray(y)))
            pipe.execute()
        return self.get_job(record["id"])

    def count_submitted(self, jobs: int = 1) -> None:
        """Count jobs as submitted (once their training messages are on their way)."""
        self.r.incrby(self._stats("submitted"), jobs)

    def stats(self, queue: str | None = None) -> dict:
        """The figures the API exposes as metrics, read in one round trip.

        ``submitted``; ``ended`` and ``jobs`` (now), by status; ``training``, by status
        ended: ``{"buckets": [(upper bound, cumulative count), ..., (inf, count)],
        "count", "sum"}``; and ``queue_length``, the messages waiting in the Celery
        queue ``queue`` (None without one).
        """
        with self.r.pipeline(transaction=False) as pipe:
            pipe.get(self._stats("submitted"))
            pipe.hgetall(self._stats("ended"))
            for status in ENDED:
                pipe.hgetall(self._stats(f"training:{status}"))
            for status in JOB_STATUSES:
                pipe.zcard(self._status_index(status))
            if queue:
                pipe.llen(queue)
            replies = pipe.execute()
        submitted, ended, *rest = replies
        training_raw, rest = rest[: len(ENDED)], rest[len(ENDED) :]
        counts, rest = rest[: len(JOB_STATUSES)], rest[len(JOB_STATUSES) :]
        ended = {k.decode(): int(v) for k, v in ended.items()}
        training = {}
        for status, raw in zip(ENDED, training_raw, strict=True):
            fields = {k.decode(): v for k, v in raw.items()}
            running_total, buckets = 0, []
            for bound in (*TRAINING_BUCKETS, float("inf")):
                running_total += int(
                    fields.get("+Inf" if bound == float("inf") else repr(bound), 0)
                )
                buckets.append((bound, running_total))
            training[status] = {
                "buckets": buckets,
                "count": int(fields.get("count", 0)),
                "sum": float(fields.get("sum", 0)),
            }
        return {
            "submitted": int(submitted or 0),
            "ended": {status: ended.get(status, 0) for status in ENDED},
            "training": training,
            "jobs": dict(zip(JOB_STATUSES, counts, strict=True)),
            "queue_length": int(rest[0]) if queue else None,
        }

    def delete_job(self, job_id: str) -> None:
        """Remove a job record and its data entirely (undoes :meth:`create_job`)."""
        with self.r.pipeline(transaction=True) as pipe:
            pipe.delete(self._job(job_id), *self._data(job_id))
            for status in ("", *JOB_STATUSES):
                pipe.zrem(self._status_index(status), job_id)
            pipe.execute()

    def _decode_job(self, raw: dict, with_history: bool = True) -> dict | None:
        if not raw:
            return None
        rec = {k.decode(): v.decode() for k, v in raw.items()}
        job = {
            "id": rec["id"],
            "name": rec.get("name"),
            "status": rec["status"],
            "created_at": rec["created_at"],
            "started_at": rec.get("started_at"),
            "finished_at": rec.get("finished_at"),
            "attempts": int(rec.get("attempts", 0)),
            "model_id": rec.get("model_id"),
            "sweep_id": rec.get("sweep_id"),
            "training_seconds": (
                float(rec["training_seconds"]) if "training_seconds" in rec else None
            ),
        }
        for key in _JSON_FIELDS:
            job[key] = json.loads(rec[key]) if key in rec else None
        if job["warnings"] is None:  # a record written before jobs had warnings
            job["warnings"] = []
        if not with_history:
            job.pop("history")
        return job

    def get_job(self, job_id: str, with_history: bool = True) -> dict | None:
        """The Job, or None for an unknown id."""
        return self._decode_job(self.r.hgetall(self._job(job_id)), with_history)

    def wait_for_change(
        self, job_id: str, seconds: float, with_history: bool = True
    ) -> dict | None:
        """The Job as soon as its record changes (a status change or a progress report),
        else after ``seconds``; at once when the job has ended or is unknown.

        The subscription is confirmed before the record is read, so a change made between
        the two is not missed.
        """
        if seconds <= 0:
            return self.get_job(job_id, with_history)
        channel = self._job(job_id)
        deadline = time.monotonic() + seconds
        pubsub = self.r.pubsub()
        try:
            pubsub.subscribe(channel)
            while (left := deadline - time.monotonic()) > 0:
                message = pubsub.get_message(timeout=left)
                if message is not None and message["type"] == "subscribe":
                    break
            job = self.get_job(job_id, with_history)
            if job is None or job["status"] in ENDED:
                return job
            while (left := deadline - time.monotonic()) > 0:
                message = pubsub.get_message(timeout=left)
                if message is not None and message["type"] == "message":
                    return self.get_job(job_id, with_history)
            return job
        finally:
            pubsub.close()

    def job_status(self, job_id: str) -> str | None:
        return _text(self.r.hget(self._job(job_id), "status"))

    def list_jobs(
        self, status: str | None = None, offset: int = 0, limit: int = 20
    ) -> tuple[list[dict], int]:
        """Jobs newest first, without their history, and how many there are in all."""
        index = self._status_index(status or "")
        total = self.r.zcard(index)
        ids = self.r.zrevrange(index, offset, offset + limit - 1)
        with self.r.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hgetall(self._job(job_id.decode()))
            records = pipe.execute()
        jobs = [self._decode_job(raw, with_history=False) for raw in records]
        return [j for j in jobs if j is not None], total

    def load_data(self, job_id: str) -> tuple[np.ndarray, np.ndarray] | None:
        """The job's (X, y), or None once the job has ended and its data is gone."""
        blobs = self.r.mget(self._data(job_id))
        if any(b is None for b in blobs):
            return None
        x, y = (np.load(io.BytesIO(b), allow_pickle=False) for b in blobs)
        return x, y

    def _move(
        self,
        job_id: str,
        allowed: tuple[str, ...],
        to: str,
        fields: dict,
        ended: bool,
        attempt: int | None = None,
    ) -> tuple[str | None, bool]:
        flat = []
        for key, value in fields.items():
            flat += [key, value]
        result = self._transition(
            keys=[self._job(job_id), *self._data(job_id)],
            args=[
                json.dumps(list(allowed)),
                to,
                json.dumps(flat),
                self._status_index() + ":",
                job_id,
                "1" if ended else "0",
                "" if attempt is None else str(attempt),
                self._stats(),
            ],
        )
        if not result:
            return None, False
        return result[0].decode(), bool(result[1])

    def claim_job(
        self,
        job_id: str,
        worker: str = "",
        lease: float = DEFAULT_LEASE,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> tuple[str, float]:
        """Start an attempt at a job, atomically; returns (outcome, value).

        - ``("started", attempt)``: the job was queued, or running under an expired lease
          (the worker of the previous attempt is presumed dead); it now runs as ``attempt``
          and holds a lease of ``lease`` seconds.
        - ``("busy", seconds)``: another attempt holds a live lease for that long yet; the
          caller must neither run the job nor forget it (try again once the lease ends).
        - ``("exhausted", attempts)``: ``max_attempts`` attempts were started and none
          finished; the job is now failed, saying so.
        - ``(status, 0)``: the job had ended (succeeded, failed, cancelled) or is unknown
          (``"unknown"``).
        """
        message = (
            f"gave up after {max_attempts} attempts: each one ended without a result "
            "(the worker process training it died or stopped responding)"
        )
        result = self._start(
            keys=[self._job(job_id), *self._data(job_id)],
            args=[
                worker,
                now_iso(),
                lease,
                max_attempts,
                self._status_index() + ":",
                job_id,
                json.dumps({"type": "AttemptsExhausted", "message": message}),
                now_iso(),
                self._stats(),
            ],
        )
        if not result:
            return "unknown", 0
        return result[0].decode(), float(result[1])

    def start_job(self, job_id: str, worker: str = "", lease: float = DEFAULT_LEASE) -> dict | None:
        """Move a queued job (or a running one whose lease ran out) to running; None if it
        cannot start now (unknown, ended, or held by a live attempt)."""
        outcome, _ = self.claim_job(job_id, worker, lease)
        return self.get_job(job_id) if outcome == "started" else None

    def running_job_ids(self) -> list[str]:
        return [i.decode() for i in self.r.zrange(self._status_index("running"), 0, -1)]

    def stale_queued_ids(self, older_than: float) -> list[str]:
        """Queued jobs whose last message was sent more than ``older_than`` seconds ago and
        that are still queued (claimed: the caller must send each one a new message)."""
        cutoff = int((time.time() - older_than) * 1000)
        ids = self.r.zrangebyscore(self._status_index("queued"), 0, cutoff)
        claimed = []
        for raw in ids:
            job_id = raw.decode()
            if self._resend(keys=[self._job(job_id)], args=[int(older_than * 1000)]):
                claimed.append(job_id)
        return claimed

    def reclaim_job(
        self, job_id: str, max_attempts: int = DEFAULT_MAX_ATTEMPTS, requeue: bool = False
    ) -> str:
        """For the sweeper: what to do with a running job whose lease may have expired.

        Returns ``"live"`` (its lease holds), ``"gone"`` (no longer running), ``"failed"``
        (expired with its attempts used up: now failed), else ``"expired"``, or with
        ``requeue`` ``"requeued"`` (moved back to queued, for a new message to start it).
        """
        message = (
            f"gave up after {max_attempts} attempts: the worker training it stopped "
            "reporting each time (it died or was cut off from Redis)"
        )
        result = self._reclaim(
            keys=[self._job(job_id), *self._data(job_id)],
            args=[
                "requeue" if requeue else "check",
                max_attempts,
                self._status_index() + ":",
                job_id,
                json.dumps({"type": "AttemptsExhausted", "message": message}),
                now_iso(),
                self._stats(),
            ],
        )
        return result.decode()

    def report_progress(
        self,
        job_id: str,
        progress: dict,
        history: dict,
        attempt: int | None = None,
        lease: float = DEFAULT_LEASE,
        warnings: list | None = None,
    ) -> bool:
        """Record progress and history (and, when given, the warnings) of a running job and
        extend its lease by ``lease`` seconds; False once it no longer runs (or, given
        ``attempt``, once another attempt took it over)."""
        fields = ["progress", json.dumps(progress), "history", json.dumps(history)]
        if warnings is not None:
            fields += ["warnings", json.dumps(warnings)]
        args = [json.dumps(fields), "" if attempt is None else str(attempt), lease]
        return bool(self._progress(keys=[self._job(job_id)], args=args))

    def succeed_job(
        self,
        job_id: str,
        blob: bytes,
        meta: dict,
        progress: dict | None = None,
        attempt: int | None = None,
    ) -> dict | None:
        """Store the model of a running job and mark the job succeeded, in one step.

        ``meta`` is the Model's description (n_features, output, classes, layers, metrics,
        history, warnings, ...); ``progress`` the job's final progress; ``attempt``, when given, the
        attempt that must still hold the job. Returns the Model, or None if the job was no
        longer running (cancelled meanwhile, or taken over by another attempt), in which
        case nothing is stored.
        """
        job = self.get_job(job_id)
        if job is None:
            return None
        model_id = uuid.uuid4().hex
        name = job["name"]
        finished = now_iso()
        meta = {**meta, "id": model_id, "name": name, "job_id": job_id, "created_at": finished}
        # trained from a dataset, the model keeps the names of its columns
        for key in ("features", "target"):
            meta.setdefault(key, (job["data"] or {}).get(key))
        job_fields = ["finished_at", finished, "history", json.dumps(meta.get("history", {}))]
        job_fields += ["warnings", json.dumps(meta.get("warnings", []))]
        # the model's final metrics on the job too, so a sweep ranks its jobs without
        # reading their models or histories
        job_fields += ["metrics", json.dumps(meta.get("metrics"))]
        if progress is not None:
            job_fields += ["progress", json.dumps(progress)]
        if meta.get("training_seconds") is not None:
            job_fields += ["training_seconds", repr(float(meta["training_seconds"]))]
        version = self._succeed(
            keys=[
                self._job(job_id),
                *self._data(job_id),
                self._model(model_id),
                self._name(name) + ":seq",
                f"{self.prefix}:models",
                self._name(name),
            ],
            args=[
                json.dumps(meta),
                blob,
                int(time.time() * 1000),
                model_id,
                json.dumps(job_fields),
                self._status_index() + ":",
                job_id,
                "" if attempt is None else str(attempt),
                self._stats(),
            ],
        )
        return None if version is None else self.get_model(model_id)

    def fail_job(
        self, job_id: str, error_type: str, message: str, attempt: int | None = None
    ) -> bool:
        """Mark a queued or running job failed with its error; False if it had ended (or,
        given ``attempt``, if another attempt holds it)."""
        error = json.dumps({"type": error_type, "message": message})
        _, moved = self._move(
            job_id,
            ("queued", "running"),
            "failed",
            {"finished_at": now_iso(), "error": error},
            ended=True,
            attempt=attempt,
        )
        return moved

    def _cancel(self, job_id: str) -> tuple[str | None, bool]:
        return self._move(
            job_id, ("queued", "running"), "cancelled", {"finished_at": now_iso()}, ended=True
        )

    def cancel_job(self, job_id: str) -> dict | None:
        """Cancel a queued or running job (a running one stops at its next check).

        Returns the job after the call, unchanged if it had already ended; None if unknown.
        """
        old, _ = self._cancel(job_id)
        return None if old is None else self.get_job(job_id)

    # -- sweeps --------------------------------------------------------------------------

    def create_sweep(
        self,
        *,
        name: str | None,
        vary: dict,
        jobs: list[dict],
        X: np.ndarray,
        y: np.ndarray,
    ) -> tuple[str, list[str]]:
        """Store a sweep and its queued jobs, all or nothing; return the sweep id and its
        job ids in the order of ``jobs``.

        ``jobs`` holds one ``{"name", "spec", "data", "vary"}`` per combination; every job
        trains on the same ``X`` and ``y``.
        """
        sweep_id = uuid.uuid4().hex
        x_blob, y_blob = _npy(np.asarray(X)), _npy(np.asarray(y))
        records = [
            self._job_record(job["name"], job["spec"], job["data"], sweep_id=sweep_id)
            for job in jobs
        ]
        job_ids = [record["id"] for record in records]
        created_ms = int(time.time() * 1000)
        sweep = {
            "id": sweep_id,
            "name": json.dumps(name),
            "created_at": now_iso(),
            "created_ms": created_ms,
            "vary": json.dumps(vary),
            "combinations": json.dumps([job["vary"] for job in jobs]),
        }
        with self.r.pipeline(transaction=True) as pipe:
            for record in records:
                self._store_job(pipe, record, x_blob, y_blob)
            pipe.hset(self._sweep(sweep_id), mapping=sweep)
            pipe.rpush(self._sweep_jobs(sweep_id), *job_ids)
            pipe.zadd(f"{self.prefix}:sweeps", {sweep_id: created_ms})
            pipe.execute()
        return sweep_id, job_ids

    def delete_sweep(self, sweep_id: str) -> None:
        """Remove a sweep and every one of its jobs (undoes :meth:`create_sweep`)."""
        job_ids = [i.decode() for i in self.r.lrange(self._sweep_jobs(sweep_id), 0, -1)]
        for job_id in job_ids:
            self.delete_job(job_id)
        with self.r.pipeline(transaction=True) as pipe:
            pipe.delete(self._sweep(sweep_id), self._sweep_jobs(sweep_id))
            pipe.zrem(f"{self.prefix}:sweeps", sweep_id)
            pipe.execute()

    def _read_sweeps(self, sweep_ids: list[str]) -> list[dict]:
        """The sweeps with their jobs' records (no histories): one round trip for the
        sweeps, one for all their jobs."""
        with self.r.pipeline(transaction=False) as pipe:
            for sweep_id in sweep_ids:
                pipe.hgetall(self._sweep(sweep_id))
                pipe.lrange(self._sweep_jobs(sweep_id), 0, -1)
            replies = pipe.execute()
        sweeps = []
        for raw, ids in zip(replies[::2], replies[1::2], strict=True):
            if not raw:
                continue
            rec = {k.decode(): v.decode() for k, v in raw.items()}
            sweeps.append(
                {
                    "id": rec["id"],
                    "name": json.loads(rec["name"]),
                    "created_at": rec["created_at"],
                    "cancelled_at": rec.get("cancelled_at"),
                    "vary": json.loads(rec["vary"]),
                    "combinations": json.loads(rec["combinations"]),
                    "job_ids": [i.decode() for i in ids],
                }
            )
        fields = ("id", "status", "finished_at", "model_id", "data", "metrics")
        with self.r.pipeline(transaction=False) as pipe:
            for sweep in sweeps:
                for job_id in sweep["job_ids"]:
                    pipe.hmget(self._job(job_id), *fields)
            rows = iter(pipe.execute())
        for sweep in sweeps:
            sweep["jobs"] = []
            for job_id in sweep.pop("job_ids"):
                values = [_text(v) for v in next(rows)]
                job = dict(zip(fields, values, strict=True))
                job["id"] = job_id  # a job deleted since reads as unknown, not as None
                job["data"] = json.loads(job["data"]) if job["data"] else None
                job["metrics"] = json.loads(job["metrics"]) if job["metrics"] else None
                sweep["jobs"].append(job)
        self._fill_metrics([j for s in sweeps for j in s["jobs"]])
        return sweeps

    def _fill_metrics(self, jobs: list[dict]) -> None:
        # jobs that succeeded before their records carried metrics: read their models'
        missing = [j for j in jobs if j["status"] == "succeeded" and j["metrics"] is None]
        if not missing:
            return
        with self.r.pipeline(transaction=False) as pipe:
            for job in missing:
                pipe.hget(self._model(job["model_id"] or ""), "meta")
            metas = pipe.execute()
        for job, meta in zip(missing, metas, strict=True):
            job["metrics"] = json.loads(meta).get("metrics") if meta else None

    def get_sweep(self, sweep_id: str) -> dict | None:
        """A sweep: ``{"id", "name", "created_at", "cancelled_at", "vary", "combinations",
        "jobs"}``, each job ``{"id", "status", "finished_at", "model_id", "data",
        "metrics"}`` (status None for a job since deleted); None for an unknown id."""
        found = self._read_sweeps([sweep_id])
        return found[0] if found else None

    def list_sweeps(self, offset: int = 0, limit: int = 20) -> tuple[list[dict], int]:
        """Sweeps newest first, as :meth:`get_sweep` reads them, and how many in all."""
        index = f"{self.prefix}:sweeps"
        total = self.r.zcard(index)
        ids = [i.decode() for i in self.r.zrevrange(index, offset, offset + limit - 1)]
        return self._read_sweeps(ids), total

    def cancel_sweep(self, sweep_id: str) -> int | None:
        """Cancel every job of a sweep that has not ended, as :meth:`cancel_job` does;
        return how many were cancelled (0: all had ended), None for an unknown sweep."""
        if not self.r.exists(self._sweep(sweep_id)):
            return None
        job_ids = [i.decode() for i in self.r.lrange(self._sweep_jobs(sweep_id), 0, -1)]
        cancelled = sum(self._cancel(job_id)[1] for job_id in job_ids)
        if cancelled:
            self.r.hsetnx(self._sweep(sweep_id), "cancelled_at", now_iso())
        return cancelled

    # -- models --------------------------------------------------------------------------

    def resolve_model(self, ref: str) -> str | None:
        """The id of the model ``ref`` names: an id, a name (latest version) or name@version."""
        if not isinstance(ref, str) or not _REF.fullmatch(ref):
            return None
        if "@" in ref:
            name, version = ref.rsplit("@", 1)
            ids = self.r.zrangebyscore(self._name(name), int(version), int(version))
            return ids[0].decode() if ids else None
        return self._id_or_newest(self._model(ref), self._name(ref), ref)

    def _id_or_newest(self, record_key: str, names_key: str, ref: str) -> str | None:
        """``ref`` if ``record_key`` exists, else the newest id in the sorted set
        ``names_key``, else None: an id or a name, both asked in one round trip, as every
        prediction that is not cached asks them."""
        with self.r.pipeline(transaction=False) as pipe:
            pipe.exists(record_key)
            pipe.zrevrange(names_key, 0, 0)
            exists, latest = pipe.execute()
        if exists:
            return ref
        return latest[0].decode() if latest else None

    def _decode_model(
        self, meta: bytes | None, version: bytes | None, with_history: bool = True
    ) -> dict | None:
        if meta is None:
            return None
        model = json.loads(meta)
        model["version"] = int(version)
        if not with_history:
            model.pop("history", None)
        return model

    def get_model(self, ref: str, with_history: bool = True) -> dict | None:
        model_id = self.resolve_model(ref)
        if model_id is None:
            return None
        meta, version = self.r.hmget(self._model(model_id), "meta", "version")
        return self._decode_model(meta, version, with_history)

    def list_models(
        self, name: str | None = None, offset: int = 0, limit: int = 20
    ) -> tuple[list[dict], int]:
        """Models newest first (one name's versions, newest first, with ``name``)."""
        index = self._name(name) if name else f"{self.prefix}:models"
        total = self.r.zcard(index)
        ids = self.r.zrevrange(index, offset, offset + limit - 1)
        with self.r.pipeline(transaction=False) as pipe:
            for model_id in ids:
                pipe.hmget(self._model(model_id.decode()), "meta", "version")
            rows = pipe.execute()
        models = [self._decode_model(meta, version, False) for meta, version in rows]
        return [m for m in models if m is not None], total

    def model_blob(self, model_id: str) -> bytes | None:
        return self.r.hget(self._model(model_id), "blob")

    def model_blob_and_name(self, model_id: str) -> tuple[bytes | None, str | None]:
        """The model's bytes and its name, in one round trip; (None, None) if it is gone."""
        blob, meta = self.r.hmget(self._model(model_id), "blob", "meta")
        if blob is None or meta is None:
            return None, None
        return blob, json.loads(meta)["name"]

    def model_exists(self, model_id: str) -> bool:
        return bool(self.r.exists(self._model(model_id)))

    def delete_model(self, ref: str) -> bool:
        """Delete a model (its name's other versions stay); False if there is none."""
        model_id = self.resolve_model(ref)
        if model_id is None:
            return False
        meta = self.r.hget(self._model(model_id), "meta")
        if meta is None:
            return False
        name = json.loads(meta)["name"]
        with self.r.pipeline(transaction=True) as pipe:
            pipe.delete(self._model(model_id))
            pipe.zrem(f"{self.prefix}:models", model_id)
            pipe.zrem(self._name(name), model_id)
            pipe.publish(self.model_changes_channel, f"deleted {model_id}")
            removed = pipe.execute()[0]
        return bool(removed)

    # -- datasets ------------------------------------------------------------------------

    def _dataset(self, dataset_id: str) -> str:
        return f"{self.prefix}:dataset:{dataset_id}"

    def _dataset_name(self, name: str) -> str:
        return f"{self.prefix}:dataset-name:{name}"

    def create_dataset(self, meta: dict, columns: list[bytes]) -> dict:
        """Store a dataset: ``meta`` describes it (its ``name``, its ``columns`` in file
        order), and ``columns`` holds each column's bytes in the same order. Returns the
        Dataset."""
        dataset_id = uuid.uuid4().hex
        created_ms = int(time.time() * 1000)
        meta = {"id": dataset_id, **meta, "created_at": now_iso()}
        fields = {f"col:{i}": blob for i, blob in enumerate(columns)}
        with self.r.pipeline(transaction=True) as pipe:
            pipe.hset(self._dataset(dataset_id), mapping={"meta": json.dumps(meta), **fields})
            pipe.zadd(f"{self.prefix}:datasets", {dataset_id: created_ms})
            pipe.zadd(self._dataset_name(meta["name"]), {dataset_id: created_ms})
            pipe.execute()
        return meta

    def resolve_dataset(self, ref: str) -> str | None:
        """The id of the dataset ``ref`` names: its id, or a name (the newest of that name)."""
        return self._id_or_newest(self._dataset(ref), self._dataset_name(ref), ref)

    def get_dataset(self, ref: str) -> dict | None:
        """The Dataset ``ref`` (an id or a name) names, or None."""
        dataset_id = self.resolve_dataset(ref)
        meta = None if dataset_id is None else self.r.hget(self._dataset(dataset_id), "meta")
        return None if meta is None else json.loads(meta)

    def dataset_columns(self, dataset_id: str, indexes: list[int]) -> list[bytes] | None:
        """The bytes of the columns at ``indexes``; None if the dataset is gone."""
        blobs = self.r.hmget(self._dataset(dataset_id), [f"col:{i}" for i in indexes])
        return None if any(b is None for b in blobs) else blobs

    def list_datasets(self, offset: int = 0, limit: int = 20) -> tuple[list[dict], int]:
        """Datasets newest first, and how many there are in all."""
        index = f"{self.prefix}:datasets"
        total = self.r.zcard(index)
        ids = self.r.zrevrange(index, offset, offset + limit - 1)
        with self.r.pipeline(transaction=False) as pipe:
            for dataset_id in ids:
                pipe.hget(self._dataset(dataset_id.decode()), "meta")
            metas = pipe.execute()
        return [json.loads(m) for m in metas if m is not None], total

    def delete_dataset(self, dataset_id: str) -> dict | None:
        """Delete a dataset by id; returns it, or None if there was none. Jobs already
        submitted keep their own copy of the data, and models their feature names."""
        meta = self.get_dataset(dataset_id)
        if meta is None or meta["id"] != dataset_id:
            return None
        with self.r.pipeline(transaction=True) as pipe:
            pipe.delete(self._dataset(dataset_id))
            pipe.zrem(f"{self.prefix}:datasets", dataset_id)
            pipe.zrem(self._dataset_name(meta["name"]), dataset_id)
            removed = pipe.execute()[0]
        return meta if removed else None
