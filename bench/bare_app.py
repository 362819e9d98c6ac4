"""The reference for ``bench/serve.py``: a Flask app whose one endpoint parses the JSON
body and answers a small JSON object, nothing else.

Served by gunicorn with the API's own ``gunicorn.conf.py``, it measures what the web stack
alone costs, so the API's throughput can be read as a fraction of it.
"""

from __future__ import annotations

from flask import Flask, request


def create_app() -> Flask:
    app = Flask(__name__)

    @app.post("/predict")
    def predict():
        body = request.get_json()
        # touch the parsed body so the parse cannot be skipped, answer about as much as the
        # API answers for one row
        return {"model_id": str(body["model_id"]), "rows": len(body["inputs"])}

    @app.post("/v2/models/<name>/infer")
    def infer(name):
        # the Open Inference Protocol's request, as tritonclient sends it: no content type
        body = request.get_json(force=True)
        return {"model_name": name, "outputs": len(body["inputs"][0]["data"])}

    return app
