"""The Celery app of the worker.

Run with ``celery -A worker.app:app worker --queues nnjobs``. Configuration comes from
the environment: ``REDIS_URL``, ``NNJOBS_QUEUE``, ``NNJOBS_KEY_PREFIX``,
``NNJOBS_WORKER_CONCURRENCY`` (training processes), ``NNJOBS_BLAS_THREADS`` (threads per
process) and the delivery settings of :func:`registry.queue.delivery_settings`
(visibility timeout, time limits, lease, recovery interval, attempts; see
``docs/guarantees.md``), all read through :mod:`registry.settings`
(``docs/configuration.md`` lists them). The worker refuses to start, saying why, when one
is malformed or they are inconsistent.

Logs are JSON lines on stderr (:mod:`registry.logs`; ``NNJOBS_LOG_LEVEL``, else the
``--loglevel`` given, and ``NNJOBS_LOG_FORMAT``): Celery's own logging setup is replaced
through its ``setup_logging`` signal, and its start-up banner becomes one log line.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from functools import cached_property

from celery import Celery
from celery.apps.worker import Worker
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import (
    celeryd_init,
    setup_logging,
    worker_process_init,
    worker_ready,
    worker_shutdown,
)
from celery.utils.nodenames import default_nodename
from celery.worker import state as worker_state
from celery.worker.request import Request
from kombu.exceptions import OperationalError
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry as RedisRetry

import nn
from nn.threads import threads_per_process, usable_cores
from registry import logs, settings
from registry.queue import Delivery, SettingsError, celery_config, delivery_settings
from registry.store import Registry
from registry.store.jobs import RESEND_BATCH
from registry.tasks import TRAIN_TASK

from .tasks import Attempt, Retry, run_job

log = logging.getLogger("nnjobs.worker")

#: What a recovery pass raises while Redis is away (the store, or the broker sending a
#: message): expected, and worth one line
UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OperationalError)


def redis_timeouts(lease: float) -> dict:
    """How the worker's store client waits on Redis: a command sent to a Redis cut off
    (its host gone, the network down) fails within a third of the lease (1 to 5 s), and
    redis-py does not retry it by itself, so that :meth:`worker.tasks.Lease.keep_trying`,
    which retries until the lease runs out and then gives the attempt up, is the one
    policy, and an attempt cut off from Redis stops soon after its lease instead of
    training on for a job another worker has taken over."""
    seconds = min(5.0, max(1.0, lease / 3))
    return {
        "socket_timeout": seconds,
        "socket_connect_timeout": seconds,
        "retry": RedisRetry(NoBackoff(), 0),
    }


def blas_threads_for(concurrency: int) -> int:
    """BLAS threads per training process (``NNJOBS_BLAS_THREADS``, else so that processes
    x threads <= the cores the worker may use)."""
    configured = settings.get("NNJOBS_BLAS_THREADS")
    if configured:
        return configured
    return threads_per_process(concurrency)


class LeaseRecovery:
    """Finds running jobs whose lease ran out (their worker died or lost Redis) and puts
    them back in the queue with a new message, or fails them once their attempts are used
    up; so no job stays ``running`` for longer than a lease plus a recovery interval while
    any worker is up, whatever happened to its message. It also sends a spare message for a
    job that stayed queued longer than the visibility timeout."""

    def __init__(self, app: Celery, registry, delivery: Delivery, queue: str):
        self.app, self.registry, self.delivery, self.queue = app, registry, delivery, queue
        #: where the next pass goes on looking for stale queued jobs, so that a backlog
        #: is gone through a batch per pass
        self.offset, self.batch = 0, RESEND_BATCH
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="nnjobs-lease-recovery", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(5)

    def _loop(self) -> None:
        interval = self.delivery.recovery_interval
        while not self.stopping.is_set():
            try:
                self.recover()
            except UNREACHABLE as exc:  # Redis away: the next pass tries again
                log.warning("lease recovery failed (%s); retrying in %g s", exc, interval)
            except Exception:
                # a bug: logged whole, and the loop goes on, as a job whose worker died
                # is recovered by no one else
                log.exception("lease recovery failed; retrying in %g s", interval)
            self.stopping.wait(interval)

    def recover(self) -> list[tuple[str, str]]:
        """One pass; returns (job id, what was done) for each job acted upon."""
        reg, attempts = self.registry(), self.delivery.max_attempts
        done = []
        for job_id in reg.running_job_ids():
            state = reg.reclaim_job(job_id, attempts)
            if state == "expired":
                # the message first: if Redis goes away before the job is marked queued,
                # the message still finds it running with an expired lease and takes over
                self.app.send_task(TRAIN_TASK, args=[job_id], queue=self.queue)
                state = reg.reclaim_job(job_id, attempts, requeue=True)
            if state in ("requeued", "failed"):
                log.warning(
                    "job %s: its lease ran out; %s", job_id, state, extra={"job_id": job_id}
                )
                done.append((job_id, state))
        # a queued job whose message has not started it within the visibility timeout may
        # have lost it (a Redis crash between storing the job and queueing the message); a
        # spare message costs nothing, as a job never starts twice; a batch per pass
        stale, self.offset = reg.stale_queued_ids(
            self.delivery.visibility_timeout, self.offset, self.batch
        )
        for job_id in stale:
            self.app.send_task(TRAIN_TASK, args=[job_id], queue=self.queue)
            log.warning(
                "job %s: queued for over the visibility timeout; sent again",
                job_id,
                extra={"job_id": job_id},
            )
            done.append((job_id, "resent"))
        return done


def _log_level(loglevel=None) -> str:
    """``NNJOBS_LOG_LEVEL`` when set, else the worker's ``--loglevel``."""
    configured = settings.get("NNJOBS_LOG_LEVEL", default=None)
    if configured:
        return configured
    if isinstance(loglevel, int):
        loglevel = logging.getLevelName(loglevel)
    return str(loglevel or "INFO").upper()


def unique_nodename(host: str | None = None) -> str:
    """A worker node name no other process shares: ``nnjobs-<pid>-<random>@<host>``.

    Celery's default, ``celery@<host>``, is the same for every worker on a host (or in
    containers given the same host name), which Celery warns of and which would make the
    attempts of two workers indistinguishable in a job's ``attempt_log``.
    """
    return f"nnjobs-{os.getpid()}-{secrets.token_hex(2)}@{host or socket.gethostname()}"


class LoggedBannerWorker(Worker):
    """Celery's worker program, logging in JSON from its first line (its warnings too), and
    with its start-up banner (printed text) as one log line; named by
    :func:`unique_nodename` unless ``--hostname`` gives another name than Celery's default
    (which Celery's command line passes when none is given)."""

    def __init__(self, app=None, hostname=None, **kwargs):
        if not hostname or hostname == default_nodename(None):
            hostname = unique_nodename()
        super().__init__(app=app, hostname=hostname, **kwargs)

    def on_before_init(self, **kwargs):
        logs.configure(_log_level(kwargs.get("loglevel")))
        logging.captureWarnings(True)
        super().on_before_init(**kwargs)

    def emit_banner(self):
        queues = sorted(self.app.amqp.queues)
        log.info(
            "%s starting: queues %s, concurrency %s",
            self.hostname,
            ", ".join(queues),
            self.concurrency,
            extra={"hostname": self.hostname, "queues": queues, "concurrency": self.concurrency},
        )


class WorkerApp(Celery):
    @cached_property
    def Worker(self):
        return self.subclass_with_self(LoggedBannerWorker)


def create_worker_app(
    redis_url: str | None = None, queue: str | None = None, key_prefix: str | None = None
) -> Celery:
    """A Celery app with the training task, bound to one Redis and one registry prefix."""
    given = settings.read(settings.WORKER)
    given_url = redis_url
    redis_url = redis_url or given["REDIS_URL"]
    key_prefix = key_prefix or given["NNJOBS_KEY_PREFIX"]
    delivery = delivery_settings()
    app = WorkerApp("nnjobs-worker", set_as_current=False)
    # a Redis given here (a test's) is the broker too; else NNJOBS_BROKER_URL when set
    broker = (None if given_url else given["NNJOBS_BROKER_URL"]) or redis_url
    app.conf.update(celery_config(broker, queue))
    # by default a process per core, each with one BLAS thread: a training step's products
    # are too small for a second thread to pay for its spinning, a second job is not
    app.conf.worker_concurrency = given["NNJOBS_WORKER_CONCURRENCY"] or usable_cores()
    # the soft limit raises in the task, which fails the job with a message; the hard one
    # kills a process that did not stop, and lease recovery then deals with the job
    app.conf.task_soft_time_limit = delivery.soft_time_limit
    app.conf.task_time_limit = delivery.hard_time_limit
    registries: dict[int, Registry] = {}
    policy = Attempt(
        delivery.lease,
        delivery.max_attempts,
        delivery.soft_time_limit,
        given["NNJOBS_PARITY_ROWS"],
    )

    def registry() -> Registry:
        # one client per process: a forked child must not share its parent's sockets
        pid = os.getpid()
        if pid not in registries:
            registries[pid] = Registry.from_url(
                redis_url, key_prefix, **redis_timeouts(delivery.lease)
            )
        return registries[pid]

    def killed(job_id: str, node: str, pid: int | None) -> bool:
        """The hard time limit killed process ``pid`` of this worker (node ``node``) in the
        task of job ``job_id``: fail the job, unless that process's attempt no longer holds
        it (then the job goes on, and False)."""
        message = (
            f"training ran over its hard time limit of {delivery.hard_time_limit:g} s "
            "and its process was killed"
        )
        if pid is not None and registry().fail_job_of_process(
            job_id, node, pid, "Timeout", message
        ):
            return True
        # Celery's clock of the limit runs in this process, which reads the task's result
        # only between its timers: blocked while it reconnects to the broker (seconds, in
        # a failover), it kills, on its return, a process whose attempt ended long before
        log.warning(
            "job %s: the hard time limit killed process %s, whose attempt had already "
            "ended; the job goes on",
            job_id,
            pid,
            extra={"job_id": job_id},
        )
        return False

    class TrainRequest(Request):
        """Celery's request in the worker's main process, which fails the job when the hard
        time limit killed the process training it (else the job would wait for its lease
        to run out and be tried again, only to be killed again)."""

        def on_timeout(self, soft, timeout):
            super().on_timeout(soft, timeout)
            # Celery skips its failure handling too when a cold shutdown kills the task
            if not soft and self.args and not worker_state.should_terminate:
                killed(self.args[0], self.hostname or "", self.worker_pid)

    # shared=False: the task belongs to this app only (it closes over this app's registry)
    @app.task(name=TRAIN_TASK, bind=True, ignore_result=True, shared=False, Request=TrainRequest)
    def train(self, job_id: str) -> str:
        """Train one job, by id."""
        worker = self.request.hostname or ""
        result = run_job(
            registry(), job_id, worker, policy, (SoftTimeLimitExceeded,), socket.gethostname()
        )
        if isinstance(result, Retry):
            # a new message, then this one is acknowledged: the job is never dropped
            raise self.retry(countdown=result.countdown + 0.5, max_retries=None)
        return result

    app.nnjobs_registry = registry
    app.nnjobs_killed = killed
    app.nnjobs_delivery = delivery
    app.nnjobs_recovery = LeaseRecovery(app, registry, delivery, app.conf.task_default_queue)
    return app


try:
    app = create_worker_app()
except SettingsError as exc:
    # `celery -A worker.app:app` would bury this under a traceback
    raise SystemExit(f"nnjobs worker: refusing to start: {exc}") from None

_concurrency = {"n": app.conf.worker_concurrency}


@setup_logging.connect
def _json_logs(loglevel=None, **kwargs):
    # connected at all, this replaces Celery's own setup (and its stdout redirection)
    logs.configure(_log_level(loglevel))


@celeryd_init.connect
def _remember_concurrency(sender=None, conf=None, options=None, **kwargs):
    if options and options.get("concurrency"):
        _concurrency["n"] = int(options["concurrency"])
    nn.set_blas_threads(blas_threads_for(_concurrency["n"]))


@worker_process_init.connect
def _pin_blas_threads(**kwargs):
    nn.set_blas_threads(blas_threads_for(_concurrency["n"]))


@worker_ready.connect
def _start_lease_recovery(sender=None, **kwargs):
    # only the worker started from this module; the test workers run their own apps
    if sender is not None and getattr(sender, "app", None) is app:
        app.nnjobs_recovery.start()


@worker_shutdown.connect
def _stop_lease_recovery(sender=None, **kwargs):
    if app.nnjobs_recovery.thread.is_alive():
        app.nnjobs_recovery.stop()
