"""A Python client of the nnjobs HTTP API: train on NumPy arrays, lists or CSV files, watch
jobs, and get predictions back as NumPy arrays.

It talks HTTP only (``requests``, through :mod:`client.transport`): it imports nothing of
the service, and pandas only when it is handed a DataFrame.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from .errors import APIError, JobFailed
from .evaluation import Evaluation
from .history import FollowedHistory
from .inputs import default_name, hidden_layers, inputs, labels, rows
from .progress import ProgressLine
from .transport import DEFAULT_URL, Transport

ENDED = ("succeeded", "failed", "cancelled")


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
    #: raw rows only: ``{"row", "column", "value", "message"}`` per value approximated
    warnings: list = field(default_factory=list)

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
            warnings=list(body.get("warnings") or []),
        )

    def __len__(self) -> int:
        return len(self.predictions)


class Client(Transport):
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
        super().__init__(url, api_key, timeout, retries, max_retry_after)
        self.long_poll = long_poll
        self.poll_interval = poll_interval

    def __repr__(self) -> str:
        return f"Client({self.url!r})"

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
        ``features`` the input columns (default: every other column), or a dict naming
        the kinds of some (``{"zip": "categorical", "id": "drop"}``).
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
        on_progress = progress if callable(progress) else (ProgressLine() if progress else None)
        try:
            job = self.wait(job["id"], timeout=timeout, on_progress=on_progress)
        finally:
            if isinstance(on_progress, ProgressLine):
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
            if isinstance(features, dict):
                data["features"] = dict(features)
            elif features is not None:
                data["features"] = list(features)
            return data
        if y is None:
            raise ValueError("y (the labels of X) is required")
        X_rows, y_values = rows(X), labels(y)
        if len(X_rows) != len(y_values):
            raise ValueError(f"X has {len(X_rows)} rows but y has {len(y_values)} labels")
        return {"X": X_rows, "y": y_values}

    def job(self, job_id: str, wait: float | None = None, since: int | None = None) -> dict:
        """A job with its progress and history; with ``wait``, the server may hold the
        answer up to that many seconds until the job changes. With ``since``, the epochs
        the caller has: each per-epoch series of the history holds the epochs from
        ``since + 1`` on, ``history["first_epoch"]`` says so
        (:class:`client.history.FollowedHistory` puts them after those held)."""
        params = {"wait": f"{wait:g}"} if wait else {}
        if since is not None:
            params["since"] = str(since)
        timeout = self.timeout + (wait or 0)
        return self._json("GET", f"/jobs/{_ref(job_id)}", params=params or None, timeout=timeout)

    def jobs(self, status: str | None = None, limit: int | None = 100) -> list[dict]:
        """Jobs, newest first (without their history)."""
        return self._all("/jobs", {"status": status} if status else {}, limit)

    def cancel(self, job_id: str) -> dict:
        """Cancel a queued or running job; returns it, now cancelled."""
        return self._json("DELETE", f"/jobs/{_ref(job_id)}")

    def fix(self, job_id: str, warning: int = 0) -> dict:
        """Submit the sweep that tests the fix of the job's warning number ``warning``
        (0-based); returns the sweep, queued. An APIError (409) when it has none."""
        params = {"warning": str(warning)} if warning else None
        return self._json("POST", f"/jobs/{_ref(job_id)}/fix", params=params)

    def wait(self, job_id: str, timeout: float | None = None, on_progress=None) -> dict:
        """Until the job ends; returns its final record, whatever its status.

        ``on_progress(job)`` is called with every new state (status or progress) seen.
        Uses the server's long poll (``GET /jobs/<id>?wait=``) and, against a server
        that answers at once, polls every ``poll_interval`` seconds. Each answer brings
        only the epochs not read yet (``?since=``); the job given to ``on_progress`` and
        returned holds the whole history. Raises ``TimeoutError`` after ``timeout``
        seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        seen = None
        history = FollowedHistory()
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            hold = self.long_poll if remaining is None else min(self.long_poll, remaining)
            started = time.monotonic()
            job = self._job_held(job_id, max(0.0, round(hold, 1)), history.epochs)
            if not history.take(job):
                # another attempt trains it from the first epoch: read its epochs anew
                job = self.job(job_id, since=0)
                history.take(job)
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

    def _job_held(self, job_id: str, hold: float, since: int) -> dict:
        if hold <= 0 or not self.long_poll:
            return self.job(job_id, since=since)
        try:
            return self.job(job_id, wait=hold, since=since)
        except APIError as e:
            # a server whose own bound on ``wait`` is lower: poll without it from now on
            if e.code in (400, 422) and "wait" in json.dumps(e.errors):
                self.long_poll = 0
                return self.job(job_id, since=since)
            raise

    # ------------------------------------------------------------------ models

    def models(self, name: str | None = None, limit: int | None = 100) -> list[dict]:
        """Models, newest first; with ``name``, that name's versions."""
        return self._all("/models", {"name": name} if name else {}, limit)

    def model(self, ref: str) -> dict:
        """A model by id, name (its latest version) or ``name@version``."""
        return self._json("GET", f"/models/{_ref(ref)}")

    def evaluation(self, ref: str) -> Evaluation:
        """The metrics and feature importances of a model (id, name or ``name@version``),
        their lists as NumPy arrays (the confusion matrix as a 2-D array)."""
        return Evaluation.from_model(self.model(ref))

    def delete_model(self, ref: str) -> None:
        self.request("DELETE", f"/models/{_ref(ref)}")

    def export(self, ref: str, format: str = "onnx") -> bytes:
        """The model ``ref`` names as a file: ``onnx`` (an ONNX graph), ``mlflow`` (a zipped
        MLflow model directory) or ``nnjobs`` (its own bytes, for :meth:`import_model`)."""
        return self.request("GET", f"/models/{_ref(ref)}/export", params={"format": format}).content

    def import_model(self, model: bytes | str | os.PathLike, name: str) -> dict:
        """Store a model exported with ``format="nnjobs"`` (its bytes, or a file's path)
        as the next version of ``name``; returns the Model."""
        content = model if isinstance(model, bytes) else Path(model).read_bytes()
        return self._json(
            "POST",
            "/models/import",
            params={"name": name},
            data=content,
            headers={"Content-Type": "application/octet-stream"},
        )

    def predict(self, model: str, X) -> Prediction:
        """Predictions of ``model`` (id, name or ``name@version``) for the rows of ``X``
        (array, list of rows, DataFrame) or of a CSV file (a path). A model trained on a
        dataset also takes raw rows: a list of dicts, or a DataFrame with text or boolean
        columns (sent by column name); ``warnings`` then lists what it approximated."""
        path = f"/models/{_ref(model)}/predict"
        if isinstance(X, str | os.PathLike):
            body = self._json(
                "POST",
                path,
                data=Path(X).read_bytes(),
                headers={"Content-Type": "text/csv", "Accept": "application/json"},
            )
        else:
            body = self._json("POST", path, json={"inputs": inputs(X)})
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
