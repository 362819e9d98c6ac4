"""The HTTP side of the client: one session, a 503 (and a 429 whose wait is short enough)
retried after its ``Retry-After``, a GET retried when its connection failed, an error
answer raised as :class:`APIError`, and a paginated listing read whole."""

from __future__ import annotations

import email.utils
import time
from typing import Any, Self

import requests

from .errors import APIError, ServiceUnavailable, Timeout, TooManyRequests

DEFAULT_URL = "http://127.0.0.1:8000"
#: Statuses the API answers while it is down for a moment (Redis unreachable), or while
#: the tenant is over its rate or a quota: neither stored anything, so any request may be
#: sent again.
RETRYABLE = (503, 429)


def _seconds(retry_after: str | None) -> float | None:
    """A ``Retry-After`` header's delay: seconds, or an HTTP date."""
    if not retry_after:
        return None
    value = retry_after.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class Transport:
    """Requests to the API at ``url``; see :class:`client.Client` for the parameters."""

    def __init__(
        self, url: str, api_key: str | None, timeout: float, retries: int, max_retry_after: float
    ):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.max_retry_after = max_retry_after
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "nnjobs-client"
        if api_key:
            self.session.headers["Authorization"] = f"Bearer {api_key}"

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def request(self, method: str, path: str, *, timeout: float | None = None, **kwargs):
        """One API request; an error answer raises :class:`APIError`.

        A 503 is retried after its ``Retry-After``, and a 429 whose ``Retry-After`` is at
        most ``max_retry_after`` (a longer one raises :class:`TooManyRequests` at once);
        a GET whose connection failed is retried too (it changes nothing), with a growing
        pause. Other requests are not
        repeated after a connection failure, as they may have been carried out.
        """
        timeout = self.timeout if timeout is None else timeout
        idempotent = method.upper() == "GET"
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                response = self.session.request(
                    method, self.url + path, timeout=(min(timeout, 10.0), timeout), **kwargs
                )
            except requests.ConnectionError as e:
                # a ConnectTimeout is both: nothing was sent, so it is retried like a refusal
                if isinstance(e, requests.Timeout) and not isinstance(e, requests.ConnectTimeout):
                    raise Timeout(None, f"{self.url} did not answer within {timeout:g} s") from None
                if idempotent and not last:
                    time.sleep(min(0.25 * 2**attempt, 2.0))
                    continue
                raise ServiceUnavailable(None, f"cannot reach {self.url}: {_reason(e)}") from None
            except requests.Timeout:
                raise Timeout(None, f"{self.url} did not answer within {timeout:g} s") from None
            except requests.RequestException as e:
                raise ServiceUnavailable(None, f"request to {self.url} failed: {e}") from None
            if response.status_code in RETRYABLE and not last:
                delay = _seconds(response.headers.get("Retry-After"))
                too_long = delay is not None and delay > self.max_retry_after
                if not (response.status_code == 429 and too_long):
                    time.sleep(min(self.max_retry_after, 1.0 if delay is None else delay))
                    continue
            if response.status_code >= 400:
                raise _error(response)
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _json(self, method: str, path: str, **kwargs) -> Any:
        response = self.request(method, path, **kwargs)
        try:
            return response.json()
        except ValueError:
            raise APIError(
                response.status_code, f"{method} {path} answered no JSON: {response.text[:200]!r}"
            ) from None

    def _all(self, path: str, params: dict, limit: int | None) -> list[dict]:
        """Every item of a paginated listing (or its first ``limit``)."""
        items: list[dict] = []
        page = 1
        while limit is None or len(items) < limit:
            body = self._json("GET", path, params={**params, "page": page, "page_size": 100})
            if isinstance(body, list):  # a listing that is not paginated
                items += body
                break
            items += body.get("items", [])
            if not body.get("items") or len(items) >= body.get("total", 0):
                break
            page += 1
        return items if limit is None else items[:limit]


def _reason(error: Exception) -> str:
    text = str(error)
    for marker in ("Connection refused", "Name or service not known", "timed out"):
        if marker in text:
            return marker.lower()
    return error.__class__.__name__


def _error(response: requests.Response) -> APIError:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "message" in body:
        message, errors = str(body["message"]), body.get("errors") or {}
    else:
        message = f"{response.status_code} {response.reason}".strip()
        errors = {}
    kinds = {503: ServiceUnavailable, 429: TooManyRequests}
    kind = kinds.get(response.status_code, APIError)
    retry_after = _seconds(response.headers.get("Retry-After"))
    return kind(response.status_code, message, errors, retry_after)
