"""Predictions, served in the API process from a cache of loaded models."""

from __future__ import annotations

from flask.views import MethodView

from .parsing import Blueprint, plain_body
from .prediction import CSV_OUTPUT, is_list, is_ref, predict
from .schemas import PredictionSchema, PredictRequestSchema

blp = Blueprint("predict", __name__, description="Predictions from a trained model.")


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
