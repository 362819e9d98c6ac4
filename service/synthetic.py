"""Synthetic datasets: what there is, and the points a job naming one trains on."""

from __future__ import annotations

from flask.views import MethodView

from domain import synthetic

from .context import services
from .parsing import Blueprint
from .schemas import SyntheticListSchema, SyntheticPointsSchema, SyntheticQuerySchema

blp = Blueprint(
    "synthetic",
    __name__,
    url_prefix="/synthetic",
    description="Synthetic two-dimensional datasets, as jobs name them in data.synthetic.",
)


@blp.route("")
class Datasets(MethodView):
    @blp.response(200, SyntheticListSchema)
    def get(self):
        """The synthetic datasets and the ranges of their parameters."""
        return {"items": synthetic.catalogue(services().settings["NNJOBS_MAX_VALUES"])}


@blp.route("/<string:name>")
class Points(MethodView):
    @blp.arguments(SyntheticQuerySchema, location="query")
    @blp.response(200, SyntheticPointsSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(413, response="REQUEST_ENTITY_TOO_LARGE")
    def get(self, query, name):
        """The points of a dataset: those a job with the same parameters trains on."""
        return synthetic.points(name, query, services().settings["NNJOBS_MAX_VALUES"])
