"""The nnjobs HTTP API: a Flask app on the registry (Redis) and the training queue.

Run it with gunicorn: ``gunicorn 'service:create_app()'``.
"""

from .app import create_app

__all__ = ["create_app"]
