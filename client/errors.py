"""The exceptions of the client: one for every error answer of the API, subclasses for
a service that cannot be reached, and one for a job that did not succeed."""

from __future__ import annotations


def flatten_errors(errors, path: str = "") -> list[str]:
    """``{"json": {"layers": {"0": {"units": ["..."]}}}}`` -> ``["layers.0.units: ..."]``.

    The outer key (``json``, ``query``, ``form``...) says where the field was, not which
    field it was, so it is left out.
    """
    if isinstance(errors, dict):
        lines = []
        for key, value in errors.items():
            if not path and key in ("json", "query", "form", "files", "headers", "path"):
                lines += flatten_errors(value, "")
            else:
                lines += flatten_errors(value, f"{path}.{key}" if path else str(key))
        return lines
    if isinstance(errors, list | tuple):
        reasons = [str(e) for e in errors if not isinstance(e, dict | list)]
        nested = [
            line for e in errors if isinstance(e, dict | list) for line in flatten_errors(e, path)
        ]
        label = path or "request"
        return [f"{label}: {reason}" for reason in reasons] + nested
    return [f"{path or 'request'}: {errors}"]


class APIError(Exception):
    """An error answer of the API, in its one error shape.

    Attributes
    ----------
    code : int or None
        The HTTP status (None when no answer came at all).
    message : str
        The API's one-line message.
    errors : dict
        The offending fields, as the API names them (``{"json": {"layers": ...}}``);
        empty when the error is not about fields.
    """

    def __init__(
        self,
        code: int | None,
        message: str,
        errors: dict | None = None,
        retry_after: float | None = None,
    ):
        super().__init__(message)
        self.code = code
        self.message = message
        self.errors = errors or {}
        #: seconds after which the same request may succeed (the answer's Retry-After)
        self.retry_after = retry_after

    @property
    def field_errors(self) -> list[str]:
        """The field errors as ``"path.to.field: reason"`` lines."""
        return flatten_errors(self.errors)

    def __str__(self) -> str:
        prefix = f"{self.code} " if self.code else ""
        return f"{prefix}{self.message}"


class TooManyRequests(APIError):
    """429: the tenant is over a quota or its rate of requests, for longer than the client
    waits (``retry_after`` says how long)."""


class ServiceUnavailable(APIError):
    """The service could not be reached, or stayed unavailable (503) through the retries."""


class Timeout(ServiceUnavailable):
    """The service did not answer within the client's timeout."""


class JobFailed(Exception):
    """A job ended ``failed`` or ``cancelled``; ``job`` is its final record."""

    def __init__(self, job: dict):
        self.job = job
        error = job.get("error") or {}
        detail = f": {error.get('type')}: {error.get('message')}" if error else ""
        super().__init__(f"job {job.get('id')} {job.get('status')}{detail}")
