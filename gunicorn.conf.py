"""gunicorn settings for the nnjobs API, shared by `make run` and the Docker image.

Every value can be changed from the environment, so one file serves a laptop and a
container; the variables, their defaults and bounds are those of :mod:`registry.settings`
(see ``docs/configuration.md``): ``PORT`` and ``NNJOBS_HOST``, ``WEB_CONCURRENCY``,
``NNJOBS_API_THREADS``, ``NNJOBS_API_BLAS_THREADS``, ``NNJOBS_API_TIMEOUT``,
``NNJOBS_API_GRACEFUL_TIMEOUT``, ``NNJOBS_LOG_LEVEL`` and ``NNJOBS_LOG_FORMAT``, and
``PROMETHEUS_MULTIPROC_DIR``. A bad value of these, or of a setting the app reads, stops
the server here, naming the variable, before any worker boots.

Logs, gunicorn's and the app's, are JSON lines on stderr (:mod:`registry.logs`); the app
writes the access line of each request itself (it knows the route), so gunicorn's access
log is off. Every worker process writes its metrics under ``PROMETHEUS_MULTIPROC_DIR``
for ``/metrics`` to sum them (see :mod:`service.metrics`); emptied at start, and when it
is unset a temporary directory is made for the run and removed at its end.

Run it with ``gunicorn --config gunicorn.conf.py "service.app:create_app()"``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from registry import logs as _logs
from registry import settings as _settings

try:
    _settings.check(_settings.API)
    _env = _settings.read(_settings.GUNICORN)
except _settings.SettingsError as exc:
    raise SystemExit(str(exc)) from None

_host, _port = _env["NNJOBS_HOST"], _env["PORT"]
bind = [f"[{_host}]:{_port}" if ":" in _host else f"{_host}:{_port}"]
workers = _env["WEB_CONCURRENCY"]
# threads, so that a client waiting on a job (GET /jobs/<id>?wait=...) holds a thread, not
# a whole process; predictions are short NumPy calls that release the GIL in BLAS. A
# waiting thread sleeps on an event (registry.waiting), so threads are made plentiful;
# gunicorn starts them only as requests need them. At most NNJOBS_MAX_WAITING of them
# wait at once, so the rest always serve other requests.
worker_class = "gthread"
threads = _env["NNJOBS_API_THREADS"]
if _env["NNJOBS_MAX_WAITING"] >= threads:
    raise SystemExit(
        f"NNJOBS_MAX_WAITING must be below NNJOBS_API_THREADS ({threads}), so that waiting "
        "clients leave threads for other requests"
    )
# BLAS threads of its own would only contend with the other threads and processes for the
# cores (on two cores, a 64-row prediction cost about 15% less server CPU with one BLAS
# thread than with two)
_blas_threads = _env["NNJOBS_API_BLAS_THREADS"]
timeout = _env["NNJOBS_API_TIMEOUT"]
graceful_timeout = _env["NNJOBS_API_GRACEFUL_TIMEOUT"]
keepalive = 5

accesslog = None
errorlog = "-"
loglevel = _env["NNJOBS_LOG_LEVEL"].lower()
logconfig_dict = _logs.config(_env["NNJOBS_LOG_LEVEL"], _env["NNJOBS_LOG_FORMAT"])

# Set here, before any worker is forked (and before prometheus_client is imported
# anywhere: it reads the variable once, on import), so that every worker inherits it.
_made_metrics_dir = not _env["PROMETHEUS_MULTIPROC_DIR"]
_metrics_dir = Path(_env["PROMETHEUS_MULTIPROC_DIR"] or tempfile.mkdtemp(prefix="nnjobs-metrics-"))
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(_metrics_dir)


def on_starting(server):
    # figures of a previous run would be summed into this one's
    _metrics_dir.mkdir(parents=True, exist_ok=True)
    for stale in _metrics_dir.glob("*.db"):
        stale.unlink()


def post_worker_init(worker):
    # gunicorn's own refusals (a request line or headers over its limits) in the API's
    # JSON error shape, not as its HTML page
    from service.gunicorn_errors import install

    install()
    # a library's warning (Celery's, say) must be a JSON line too, not bare text on stderr
    _logs.capture_warnings()
    # every request writes an access line: its record need not look up the thread's and
    # the process's names, which no line of ours shows
    _logs.skip_unused_record_fields()
    # before the request threads start: see service.memory
    from service.memory import one_arena

    one_arena()
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
