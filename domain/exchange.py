"""Models leaving the service (as an ONNX graph, a zipped MLflow model, or their own bytes)
and entering it (the bytes of a model exported by another deployment)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

import nn
from interop import mlflow_model, onnx_graph, parity

from . import quotas
from .errors import Refused
from .prediction import load_model, missing_model
from .services import Services
from .tenancy import Scope

#: format -> (media type, file extension)
FORMATS = {
    "onnx": ("application/onnx", "onnx"),
    "mlflow": ("application/zip", "zip"),
    "nnjobs": ("application/octet-stream", "nnjobs"),
}


@dataclass(frozen=True)
class Exported:
    data: bytes
    mimetype: str
    filename: str


def export(svc: Services, ref: str, fmt: str, *, scope: Scope) -> Exported:
    """The model ``ref`` names for ``scope`` in format ``fmt`` (one of :data:`FORMATS`)."""
    # the shared lookup, which every model route resolves through (another tenant's: 404)
    model_id, model, name = load_model(svc, ref, scope=scope)
    meta = svc.registry.get_model(model_id, with_history=False)
    blob = svc.registry.model_blob(model_id) if fmt == "nnjobs" else b""
    if meta is None or blob is None:  # deleted since it was resolved
        missing_model(svc, ref, scope=scope)
    mimetype, extension = FORMATS[fmt]
    try:
        if fmt == "onnx":
            data = onnx_graph.to_onnx(model, name)
        elif fmt == "mlflow":
            data = mlflow_model.to_mlflow_zip(model, meta.get("features"))
        else:
            data = blob
    except onnx_graph.ExportRefused as e:
        reason = str(e)
        raise Refused(422, f"format: {reason}", {"query": {"format": [reason]}}) from None
    return Exported(data, mimetype, f"{name}-{meta['version']}.{extension}")


def _refuse_file(reason: str) -> NoReturn:
    raise Refused(422, f"file: {reason}", {"files": {"file": [reason]}})


def _check_limits(limits: nn.Limits, model: nn.Model) -> None:
    """Refuse a model this service would not have trained: its architecture over the
    configured limits (a job asking for it would have been refused)."""
    try:
        nn.resolve_spec(model.spec, limits)
    except nn.SpecError as e:
        _refuse_file(f"the model is over this service's limits: {e}")
    over = [
        (model.network.n_outputs, limits.max_classes, "outputs", "NNJOBS_MAX_CLASSES"),
        (model.network.n_params, limits.max_parameters, "parameters", "NNJOBS_MAX_PARAMETERS"),
    ]
    for value, limit, what, setting in over:
        if value > limit:
            _refuse_file(f"the model has {value} {what}, over the limit of {limit} ({setting})")


def import_model(svc: Services, blob: bytes, name: str, *, scope: Scope) -> dict:
    """Store the bytes of a model exported in the ``nnjobs`` format as the next version of
    the scope's tenant's ``name``, once they load as ``nn.load`` loads a stored model; with
    its parity certificate on rows drawn around its training mean (it brings no data).
    Over the tenant's stored bytes: Exceeded (429), nothing stored."""
    quotas.check_bytes(svc, scope, len(blob), "the model")
    try:
        model = nn.load(blob)
    except nn.ModelFormatError as e:
        _refuse_file(str(e))
    _check_limits(svc.limits, model)
    rows = parity.drawn_rows(model, svc.settings["NNJOBS_PARITY_ROWS"])
    meta = {
        **model.describe(),
        "history": {},
        "warnings": [],
        "features": None,
        "target": None,
        "training_seconds": None,
        "stop_reason": None,
        "parity": parity.certificate(model, rows, "drawn"),
    }
    return svc.registry.import_model(name, bytes(blob), meta, scope.tenant)
