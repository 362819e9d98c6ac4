"""A Python client of the nnjobs HTTP API: train on NumPy arrays, lists or CSV files, watch
jobs, and get predictions back as NumPy arrays.

It talks HTTP only (``requests``): it imports nothing of the service, and pandas only
when it is handed a DataFrame.
"""

from __future__ import annotations

import email.utils
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import requests

from .errors import APIError, JobFailed, ServiceUnavailable, Timeout

DEFAULT_URL = "http://127.0.0.1:8000"
ENDED = ("succeeded", "failed", "cancelled")
#: Statuses the API answers while it is down for a moment (Redis unreachable).
RETRYABLE = (503,)


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


def _is_dataframe(X) -> bool:
    # duck-typed, so that pandas is never imported by the client itself
    return type(X).__module__.split(".")[0] == "pandas" and hasattr(X, "to_numpy")


def rows(X) -> list[list[float]]:
    """``X`` (array, list of rows, DataFrame) as JSON rows of finite numbers."""
    if _is_dataframe(X):
        X = X.to_numpy()
    try:
        array = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"X must hold numbers only: {e}") from None
    if array.ndim != 2:
        raise ValueError(f"X must be 2-D (rows of features), got shape {array.shape}")
    bad = ~np.isfinite(array)
    if bad.any():
        row, col = map(int, np.argwhere(bad)[0])
        raise ValueError(f"X[{row}, {col}] is {array[row, col]}; every value must be finite")
    return array.tolist()


def labels(y) -> list:
    """``y`` (array, list, Series) as JSON values: ints, strings, bools or numbers."""
    if _is_dataframe(y):
        y = y.to_numpy()
    array = np.asarray(y)
    if array.ndim == 0:
        raise ValueError("y must be a sequence of labels, one a row")
    return array.tolist()


def hidden_layers(layers) -> list[dict]:
    """``[32, 32]`` or ``"32,32"`` or layer objects -> the API's ``layers``."""
    if isinstance(layers, str):
        layers = [int(p) for p in layers.split(",") if p.strip()]
    return [dict(layer) if isinstance(layer, dict) else {"units": int(layer)} for layer in layers]


def default_name(path: str | os.PathLike) -> str:
    """A model name from a file's name: letters, digits, '.', '_' and '-' only."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(path).stem).strip("-.")[:64]
    return name or "model"


def _ref(ref: str) -> str:
    return quote(str(ref), safe="@")


@dataclass
class Prediction:
    """A prediction answer with its arrays as NumPy arrays.

    ``probabilities`` is ``(n,)`` for a binary sigmoid model (that of the second class),
    ``(n, k)`` for softmax or multi-label, None for a linear model; ``predictions`` is
    ``(n,)`` or ``(n, k)``; ``classes`` is None for a linear model.
    """

    model_id: str
    output: str
    predictions: np.ndarray
    probabilities: np.ndarray | None = None
    classes: np.ndarray | None = None
    raw: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, body: dict) -> Prediction:
        probabilities = body.get("probabilities")
        classes = body.get("classes")
        return cls(
            model_id=body.get("model_id", ""),
            output=body.get("output", ""),
            predictions=np.asarray(body["predictions"]),
            probabilities=None if probabilities is None else np.asarray(probabilities, float),
            classes=None if classes is None else np.asarray(classes),
            raw=body,
        )

    def __len__(self) -> int:
        return len(self.predictions)


class Client:
    """The nnjobs API at ``url``.

    Parameters
    ----------
    url : str
        The service's base URL.
    api_key : str, optional
        Sent as ``Authorization: Bearer <key>`` (needed when the service sets ``API_KEYS``).
    timeout : float
        Seconds to wait for an answer to one request.
    retries : int
        How many times a request answered 503 is retried (after its ``Retry-After``,
        at most ``max_retry_after`` seconds each), and a GET whose connection failed.
    long_poll : float
        Seconds one ``GET /jobs/<id>?wait=`` may wait for a change in :meth:`wait`.
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        api_key: str | None = None,
        timeout: float = 30.0,
        retries: int = 3,
        max_retry_after: float = 30.0,
        long_poll: float = 10.0,
        poll_interval: float = 0.5,
    ):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.max_retry_after = max_retry_after
        self.long_poll = long_poll
        self.poll_interval = poll_interval
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "nnjobs-client"
        if api_key:
            self.session.headers["Authorization"] = f"Bearer {api_key}"

    def __repr__(self) -> str:
        return f"Client({self.url!r})"

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ HTTP

    def request(self, method: str, path: str, *, timeout: float | None = None, **kwargs):
        """One API request; an error answer raises :class:`APIError`.

        A 503 is retried after its ``Retry-After``; a GET whose connection failed is
        retried too (it changes nothing), with a growing pause. Other requests are not
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

    # ------------------------------------------------------------------ datasets

    def dataset(self, path: str | os.PathLike, name: str | None = None) -> dict:
        """Upload a CSV file as a dataset; returns the dataset (its columns described)."""
        path = Path(path)
        content = path.read_bytes()
        form = {"name": name} if name else None
        return self._json(
            "POST", "/datasets", files={"file": (path.name, content, "text/csv")}, data=form
        )

    def datasets(self, limit: int | None = None) -> list[dict]:
        """The uploaded datasets, newest first."""
        return self._all("/datasets", {}, limit)

    def get_dataset(self, dataset_id: str) -> dict:
        return self._json("GET", f"/datasets/{_ref(dataset_id)}")

    def delete_dataset(self, dataset_id: str) -> None:
        self.request("DELETE", f"/datasets/{_ref(dataset_id)}")

    # ------------------------------------------------------------------ jobs

    def submit(self, spec: dict) -> dict:
        """``POST /jobs`` with a job as the contract writes it; returns the queued job."""
        return self._json("POST", "/jobs", json=spec)

    def train(
        self,
        X,
        y=None,
        *,
        layers=(32,),
        activation: str | None = None,
        output: str | None = None,
        name: str | None = None,
        features: list[str] | None = None,
        wait: bool = True,
        progress=True,
        timeout: float | None = None,
        **training,
    ) -> dict:
        """Train a network; returns the job (ended, when ``wait``).

        ``X`` is a 2-D array, a list of rows or a DataFrame, with ``y`` its labels; or a
        CSV file's path (uploaded; the model is named after the file unless ``name``
        says otherwise) or a dataset id, with ``y`` the target column name(s) and
        ``features`` the input columns (default: every other column).
        ``layers`` lists hidden layer sizes (or layer objects); ``training`` holds the
        job's training fields (``epochs=200, learning_rate=0.01``...). ``progress`` is
        True (a line on stderr), False, or a function called with each new job state.

        Raises :class:`JobFailed` when, waited for, the job fails or is cancelled.
        """
        if name is None and isinstance(X, str | os.PathLike) and Path(X).is_file():
            name = default_name(X)
        body: dict[str, Any] = {
            "data": self._data(X, y, features),
            "layers": hidden_layers(layers),
        }
        for key, value in (("name", name), ("activation", activation), ("output", output)):
            if value is not None:
                body[key] = value
        if training:
            body["training"] = training
        job = self.submit(body)
        if not wait:
            return job
        on_progress = progress if callable(progress) else (_ProgressLine() if progress else None)
        try:
            job = self.wait(job["id"], timeout=timeout, on_progress=on_progress)
        finally:
            if isinstance(on_progress, _ProgressLine):
                on_progress.close()
        if job["status"] != "succeeded":
            raise JobFailed(job)
        return job

    def _data(self, X, y, features) -> dict:
        if isinstance(X, str | os.PathLike):
            if y is None:
                raise ValueError("training on a dataset needs its target column: y='column'")
            dataset_id = self.dataset(X)["id"] if Path(X).is_file() else str(X)
            data: dict[str, Any] = {"dataset": dataset_id, "target": y}
            if features is not None:
                data["features"] = list(features)
            return data
        if y is None:
            raise ValueError("y (the labels of X) is required")
        X_rows, y_values = rows(X), labels(y)
        if len(X_rows) != len(y_values):
            raise ValueError(f"X has {len(X_rows)} rows but y has {len(y_values)} labels")
        return {"X": X_rows, "y": y_values}

    def job(self, job_id: str, wait: float | None = None) -> dict:
        """A job with its progress and history; with ``wait``, the server may hold the
        answer up to that many seconds until the job changes."""
        params = {"wait": f"{wait:g}"} if wait else None
        timeout = self.timeout + (wait or 0)
        return self._json("GET", f"/jobs/{_ref(job_id)}", params=params, timeout=timeout)

    def jobs(self, status: str | None = None, limit: int | None = 100) -> list[dict]:
        """Jobs, newest first (without their history)."""
        return self._all("/jobs", {"status": status} if status else {}, limit)

    def cancel(self, job_id: str) -> dict:
        """Cancel a queued or running job; returns it, now cancelled."""
        return self._json("DELETE", f"/jobs/{_ref(job_id)}")

    def wait(self, job_id: str, timeout: float | None = None, on_progress=None) -> dict:
        """Until the job ends; returns its final record, whatever its status.

        ``on_progress(job)`` is called with every new state (status or progress) seen.
        Uses the server's long poll (``GET /jobs/<id>?wait=``) and, against a server
        that answers at once, polls every ``poll_interval`` seconds. Raises
        ``TimeoutError`` after ``timeout`` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        seen = None
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            hold = self.long_poll if remaining is None else min(self.long_poll, remaining)
            started = time.monotonic()
            job = self._job_held(job_id, max(0.0, round(hold, 1)))
            state = (job["status"], json.dumps(job.get("progress"), sort_keys=True))
            if state != seen and on_progress is not None:
                on_progress(job)
            if job["status"] in ENDED:
                return job
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"job {job_id} still {job['status']} after {timeout:g} s")
            if state == seen:
                # nothing changed: the hold ran out, or the server answers at once
                pause = self.poll_interval - (time.monotonic() - started)
                if deadline is not None:
                    pause = min(pause, deadline - time.monotonic())
                if pause > 0:
                    time.sleep(pause)
            seen = state

    def _job_held(self, job_id: str, hold: float) -> dict:
        if hold <= 0 or not self.long_poll:
            return self.job(job_id)
        try:
            return self.job(job_id, wait=hold)
        except APIError as e:
            # a server whose own bound on ``wait`` is lower: poll without it from now on
            if e.code in (400, 422) and "wait" in json.dumps(e.errors):
                self.long_poll = 0
                return self.job(job_id)
            raise

    # ------------------------------------------------------------------ models

    def models(self, name: str | None = None, limit: int | None = 100) -> list[dict]:
        """Models, newest first; with ``name``, that name's versions."""
        return self._all("/models", {"name": name} if name else {}, limit)

    def model(self, ref: str) -> dict:
        """A model by id, name (its latest version) or ``name@version``."""
        return self._json("GET", f"/models/{_ref(ref)}")

    def delete_model(self, ref: str) -> None:
        self.request("DELETE", f"/models/{_ref(ref)}")

    def predict(self, model: str, X) -> Prediction:
        """Predictions of ``model`` (id, name or ``name@version``) for the rows of ``X``
        (array, list of rows, DataFrame) or of a CSV file (a path)."""
        path = f"/models/{_ref(model)}/predict"
        if isinstance(X, str | os.PathLike):
            body = self._json(
                "POST",
                path,
                data=Path(X).read_bytes(),
                headers={"Content-Type": "text/csv", "Accept": "application/json"},
            )
        else:
            body = self._json("POST", path, json={"inputs": rows(X)})
        return Prediction.from_json(body)

    def predict_csv(self, model: str, csv: bytes | str) -> str:
        """The CSV answer (key columns, ``p_<class>`` columns, ``prediction``) of
        ``model`` for a CSV text."""
        content = csv.encode() if isinstance(csv, str) else csv
        response = self.request(
            "POST",
            f"/models/{_ref(model)}/predict",
            data=content,
            headers={"Content-Type": "text/csv", "Accept": "text/csv"},
        )
        return response.text

    # ------------------------------------------------------------------ the rest

    def activations(self) -> list[dict]:
        """The service's activation catalogue (``GET /activations``): one dict per
        activation with ``name``, ``formula``, ``derivative``, ``output_range``, ``params``
        (``name``, ``default``, ``range``, ...), ``usage`` (``hidden``, ``output``) and
        ``pitfalls``."""
        return self._json("GET", "/activations")["items"]

    def ready(self) -> dict:
        """``GET /readyz``: whether Redis answers and a worker listens."""
        return self._json("GET", "/readyz")


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
    kind = ServiceUnavailable if response.status_code == 503 else APIError
    return kind(response.status_code, message, errors)


class _ProgressLine:
    """:meth:`Client.train`'s default progress display: one line on stderr, redrawn in
    place on a terminal, a line per status change elsewhere."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.status = None
        self.drawn = False

    def __call__(self, job: dict) -> None:
        text = describe(job)
        if self.tty:
            self.stream.write("\r\x1b[K" + text)
            self.drawn = True
        elif job["status"] != self.status:
            self.stream.write(text + "\n")
        self.status = job["status"]
        self.stream.flush()

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()


def describe(job: dict) -> str:
    """``job 3f2a... running: epoch 12/100 loss 0.4100 val_loss 0.4400 accuracy 0.830``"""
    text = f"job {job['id']} {job['status']}"
    progress = job.get("progress") or {}
    if progress.get("epoch"):
        text += f": epoch {progress['epoch']}/{progress.get('epochs', '?')}"
        for key in ("loss", "val_loss"):
            if progress.get(key) is not None:
                text += f" {key} {progress[key]:.4f}"
        for key, value in (progress.get("metrics") or {}).items():
            if isinstance(value, int | float):
                text += f" {key} {value:.3f}"
    return text
