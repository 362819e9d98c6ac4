"""What the two prediction routes (``/predict`` and ``/models/<ref>/predict``) share at the
edge: their documented CSV bodies, the choice between a JSON and a CSV answer, and the
count and log line of each prediction served."""

from __future__ import annotations

import functools
import logging
import time

from flask import Response, current_app, request

from domain import prediction
from registry.names import REF_RE

from . import auth, metrics
from .context import deadline, scope, services
from .parsing import CSV_TYPES
from .schemas import PredictionSchema
from .schemas.models import ANSWER_LIMIT

# the name operators filter the prediction lines on (see the README's logging section)
log = logging.getLogger("service.predict")

CSV_INPUT = {
    "content": {
        "text/csv": {
            "schema": {
                "type": "string",
                "description": "A header row, then one row per prediction. Columns are "
                "matched to the model's features by name, in any order; the other "
                "columns are copied to a CSV answer. A model trained without a dataset "
                "takes every column, in order, as its features. " + ANSWER_LIMIT,
            },
            "example": "id,sepal_length,sepal_width,petal_length,petal_width\na1,5.1,3.5,1.4,0.2\n",
        }
    }
}
#: the CSV answer, documented beside the JSON one (an alt_response of the same status)
CSV_OUTPUT = {
    "schema": {
        "type": "string",
        "description": "With Accept: text/csv: the input's other columns, then p_<class> "
        "per class (per label for multi-label; none for regression), then prediction "
        "(prediction_<target> per label or target when there are several)",
    },
    "content_type": "text/csv",
    "description": "Predictions: JSON, or CSV when Accept: text/csv asks for them",
}


def answers(blp):
    """Document a prediction route's answers: JSON, or CSV when asked for, and the
    refusals of a reference or a body besides the 422 every body can get."""

    def decorator(view):
        for code, name in (
            (503, "SERVICE_UNAVAILABLE"),
            (415, "UNSUPPORTED_MEDIA_TYPE"),
            (413, "REQUEST_ENTITY_TOO_LARGE"),
            (409, "CONFLICT"),
            (404, "NOT_FOUND"),
            (400, "BAD_REQUEST"),
        ):
            view = blp.alt_response(code, response=name)(view)
        view = blp.alt_response(200, **CSV_OUTPUT)(view)
        return auth.predicts(blp.response(200, PredictionSchema)(view))

    return decorator


#: Accept headers that cannot ask for CSV, answered without parsing them
_JSON_ACCEPTS = frozenset({"", "*/*", "application/json"})


def wants_csv() -> bool:
    if request.environ.get("HTTP_ACCEPT", "") in _JSON_ACCEPTS:
        return False
    return request.accept_mimetypes.best_match(("application/json", "text/csv")) == "text/csv"


def served(done: prediction.Prediction, started: float) -> None:
    """Count a prediction and log it: on the request's access line when there is one."""
    seconds = time.perf_counter() - started
    # the app behind the proxy, looked up once: this runs for every prediction
    app = current_app._get_current_object()
    metrics.observe_prediction(done.name, done.rows, seconds, app)
    fields = {"model_id": done.model_id, "model": done.name, "rows": done.rows}
    if not metrics.annotate_access(app, **fields):
        log.info(
            "predicted %d rows with model %s (%s)",
            done.rows,
            done.model_id,
            done.name,
            extra={**fields, "predict_ms": round(seconds * 1000, 3)},
        )


def answer(done: prediction.Prediction) -> dict | Response:
    """The prediction as JSON, or as CSV when the request asks for it."""
    if wants_csv():
        return Response(prediction.csv(done), mimetype="text/csv")
    return {"model_id": done.model_id, **done.result}


def predict(ref: str, inputs: list) -> dict | Response:
    """The contract's prediction body for ``inputs`` from the model ``ref`` names (CSV
    when the request's Accept header asks for it)."""
    started = time.perf_counter()
    svc = services()
    done = prediction.predict(svc, ref, inputs, deadline(svc), scope=scope())
    served(done, started)
    return answer(done)


def predict_csv(ref: str) -> dict | Response:
    """Predict for the rows of a CSV body, matching its columns to the model's features."""
    started = time.perf_counter()
    body = request.get_data(cache=False)
    done = prediction.predict_csv(services(), ref, body, deadline(), scope=scope())
    served(done, started)
    return answer(done)


def is_ref(value) -> bool:
    """A model reference as the request schema takes it (for :func:`plain_body`)."""
    return type(value) is str and REF_RE.fullmatch(value) is not None


def is_list(value) -> bool:
    return type(value) is list


def csv_body(view):
    """Let a CSV body through to :func:`predict_csv`, ahead of the JSON parsing."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if request.mimetype in CSV_TYPES:
            return predict_csv(kwargs["ref"])
        return view(*args, **kwargs)

    return wrapper
