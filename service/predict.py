"""Predictions, served in the API process from a cache of loaded models."""

from __future__ import annotations

import logging

from flask.views import MethodView
from werkzeug.exceptions import InternalServerError

import nn

from . import data as arrays
from .context import services
from .errors import abort, refuse
from .parsing import Blueprint
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


def load_model(ref: str) -> tuple[str, nn.Model]:
    """The id and the loaded model ``ref`` names, from the cache when it is there."""
    svc = services()
    # kept right by the registry's change feed (service.cache), so a model deleted or a
    # name given a new version through another process is not served stale
    model_id = svc.refs.resolve(ref)
    if model_id is None:
        svc.cache.discard(ref)
        missing_model(ref)
    model = svc.cache.get(model_id)
    if model is None:
        blob = svc.registry.model_blob(model_id)
        if blob is None:  # deleted since it was resolved
            svc.refs.forget(model_id)
            missing_model(ref)
        try:
            model = nn.load(blob)
        except nn.ModelFormatError as e:
            log.error("model %s cannot be loaded: %s", model_id, e)
            # a fault of the store, not of the request; retrying will not help, so not a 503
            raise InternalServerError(
                f"model {model_id!r} is stored unreadable ({e}); train it again or delete it"
            ) from e
        svc.cache.put(model_id, model)
    return model_id, model


def predict(ref: str, inputs: list) -> dict:
    """The contract's prediction body for ``inputs`` from the model ``ref`` names."""
    model_id, model = load_model(ref)
    try:
        x = arrays.matrix(inputs, "inputs", services().settings["NNJOBS_MAX_VALUES"])
        result = model.predict(x, field="inputs")
    except nn.SpecError as e:
        refuse(e)
    return {"model_id": model_id, **result}


@blp.route("/predict")
class Predict(MethodView):
    # an instance: given the class, webargs would build a schema for every request
    @blp.arguments(
        PredictRequestSchema(), example={"model_id": "spirals", "inputs": [[0.1, 2.0], [0.3, -1.2]]}
    )
    @blp.response(200, PredictionSchema)
    @blp.alt_response(400, response="BAD_REQUEST")
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    @blp.alt_response(415, response="UNSUPPORTED_MEDIA_TYPE")
    def post(self, body):
        """Predict with a model named by id, name (latest version) or name@version."""
        return predict(body["model_id"], body["inputs"])
