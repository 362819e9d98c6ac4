"""Predictions, served in the API process from a cache of loaded models."""

from __future__ import annotations

import functools
import logging
import time

import numpy as np
from flask import Response, request
from flask.views import MethodView
from werkzeug.exceptions import InternalServerError

import nn

from . import data as arrays
from . import metrics, tables
from .context import services
from .datasets import CSV_TYPES, refuse_table
from .errors import abort, refuse
from .parsing import Blueprint, plain_body
from .schemas import REF_RE, PredictionSchema, PredictRequestSchema

log = logging.getLogger(__name__)

blp = Blueprint("predict", __name__, description="Predictions from a trained model.")


def missing_model(ref: str):
    """Answer a reference that names no model: 409 if it is the id of a job still on
    its way to a model, else 404 (saying what the reference does name, if anything)."""
    job = services().registry.get_job(ref, with_history=False) if REF_RE.fullmatch(ref) else None
    if job is not None:
        if job["status"] in ("queued", "running"):
            abort(409, f"model not ready: {ref!r} is a job that is {job['status']}")
        if job.get("model_id"):
            abort(404, f"no model {ref!r}; it is a job whose model is {job['model_id']!r}")
        abort(404, f"no model {ref!r}; it is a job that {job['status']} without a model")
    abort(404, f"no model {ref!r}")


def load_model(ref: str) -> tuple[str, nn.Model, str]:
    """The id, the loaded model ``ref`` names and its name, from the cache when there."""
    svc = services()
    # kept right by the registry's change feed (service.cache), so a model deleted or a
    # name given a new version through another process is not served stale
    model_id = svc.refs.resolve(ref)
    if model_id is None:
        svc.cache.discard(ref)
        missing_model(ref)
    model = svc.cache.get(model_id)
    name = svc.cache.name(model_id) if model is not None else None
    if model is None or name is None:
        blob, name = svc.registry.model_blob_and_name(model_id)
        if blob is None:  # deleted since it was resolved
            svc.refs.forget(model_id)
            missing_model(ref)
        try:
            model = nn.load(blob)
        except nn.ModelFormatError as e:
            log.error("model %s cannot be loaded: %s", model_id, e, extra={"model_id": model_id})
            # a fault of the store, not of the request; retrying will not help, so not a 503
            raise InternalServerError(
                f"model {model_id!r} is stored unreadable ({e}); train it again or delete it"
            ) from e
        svc.cache.put(model_id, model, name)
    return model_id, model, name


def served(model_id: str, name: str, rows: int, started: float) -> None:
    """Count a prediction and log it: on the request's access line when there is one."""
    seconds = time.perf_counter() - started
    metrics.observe_prediction(name, rows, seconds)
    fields = {"model_id": model_id, "model": name, "rows": rows}
    if not metrics.annotate_access(**fields):
        log.info(
            "predicted %d rows with model %s (%s)",
            rows,
            model_id,
            name,
            extra={**fields, "predict_ms": round(seconds * 1000, 3)},
        )


def predict(ref: str, inputs: list) -> dict | Response:
    """The contract's prediction body for ``inputs`` from the model ``ref`` names (CSV
    when the request's Accept header asks for it)."""
    started = time.perf_counter()
    model_id, model, name = load_model(ref)
    try:
        x = arrays.matrix(inputs, "inputs", services().settings["NNJOBS_MAX_VALUES"])
        result = model.predict(x, field="inputs")
    except nn.SpecError as e:
        refuse(e)
    served(model_id, name, len(x), started)
    return answer(model_id, model, result)


# -- CSV ----------------------------------------------------------------------------------

CSV_INPUT = {
    "content": {
        "text/csv": {
            "schema": {
                "type": "string",
                "description": "A header row, then one row per prediction. Columns are "
                "matched to the model's features by name, in any order; the other "
                "columns are copied to a CSV answer. A model trained without a dataset "
                "takes every column, in order, as its features.",
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


#: Accept headers that cannot ask for CSV, answered without parsing them
_JSON_ACCEPTS = frozenset({"", "*/*", "application/json"})


def wants_csv() -> bool:
    if request.headers.get("Accept", "") in _JSON_ACCEPTS:
        return False
    return request.accept_mimetypes.best_match(("application/json", "text/csv")) == "text/csv"


def _label(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def csv_answer(result: dict, kind: str, keys: list, target) -> Response:
    """The prediction as a CSV file: ``keys`` (name, cells) first, then p_<class>
    columns, then the predictions."""
    header = [name for name, _ in keys]
    cols = [cells for _, cells in keys]
    classes = [_label(c) for c in result.get("classes") or []]
    preds = result["predictions"]
    if kind == "multilabel" and isinstance(target, list) and len(target) == len(classes):
        classes = list(target)
    if kind == "binary":
        p = np.asarray(result["probabilities"], dtype=np.float64)
        header += [f"p_{c}" for c in classes]
        cols += [(1.0 - p).tolist(), p.tolist()]
    elif "probabilities" in result:
        header += [f"p_{c}" for c in classes]
        cols += np.asarray(result["probabilities"], dtype=np.float64).T.tolist()
    if kind == "multilabel" or (kind == "regression" and preds and isinstance(preds[0], list)):
        names = classes
        if kind == "regression":
            n = len(preds[0])
            names = target if isinstance(target, list) and len(target) == n else range(n)
        header += [f"prediction_{name}" for name in names]
        cols += np.asarray(preds).T.tolist()
    else:
        header.append("prediction")
        cols.append(tables.cells(preds))
    clash = next((name for name, _ in keys if header.count(name) > 1), None)
    if clash is not None:
        abort(
            422,
            f"column {clash!r} of the input has the name of an answer column; rename it",
            {"csv": {clash: ["Clashes with an answer column."]}},
        )
    return Response(tables.write(header, cols), mimetype="text/csv")


def answer(model_id: str, model: nn.Model, result: dict, keys=(), target=None):
    """``result`` as JSON, or as CSV when the request asks for it."""
    if wants_csv():
        return csv_answer(result, model.kind, list(keys), target)
    return {"model_id": model_id, **result}


def predict_csv(ref: str) -> Response | dict:
    """Predict for the rows of a CSV body, matching its columns to the model's features."""
    svc = services()
    started = time.perf_counter()
    model_id, model, name = load_model(ref)
    # the feature names live in the model's metadata, read for CSV bodies only
    meta = svc.registry.get_model(model_id, with_history=False)
    if meta is None:  # deleted since it was resolved
        missing_model(ref)
    try:
        table = tables.read(
            request.get_data(cache=False), svc.settings["NNJOBS_MAX_DATASET_ROWS"], "body"
        )
    except tables.TableError as e:
        refuse_table(e)
    features = meta.get("features")
    if features:
        absent = [f for f in features if f not in table.header]
        if absent:
            abort(
                422,
                f"no column {absent[0]!r}: the model's features are {', '.join(features)}",
                {"csv": {absent[0]: ["Missing column."]}},
            )
    else:
        features = table.header
        if len(features) != model.n_features:
            abort(
                422,
                f"the body has {len(features)} columns; the model takes {model.n_features} "
                "features (a model trained without a dataset takes every column, in order)",
            )
    max_values = svc.settings["NNJOBS_MAX_VALUES"]
    if table.n_rows * len(features) > max_values:
        refuse(
            nn.LimitError(
                "inputs",
                f"{table.n_rows * len(features)} values, over the limit of {max_values} "
                "(NNJOBS_MAX_VALUES)",
            )
        )
    position = {name: j for j, name in enumerate(table.header)}
    values = []
    for feature in features:
        try:
            col = tables.column(feature, table.cells[position[feature]])
        except tables.TableError as e:
            refuse_table(e)
        problem = None
        if col.kind == "text":
            problem = "is text; features must be numbers or booleans"
        elif col.missing.any():
            problem = f"has a missing value in data row {tables.first_row(col.missing)}"
        if problem:
            abort(422, f"column {feature!r} {problem}", {"csv": {feature: [problem]}})
        values.append(col.values.astype(np.float64))
    try:
        result = model.predict(np.column_stack(values), field="inputs")
    except nn.SpecError as e:
        refuse(e)
    served(model_id, name, table.n_rows, started)
    keys = [(h, table.cells[j]) for h, j in position.items() if h not in set(features)]
    return answer(model_id, model, result, keys, meta.get("target"))


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


@blp.route("/predict")
class Predict(MethodView):
    @plain_body(model_id=is_ref, inputs=is_list)
    # an instance: given the class, webargs would build a schema for every request
    @blp.arguments(
        PredictRequestSchema(), example={"model_id": "spirals", "inputs": [[0.1, 2.0], [0.3, -1.2]]}
    )
    @blp.response(200, PredictionSchema)
    @blp.alt_response(200, **CSV_OUTPUT)
    @blp.alt_response(400, response="BAD_REQUEST")
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    @blp.alt_response(415, response="UNSUPPORTED_MEDIA_TYPE")
    def post(self, body):
        """Predict with a model named by id, name (latest version) or name@version."""
        return predict(body["model_id"], body["inputs"])
