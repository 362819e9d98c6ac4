"""What the domain refuses, as plain exceptions that the HTTP edge renders.

The edge (``service.errors``) turns each into the API's one JSON error shape, so the domain
states the status and the words once and knows nothing of how they are sent.
"""

from __future__ import annotations

import kombu.exceptions
import redis.exceptions

import nn

#: Errors that mean Redis (registry or broker) cannot be reached right now.
UNAVAILABLE = (
    redis.exceptions.ConnectionError,  # also BusyLoadingError: Redis is starting
    redis.exceptions.TimeoutError,
    redis.exceptions.ReadOnlyError,  # a replica that has not been promoted yet
    redis.exceptions.OutOfMemoryError,  # full until jobs end and their data is freed
    kombu.exceptions.OperationalError,  # the broker, as Celery reports it
)


class Refused(Exception):
    """A request the domain will not carry out.

    ``errors`` locates the fault by field, as the error body shows it:
    ``{location: {field: [reason]}}``, the location being where the request holds the
    field (``json``, ``query``, ``csv``, ``form``, ``files``).
    """

    def __init__(
        self,
        status: int,
        message: str,
        errors: dict | None = None,
        retry_after: int | None = None,
    ):
        super().__init__(message)
        self.status, self.message, self.errors = status, message, errors
        #: seconds after which the same request may succeed (a ``Retry-After``)
        self.retry_after = retry_after


class NotFound(Refused):
    """Nothing of that kind by that name."""

    def __init__(self, message: str):
        super().__init__(404, message)


class Conflict(Refused):
    """Something that exists but is not in a state to allow the request."""

    def __init__(self, message: str):
        super().__init__(409, message)


class Busy(Refused):
    """No room for the request now; the same request may succeed after ``retry_after``."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(503, message, retry_after=retry_after)


class Exceeded(Refused):
    """Over one of the tenant's quotas, or its rate of requests: 429, and the same request
    may succeed after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(429, message, retry_after=retry_after)


class Broken(Exception):
    """Something stored that cannot be read back: a fault of the store, not of the
    request, so retrying will not help (a 500, not a 503)."""


class Invalid(Exception):
    """A refusal of ``nn`` (a ``SpecError``, or a ``LimitError`` for a limit), about the
    field at ``prefix`` + the error's path, in the request's ``location``."""

    def __init__(self, error: nn.SpecError, prefix: tuple = (), location: str = "json"):
        super().__init__(str(error))
        self.error, self.prefix, self.location = error, tuple(prefix), location
