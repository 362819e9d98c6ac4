"""Predictions, served in the API process from a cache of loaded models."""

from __future__ import annotations

from flask.views import MethodView

from .parsing import Blueprint, plain_body
from .prediction import answers, is_list, is_ref, predict
from .schemas import PredictRequestSchema

blp = Blueprint("predict", __name__, description="Predictions from a trained model.")


@blp.route("/predict")
class Predict(MethodView):
    # no state: one instance serves every request
    init_every_request = False

    @plain_body(model_id=is_ref, inputs=is_list)
    # an instance: given the class, webargs would build a schema for every request
    @blp.arguments(
        PredictRequestSchema(), example={"model_id": "spirals", "inputs": [[0.1, 2.0], [0.3, -1.2]]}
    )
    @answers(blp)
    def post(self, body):
        """Predict with a model named by id, name (latest version) or name@version."""
        return predict(body["model_id"], body["inputs"])
