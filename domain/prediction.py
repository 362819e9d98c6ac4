"""Predictions from the models in the store, loaded once into the process's cache, for
JSON inputs or the rows of a CSV file, and their rendering as CSV."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import NoReturn

import numpy as np

import nn
from nn.data import as_features
from registry import ACTIVE
from registry.names import REF_RE

from . import tables
from .cache import footprint
from .deadline import NONE, Deadline
from .errors import Broken, Conflict, Invalid, NotFound, Refused
from .inputs import columns_matrix, matrix
from .services import Services
from .tenancy import Scope

log = logging.getLogger(__name__)

#: rows predicted between two looks at the request's deadline, at most; fewer for a
#: large model, so that each chunk costs about :data:`WORK_PER_CHECK` multiply-adds
ROWS_PER_CHECK = 8192
WORK_PER_CHECK = 2**24


@dataclass
class Prediction:
    """What a model predicted, and what a CSV answer copies around it."""

    model_id: str
    model: nn.Model
    #: the model's name
    name: str
    #: ``nn.Model.predict``'s result: predictions, and classes and probabilities
    result: dict
    rows: int
    #: (name, cells) of the input's columns that are not features, for a CSV answer
    keys: list = field(default_factory=list)
    #: the target the model was trained on, which names a CSV answer's columns
    target: str | list | None = None


def missing_model(svc: Services, ref: str, *, scope: Scope) -> NoReturn:
    """Refuse a reference that names no model: 409 if it is the id of a job of the
    scope's still on its way to a model, else 404 (saying what the reference does name,
    if anything)."""
    job = None
    if REF_RE.fullmatch(ref):
        job = svc.registry.get_job(ref, with_history=False, tenant=scope.reach)
    if job is not None:
        if job["status"] in ACTIVE:
            raise Conflict(f"model not ready: {ref!r} is a job that is {job['status']}")
        if job.get("model_id"):
            raise NotFound(f"no model {ref!r}; it is a job whose model is {job['model_id']!r}")
        raise NotFound(f"no model {ref!r}; it is a job that {job['status']} without a model")
    raise NotFound(f"no model {ref!r}")


@dataclass(frozen=True)
class Loaded:
    """A model ready to predict, with what an answer says of it."""

    model_id: str
    model: nn.Model
    name: str
    version: int
    #: the names of its inputs, in order, when it was trained from a dataset
    features: list | None


def load(svc: Services, ref: str, *, scope: Scope) -> Loaded:
    """The model ``ref`` names for ``scope``, loaded, from the cache when there."""
    # kept right by the registry's change feed (domain.cache), so a model deleted or a
    # name given a new version through another process is not served stale
    model_id = svc.refs.resolve(ref, scope.tenant, scope.reach)
    if model_id is None:
        svc.cache.discard(ref)
        missing_model(svc, ref, scope=scope)
    cached = svc.cache.entry(model_id)
    if cached is not None:
        model, info = cached
    else:
        blob, meta = svc.registry.model_blob_and_meta(model_id)
        if blob is None:  # deleted since it was resolved
            svc.refs.forget(model_id)
            missing_model(svc, ref, scope=scope)
        try:
            model = nn.load(blob)
        except nn.ModelFormatError as e:
            log.error("model %s cannot be loaded: %s", model_id, e, extra={"model_id": model_id})
            raise Broken(
                f"model {model_id!r} is stored unreadable ({e}); train it again or delete it"
            ) from e
        # a model's record never changes: what serving needs of it is kept beside it
        info = {"name": meta["name"], "version": meta["version"], "features": meta.get("features")}
        svc.cache.put(model_id, model, info["name"], footprint(model), info)
    return Loaded(model_id, model, info["name"], info["version"], info["features"])


def load_model(svc: Services, ref: str, *, scope: Scope) -> tuple[str, nn.Model, str]:
    """The id, the loaded model ``ref`` names for ``scope`` and its name, from the cache
    when there."""
    loaded = load(svc, ref, scope=scope)
    return loaded.model_id, loaded.model, loaded.name


def get_model(svc: Services, ref: str, *, scope: Scope) -> dict:
    """The Model ``ref`` names for ``scope``, with its history."""
    model = svc.registry.get_model(ref, True, scope.tenant, scope.reach)
    if model is None:
        missing_model(svc, ref, scope=scope)
    return model


def delete_model(svc: Services, ref: str, *, scope: Scope) -> None:
    """Delete the model ``ref`` names; its name's other versions stay."""
    model_id = svc.registry.resolve_model(ref, scope.tenant, scope.reach)
    # deleting by id, not by ref: a name could resolve to a newer version meanwhile
    if model_id is None or not svc.registry.delete_model(model_id, scope.tenant, scope.reach):
        missing_model(svc, ref, scope=scope)
    # at once here; the other processes hear of it through the change feed
    svc.refs.forget(model_id)


def check_answer(svc: Services, model: nn.Model, rows: int, location: str) -> None:
    """Refuse (413) an answer of more values than the limit, before they are computed."""
    limit = svc.settings["NNJOBS_MAX_ANSWER_VALUES"]
    outputs = model.network.n_outputs
    if rows * outputs > limit:
        reason = (
            f"{rows} rows x {outputs} outputs of the model is {rows * outputs} values to "
            f"answer, over the limit of {limit} (NNJOBS_MAX_ANSWER_VALUES); send at most "
            f"{max(1, limit // outputs)} rows per request"
        )
        where = "body" if location == "csv" else "inputs"
        raise Refused(413, f"{where}: {reason}", {location: {where: [reason]}})


def _predicted(model: nn.Model, x: np.ndarray, deadline: Deadline) -> dict:
    """``model.predict`` on ``x``, chunk by chunk, minding the request's deadline."""
    every = max(1, min(ROWS_PER_CHECK, WORK_PER_CHECK // model.network.n_params))
    if len(x) <= every:
        # one chunk, which model.predict checks as a whole, as below
        return model.predict(x, field="inputs")
    # checked whole first, so that a refusal names the row in the request, not in a chunk
    as_features(x, "inputs", model.n_features)
    result: dict = {}
    for start in range(0, len(x), every):
        if start:
            deadline.check(f"predicting {start} of {len(x)} rows")
        part = model.predict(x[start : start + every], field="inputs")
        if not result:
            result = part
            continue
        for key in ("probabilities", "predictions"):
            if key in part:
                result[key] += part[key]
    return result


def predict(
    svc: Services, ref: str, inputs: list, deadline: Deadline = NONE, *, scope: Scope
) -> Prediction:
    """The model ``ref`` names for ``scope``, on ``inputs``: rows of numbers (its inputs),
    or raw rows as objects of column name to value for a model trained on a dataset."""
    loaded = load(svc, ref, scope=scope)
    model = loaded.model
    check_answer(svc, model, len(inputs), "json")
    max_values = svc.settings["NNJOBS_MAX_VALUES"]
    try:
        if inputs and type(inputs[0]) is dict:
            return _predict_rows(svc, (loaded.model_id, model, loaded.name), inputs, deadline)
        x = raw_numbers(model, matrix(inputs, "inputs", max_values))
    except nn.SpecError as e:
        raise Invalid(e) from None
    return predict_matrix(loaded, x, deadline)


def predict_matrix(loaded: Loaded, x: np.ndarray, deadline: Deadline = NONE) -> Prediction:
    """``loaded`` on ``x`` (n_rows, n_features), whose answer :func:`check_answer` allowed."""
    try:
        result = _predicted(loaded.model, x, deadline)
    except nn.SpecError as e:
        raise Invalid(e) from None
    return Prediction(loaded.model_id, loaded.model, loaded.name, result, len(x))


def raw_numbers(model: nn.Model, x: np.ndarray) -> np.ndarray:
    """Rows of numbers as the model's inputs: as they are, or, for a model trained on
    numeric columns whose preparation added indicator columns, its raw features in order
    (arrays keep working for numeric models)."""
    prep = model.preparation
    if (
        prep is None
        or x.shape[1] == model.n_features
        or x.shape[1] != len(prep.features)
        or any(f.kind != "numeric" for f in prep.features)
    ):
        return x
    return prep.transform({f.name: x[:, j] for j, f in enumerate(prep.features)}, "inputs")[0]


def _predict_rows(svc: Services, loaded: tuple, rows: list, deadline: Deadline) -> Prediction:
    """Raw rows (objects) through the model's preparation."""
    model_id, model, name = loaded
    if set(map(type, rows)) != {dict}:
        i = next(i for i, row in enumerate(rows) if type(row) is not dict)
        raise nn.SpecError("inputs", f"rows must all be objects (or all arrays); row {i} is not")
    # every key of every row costs what a value does, before any is looked at
    n_values = sum(map(len, rows))
    _check_values(svc, n_values)
    if model.preparation is None:
        raise nn.SpecError(
            "inputs",
            "the model was trained on rows of numbers, not on a dataset's columns; send "
            "rows as arrays of numbers",
        )
    cols = {n: _cells([row.get(n) for row in rows]) for n in model.preparation.names}
    absent = [n for n in cols if all(n not in row for row in rows)]
    if absent:
        raise nn.SpecError(
            "inputs",
            f"no row has column {absent[0]!r}: the model's features are "
            f"{', '.join(model.preparation.names)}",
        )
    x, warnings = model.preparation.transform(cols, "inputs")
    result = _predicted(model, x, deadline)
    if warnings:
        result["warnings"] = warnings
    return Prediction(model_id, model, name, result, len(x))


def _cells(values: list) -> np.ndarray:
    bad = next((v for v in values if type(v) in (list, dict)), None)
    if bad is not None:
        raise nn.SpecError("inputs", f"a row holds {type(bad).__name__} where a value goes")
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _check_values(svc: Services, n_values: int) -> None:
    max_values = svc.settings["NNJOBS_MAX_VALUES"]
    if n_values > max_values:
        raise nn.LimitError(
            "inputs", f"{n_values} values, over the limit of {max_values} (NNJOBS_MAX_VALUES)"
        )


def _refuse_column(name: str, problem: str) -> NoReturn:
    raise Refused(422, f"column {name!r} {problem}", {"csv": {name: [problem]}})


def predict_csv(
    svc: Services, ref: str, body: bytes, deadline: Deadline = NONE, *, scope: Scope
) -> Prediction:
    """The model ``ref`` names for ``scope``, on the rows of a CSV file whose columns are
    matched to the model's features by name."""
    model_id, model, name = load_model(svc, ref, scope=scope)
    # the feature names live in the model's metadata, read for CSV bodies only
    meta = svc.registry.get_model(model_id, with_history=False)
    if meta is None:  # deleted since it was resolved
        missing_model(svc, ref, scope=scope)
    table = tables.read(body, tables.Bounds.of(svc.settings), "body", deadline)
    check_answer(svc, model, table.n_rows, "csv")
    features = meta.get("features")
    if features:
        columns = set(table.header)  # not the list: thousands of columns, each looked up
        absent = [f for f in features if f not in columns]
        if absent:
            raise Refused(
                422,
                f"no column {absent[0]!r}: the model's features are {', '.join(features)}",
                {"csv": {absent[0]: ["Missing column."]}},
            )
    else:
        features = table.header
        if len(features) != model.n_features:
            raise Refused(
                422,
                f"the body has {len(features)} columns; the model takes {model.n_features} "
                "features (a model trained without a dataset takes every column, in order)",
            )
    try:
        _check_values(svc, table.n_rows * len(features))
    except nn.SpecError as e:
        raise Invalid(e) from None
    position = {name: j for j, name in enumerate(table.header)}
    wanted = set(features)
    keys = [(h, table.cells[j]) for h, j in position.items() if h not in wanted]
    if model.preparation is not None:
        typed = {f: tables.column(f, table.cells[position[f]]) for f in features}
        try:
            x, warnings = model.preparation.transform(
                {f: c.values for f, c in typed.items()}, "body"
            )
            result = _predicted(model, x, deadline)
        except nn.SpecError as e:
            raise Refused(422, e.reason, {"csv": {"body": [e.reason]}}) from None
        if warnings:
            result["warnings"] = warnings
        return Prediction(model_id, model, name, result, table.n_rows, keys, meta.get("target"))
    cols = []
    for feature in features:
        col = tables.column(feature, table.cells[position[feature]])
        if col.kind == "text":
            _refuse_column(feature, "is text; features must be numbers or booleans")
        if col.missing.any():
            _refuse_column(
                feature, f"has a missing value in data row {tables.first_row(col.missing)}"
            )
        cols.append(col)
    try:
        result = _predicted(model, columns_matrix(cols), deadline)
    except nn.SpecError as e:
        raise Invalid(e) from None
    return Prediction(model_id, model, name, result, table.n_rows, keys, meta.get("target"))


# -- CSV ----------------------------------------------------------------------------------


def _label(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


#: what a spreadsheet takes for the start of a formula in a cell (OWASP's list)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def _inert(cells: list) -> list:
    """Text cells that a spreadsheet would run as a formula, led by ``'`` (OWASP's advice
    on CSV injection); numbers, a negative one written as text included, stay as they are."""
    return [
        "'" + cell
        if type(cell) is str and cell.startswith(_FORMULA_START) and not _NUMBER.fullmatch(cell)
        else cell
        for cell in cells
    ]


def csv(prediction: Prediction) -> bytes:
    """The prediction as a CSV file: the input's other columns first, then p_<class>
    columns, then the predictions."""
    result, kind, target = prediction.result, prediction.model.kind, prediction.target
    keys = list(prediction.keys)
    header = [name for name, _ in keys]
    cols = [_inert(cells) for _, cells in keys]
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
        cols.append(_inert(tables.cells(preds)))
    if result.get("warnings"):
        per_row = [[] for _ in range(prediction.rows)]
        for warning in result["warnings"]:
            per_row[warning["row"]].append(warning["message"])
        header.append("warnings")
        cols.append(_inert(["; ".join(messages) for messages in per_row]))
    answer_columns = set(header[len(keys) :])
    clash = next((name for name, _ in keys if name in answer_columns), None)
    if clash is not None:
        raise Refused(
            422,
            f"column {clash!r} of the input has the name of an answer column; rename it",
            {"csv": {clash: ["Clashes with an answer column."]}},
        )
    return tables.write(_inert(header), cols)
