"""The references for ``bench/serve.py``: a Flask app whose one endpoint parses the JSON
body and answers a small JSON object, nothing else; and, with ``forward=True``, the same
endpoint running the benchmark's model on the body's inputs as well.

Served by gunicorn with the API's own ``gunicorn.conf.py``, the first measures what the
web stack alone costs, the second what the web stack and the model's forward pass cost
together, so the API's throughput can be read as a fraction of each: the bare endpoint
against the one with the forward pass is the model's share, the latter against the API
what nnjobs adds (the cache lookup, checks of the inputs, metrics, the access line).

The model is read once, when a worker builds the app, from the Redis and key prefix the
API is given (``REDIS_URL``, ``NNJOBS_KEY_PREFIX``), by the name ``NNJOBS_BENCH_MODEL``
(``bench-serve``).
"""

from __future__ import annotations

import os
from itertools import chain

import numpy as np
from flask import Flask, request


def _model():
    """The benchmark's model, loaded from the store the API serves it from."""
    import nn
    from registry.store import Registry

    registry = Registry.from_url(
        os.environ["REDIS_URL"], prefix=os.environ.get("NNJOBS_KEY_PREFIX", "nnjobs")
    )
    name = os.environ.get("NNJOBS_BENCH_MODEL", "bench-serve")
    model_id = registry.resolve_model(name)
    if model_id is None:
        raise RuntimeError(f"no model {name!r} in the store")
    blob, _ = registry.model_blob_and_meta(model_id)
    registry.r.close()
    return model_id, nn.load(blob)


def create_app(forward: bool = False) -> Flask:
    app = Flask(__name__)
    model_id, model = _model() if forward else (None, None)

    @app.post("/predict")
    def predict():
        body = request.get_json()
        if model is None:
            # touch the parsed body so the parse cannot be skipped, answer about as much
            # as the API answers for one row
            return {"model_id": str(body["model_id"]), "rows": len(body["inputs"])}
        x = np.asarray(body["inputs"], dtype=np.float64)
        return {"model_id": model_id, **model.predict(x)}

    @app.post("/v2/models/<name>/infer")
    def infer(name):
        # the Open Inference Protocol's request, as tritonclient sends it: no content type
        body = request.get_json(force=True)
        tensor = body["inputs"][0]
        if model is None:
            return {"model_name": name, "outputs": len(tensor["data"])}
        x = np.asarray(tensor["data"], dtype=np.float64).reshape(tensor["shape"])
        result = model.predict(x)
        p = result["probabilities"]
        return {
            "model_name": name,
            "outputs": [
                {
                    "name": "probabilities",
                    "datatype": "FP32",
                    "shape": [len(p), len(p[0])],
                    "data": list(chain.from_iterable(p)),
                },
                {
                    "name": "label",
                    "datatype": "INT64",
                    "shape": [len(p)],
                    "data": result["predictions"],
                },
            ],
        }

    return app
