"""gunicorn settings for the nnjobs API, shared by `make run` and the Docker image.

Every value can be changed from the environment, so one file serves a laptop and a
container:

- ``PORT`` (8000) and ``NNJOBS_HOST`` (0.0.0.0, every interface, as a container needs):
  the address to listen on; `make run` sets ``NNJOBS_HOST=127.0.0.1``;
- ``WEB_CONCURRENCY`` (2): worker processes, each with its own cache of models;
- ``NNJOBS_API_THREADS`` (128): threads per worker process, each serving one request at
  a time (a long poll holds one, asleep, for up to 20 s; ``NNJOBS_MAX_WAITING``, 112, of
  them at most);
- ``NNJOBS_API_BLAS_THREADS`` (1): BLAS threads per worker process. Predictions are
  small matrix products served by several threads and processes at once; BLAS threads
  of their own would only contend with those for the cores (on two cores, a 64-row
  prediction cost about 15% less server CPU with one BLAS thread than with two);
- ``NNJOBS_API_TIMEOUT`` (30): seconds a request may run before its worker is replaced;
- ``NNJOBS_API_GRACEFUL_TIMEOUT`` (30): seconds in-flight requests get on SIGTERM;
- ``NNJOBS_LOG_LEVEL`` (``INFO``) and ``NNJOBS_LOG_FORMAT`` (``json``, or ``text``): logs,
  gunicorn's and the app's, are JSON lines on stderr (:mod:`registry.logs`); the app
  writes the access line of each request itself (it knows the route), so gunicorn's
  access log is off (``NNJOBS_ACCESS_LOG=0`` turns the app's off too);
- ``PROMETHEUS_MULTIPROC_DIR``: where every worker process writes its metrics, for
  ``/metrics`` to sum them (see :mod:`service.metrics`). Emptied at start; when unset, a
  temporary directory is made for the run and removed at its end.

Run it with ``gunicorn --config gunicorn.conf.py "service.app:create_app()"``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from registry import logs as _logs


def _int(name: str, default: int, low: int = 1) -> int:
    raw = os.environ.get(name, "").strip()
    try:
        value = int(raw) if raw else default
    except ValueError as exc:
        raise SystemExit(f"{name} must be a whole number, got {raw!r}") from exc
    if value < low:
        raise SystemExit(f"{name} must be at least {low}, got {value}")
    return value


_host = os.environ.get("NNJOBS_HOST", "0.0.0.0")
bind = [f"[{_host}]:{_int('PORT', 8000)}" if ":" in _host else f"{_host}:{_int('PORT', 8000)}"]
workers = _int("WEB_CONCURRENCY", 2)
# threads, so that a client waiting on a job (GET /jobs/<id>?wait=...) holds a thread, not
# a whole process; predictions are short NumPy calls that release the GIL in BLAS. A
# waiting thread sleeps on an event (registry.waiting), so threads are made plentiful;
# gunicorn starts them only as requests need them. At most NNJOBS_MAX_WAITING of them
# wait at once, so the rest always serve other requests.
worker_class = "gthread"
threads = _int("NNJOBS_API_THREADS", 128)
if _int("NNJOBS_MAX_WAITING", 112) >= threads:
    raise SystemExit(
        f"NNJOBS_MAX_WAITING must be below NNJOBS_API_THREADS ({threads}), so that waiting "
        "clients leave threads for other requests"
    )
_blas_threads = _int("NNJOBS_API_BLAS_THREADS", 1)
timeout = _int("NNJOBS_API_TIMEOUT", 30)
graceful_timeout = _int("NNJOBS_API_GRACEFUL_TIMEOUT", 30)
keepalive = 5

accesslog = None
errorlog = "-"
loglevel = _logs.level().lower()
logconfig_dict = _logs.config()

# Set here, before any worker is forked (and before prometheus_client is imported
# anywhere: it reads the variable once, on import), so that every worker inherits it.
_made_metrics_dir = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _made_metrics_dir:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="nnjobs-metrics-")
_metrics_dir = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])


def on_starting(server):
    # figures of a previous run would be summed into this one's
    _metrics_dir.mkdir(parents=True, exist_ok=True)
    for stale in _metrics_dir.glob("*.db"):
        stale.unlink()


def post_worker_init(worker):
    # a library's warning (Celery's, say) must be a JSON line too, not bare text on stderr
    _logs.capture_warnings()
    # every request writes an access line: its record need not look up the thread's and
    # the process's names, which no line of ours shows
    _logs.skip_unused_record_fields()
    import nn

    nn.set_blas_threads(_blas_threads)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    # the live gauges of a worker that is gone must not be summed
    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _made_metrics_dir:
        shutil.rmtree(_metrics_dir, ignore_errors=True)


# the heartbeat file of each worker: in containers /tmp may sit on an overlay or a slow
# disk, which can make an idle worker look stuck; /dev/shm is memory
if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
    worker_tmp_dir = "/dev/shm"

proc_name = "nnjobs-api"
# gunicorn >= 25 opens a control socket at one fixed path per user by default, where two
# servers of the same user (make run beside the tests, say) would collide
control_socket_disable = True
