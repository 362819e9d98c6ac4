"""The worker, with a job that crashes it: ``python tests/crashing_worker.py NAME ARGS...``
runs ``celery ARGS...`` (the worker's own entry point) with training wrapped so that the
job named NAME kills the process training it (SIGKILL) as its attempt starts to train, as
a job that crashes its worker would; with ``--hang`` before NAME, the process ignores the
soft time limit and hangs instead, until the hard limit kills it. The recovery tests start
it; the worker knows nothing of it.

The wrapper is installed before Celery starts, so the prefork pool's processes, forked
from this one, inherit it.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

log = logging.getLogger("nnjobs.worker")


def install(name: str, hang: bool = False) -> None:
    """Wrap ``nn.fit`` (the call the worker trains with) to crash (or ``hang``) on the job
    ``name``."""
    import nn

    fit = nn.fit

    @functools.wraps(fit)
    def crashing_fit(spec, X, y, callback=None, **kwargs):
        # the worker's progress callback knows its job; a call without one is no job's
        job_id = getattr(callback, "job_id", None)
        if job_id is not None and callback.registry.get_job(job_id).get("name") == name:
            if hang:
                log.warning("job %s is named %s: hanging", job_id, name, extra={"job_id": job_id})
                # Celery's soft limit is SIGUSR1 in the training process
                signal.signal(signal.SIGUSR1, signal.SIG_IGN)
                while True:
                    time.sleep(1)
            log.warning(
                "job %s is named %s: killing this process", job_id, name, extra={"job_id": job_id}
            )
            os.kill(os.getpid(), signal.SIGKILL)
        return fit(spec, X, y, callback, **kwargs)

    nn.fit = crashing_fit


def main() -> None:
    hang = sys.argv[1] == "--hang"
    name, *args = sys.argv[1 + hang :]
    sys.path.insert(0, str(ROOT))
    install(name, hang)
    from celery.__main__ import main as celery

    sys.argv = ["celery", *args]
    celery()


if __name__ == "__main__":
    main()
