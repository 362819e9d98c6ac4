"""Trained models: list, describe, delete, predict.

A model is named by its id, its name (the latest version) or ``name@version``.
"""

from __future__ import annotations

from flask.views import MethodView

from domain import prediction

from .context import page, scope, services
from .parsing import Blueprint, plain_body
from .prediction import CSV_INPUT, answers, csv_body, is_list, predict
from .schemas import InputsSchema, ModelPageSchema, ModelQuerySchema, ModelSchema

blp = Blueprint(
    "models", __name__, url_prefix="/models", description="Trained models and their versions."
)


@blp.route("")
class Models(MethodView):
    @blp.arguments(ModelQuerySchema, location="query")
    @blp.response(200, ModelPageSchema)
    def get(self, query):
        """List models newest first (a name's versions, with ?name=), without history."""
        who = scope()
        tenant = who.listing(query.get("tenant"))
        return page(
            services().registry.list_models,
            query,
            name=query.get("name"),
            tenant=tenant,
            names_of=who.tenant,
        )


@blp.route("/<ref:ref>")
class Model(MethodView):
    @blp.response(200, ModelSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def get(self, ref):
        """A model with its metrics and training history."""
        return prediction.get_model(services(), ref, scope=scope())

    @blp.response(204)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def delete(self, ref):
        """Delete a model; its name's other versions stay."""
        prediction.delete_model(services(), ref, scope=scope())


@blp.route("/<ref:ref>/predict")
class ModelPredict(MethodView):
    @plain_body(inputs=is_list)
    @csv_body
    @blp.arguments(InputsSchema(), example={"inputs": [[0.1, 2.0], [0.3, -1.2]]})
    @blp.doc(requestBody=CSV_INPUT)
    @answers(blp)
    def post(self, body, ref):
        """Predict with this model: JSON inputs, or a CSV file whose columns are matched
        to the model's features by name."""
        return predict(ref, body["inputs"])
