"""Python client of the nnjobs API, and the ``nnjobs`` command line (:mod:`client.cli`).

    >>> from client import Client
    >>> c = Client("http://127.0.0.1:8000")
    >>> job = c.train(X, y, layers=[16], epochs=200, learning_rate=0.01)
    >>> c.predict(job["model_id"], X).predictions

HTTP only: importing it loads neither Flask, Celery nor Redis.
"""

from .api import DEFAULT_URL, Client, Prediction
from .errors import APIError, JobFailed, ServiceUnavailable, Timeout, TooManyRequests
from .evaluation import Evaluation

__all__ = [
    "DEFAULT_URL",
    "APIError",
    "Client",
    "Evaluation",
    "JobFailed",
    "Prediction",
    "ServiceUnavailable",
    "Timeout",
    "TooManyRequests",
]
