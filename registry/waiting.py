"""Long polls on jobs that hold no Redis connection and no more than a sleeping thread.

A request waiting for a job to change (``GET /jobs/<id>?wait=``) used to open a Pub/Sub
connection of its own and hold it for the whole wait. :class:`JobWaits` keeps one
pattern subscription per process to every job's channel (``P:job:*``, where the store's
scripts publish each status change and progress report) on a thread of its own; a waiting
request registers an :class:`threading.Event` under its job id and sleeps on it. A change
on that job wakes it. The number of requests waiting at once in a process is bounded
(``limit``), so waiting clients cannot take every request thread of the process: over
the bound, :meth:`JobWaits.wait` raises :class:`TooManyWaiting` at once.

The subscription is confirmed before a waiter reads the job, so a change made between the
read and the wait is not missed. When the subscription drops (Redis restarted, connection
lost) every waiter is woken and answers with the job as it is then; until the
subscription is back, waits fall back to :meth:`Registry.wait_for_change`, one
subscription per request, as before.
"""

from __future__ import annotations

import logging
import os
import threading

import redis

log = logging.getLogger(__name__)

#: seconds a waiter gives the shared subscription to come up before it falls back
START_TIMEOUT = 1.0
#: seconds before the first attempt to subscribe again after the connection dropped, and
#: the most between later attempts
RECONNECT_DELAY = 0.5
MAX_RECONNECT_DELAY = 5.0


class TooManyWaiting(Exception):
    """A process already holds as many waiting requests as it allows."""

    def __init__(self, limit: int):
        super().__init__(f"{limit} requests of this API process are already waiting on jobs")
        self.limit = limit


class JobWaits:
    """Waits on job changes for every request thread of one process.

    Parameters
    ----------
    registry
        The store (:class:`registry.Registry`): its client, its job channels and reads.
    limit
        Requests that may wait at once in this process.
    ended
        The statuses after which a job no longer changes.
    """

    def __init__(self, registry, limit: int, ended: tuple[str, ...]):
        self.registry = registry
        self.limit = limit
        self.ended = ended
        self._lock = threading.Lock()
        self._waiters: dict[str, set[threading.Event]] = {}
        self._waiting = 0
        self._live = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._stop = threading.Event()
        channel = registry.keys.job("")
        # a prefix with glob characters must match only itself
        self._pattern = _glob_escape(channel) + "*"
        self._prefix_length = len(channel)

    @property
    def waiting(self) -> int:
        """Requests of this process waiting now."""
        return self._waiting

    @property
    def subscribed(self) -> int:
        """Requests of this process waiting on the shared subscription now."""
        with self._lock:
            return sum(len(events) for events in self._waiters.values())

    def wait(
        self, job_id: str, seconds: float, with_history: bool = True, since: int | None = None
    ) -> dict | None:
        """The job (its history from epoch ``since + 1``, see ``Registry.get_job``) as soon
        as it changes, else after ``seconds``; at once when it has ended or is unknown (None).

        Raises :class:`TooManyWaiting` when ``limit`` requests of this process are waiting.
        """

        def read(job_id: str) -> dict | None:
            return self.registry.get_job(job_id, with_history, since=since)

        if seconds <= 0:
            return read(job_id)
        with self._lock:
            if self._waiting >= self.limit:
                raise TooManyWaiting(self.limit)
            self._waiting += 1
        try:
            if not self._ensure_started():
                return self.registry.wait_for_change(job_id, seconds, with_history, since)
            event = threading.Event()
            with self._lock:
                self._waiters.setdefault(job_id, set()).add(event)
            try:
                job = read(job_id)
                if job is None or job["status"] in self.ended:
                    return job
                # woken by a change of this job, or by the subscription dropping: either
                # way the job as it is now is the answer
                if event.wait(seconds):
                    return read(job_id)
                return job
            finally:
                with self._lock:
                    events = self._waiters.get(job_id)
                    if events is not None:
                        events.discard(event)
                        if not events:
                            del self._waiters[job_id]
        finally:
            with self._lock:
                self._waiting -= 1

    def close(self) -> None:
        """Stop the subscription thread (it also stops with the process)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread.is_alive():
            thread.join(timeout=5)

    def _ensure_started(self) -> bool:
        """Start the subscription thread of this process if needed; True once it listens."""
        if self._live.is_set() and self._pid == os.getpid():
            return True
        with self._lock:
            # a forked process inherits the object but not the thread
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._pid = os.getpid()
                self._live = threading.Event()
                self._stop = threading.Event()
                self._waiters = {}
                self._thread = threading.Thread(
                    target=self._listen, name="nnjobs-job-waits", daemon=True
                )
                self._thread.start()
        return self._live.wait(START_TIMEOUT)

    def _listen(self) -> None:
        delay = RECONNECT_DELAY
        while not self._stop.is_set():
            pubsub = self.registry.r.pubsub()
            try:
                pubsub.psubscribe(self._pattern)
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is None:
                        continue
                    if message["type"] == "psubscribe":
                        # redis-py subscribes again by itself after a reconnection: what
                        # was published in between is lost, so every waiter looks again
                        # (before live is set: a first waiter must not be woken by this)
                        self._wake_all()
                        self._live.set()
                        delay = RECONNECT_DELAY
                    elif message["type"] == "pmessage":
                        self._wake(_text(message["channel"])[self._prefix_length :])
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                # said once per outage, not at every attempt to come back, and only when
                # a request was waiting
                first = delay == RECONNECT_DELAY
                level = logging.WARNING if first and self._waiting else logging.DEBUG
                log.log(level, "job change subscription lost, waiting requests answer now: %s", exc)
            except Exception:
                log.exception("job change subscription failed, waiting requests answer now")
            finally:
                self._live.clear()
                self._wake_all()
                try:
                    pubsub.close()
                except redis.RedisError:
                    log.debug("closing a lost subscription failed", exc_info=True)
            self._stop.wait(delay)
            delay = min(MAX_RECONNECT_DELAY, delay * 2)

    def _wake(self, job_id: str) -> None:
        with self._lock:
            events = list(self._waiters.get(job_id, ()))
        for event in events:
            event.set()

    def _wake_all(self) -> None:
        with self._lock:
            events = [event for events in self._waiters.values() for event in events]
        for event in events:
            event.set()


def _glob_escape(text: str) -> str:
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
