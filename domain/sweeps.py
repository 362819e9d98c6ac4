"""Sweeps: one job per combination of varied values, and their results ranked.

A sweep takes a job as ``POST /jobs`` does and lists values to try in it (``vary``). Each
combination (the cartesian product of the lists) becomes an ordinary job, checked exactly
as ``POST /jobs`` checks one; if any combination is refused, the whole sweep is, and
nothing is stored or queued.

Varying ``activation`` sets the job's default hidden activation and replaces that of every
hidden layer. A layer's activation parameters (leaky_relu's ``alpha``, maxout's
``pieces``) belong to the activation they were written for: they are kept when the layer
already used the varied activation and dropped otherwise, so the new activation takes its
own defaults (elu's ``alpha`` of 1 means something else than leaky_relu's, and is outside
leaky_relu's range). Varying ``optimizer`` treats the optimizer's own settings the same way.
"""

from __future__ import annotations

import copy
import itertools
import math

import nn
from nn.budget import network_size
from nn.network import Layer
from nn.spec import DEFAULT_ACTIVATION
from registry import ENDED, JOB_STATUSES

from . import quotas, tenancy
from .errors import Conflict, Invalid, NotFound, Refused
from .jobs import SPEC_KEYS, data_of, invalid_spec, queue, resolve
from .services import Services
from .tenancy import Scope

_ACTIVATION_PARAMS = {p for a in nn.ACTIVATIONS.values() for p in a.params}
_OPTIMIZER_PARAMS = {p for o in nn.OPTIMIZERS.values() for p in o.params}


def _canonical(name: str) -> str:
    return nn.ALIASES.get(name, name)


def _set_layers(spec: dict, layers: list) -> None:
    spec["layers"] = copy.deepcopy(layers)


def _set_activation(spec: dict, name: str) -> None:
    default = spec.get("activation", DEFAULT_ACTIVATION)
    for layer in spec.get("layers", ()):
        if _canonical(layer.get("activation", default)) != _canonical(name):
            for key in _ACTIVATION_PARAMS & set(layer):
                del layer[key]
        layer["activation"] = name
    spec["activation"] = name


def _set_learning_rate(spec: dict, value: float) -> None:
    spec.setdefault("training", {})["learning_rate"] = value


def _set_optimizer(spec: dict, name: str) -> None:
    training = spec.setdefault("training", {})
    if training.get("optimizer", nn.optimizers.DEFAULT_OPTIMIZER) != name:
        for key in _OPTIMIZER_PARAMS & set(training):
            del training[key]
    training["optimizer"] = name


#: vary key -> how it changes a job spec, in the order they apply (layers before the
#: activation that replaces theirs)
APPLY = {
    "layers": _set_layers,
    "activation": _set_activation,
    "learning_rate": _set_learning_rate,
    "optimizer": _set_optimizer,
}


def combinations(vary: dict) -> list[tuple[dict, dict]]:
    """``(values, indexes)`` per combination, in the order of the cartesian product of the
    lists, the first key of ``vary`` changing slowest (the schema puts the keys in its own
    order); ``indexes`` locate each value in ``vary``."""
    keys = [key for key in APPLY if key in vary]
    keys.sort(key=list(vary).index)
    out = []
    for picks in itertools.product(*(range(len(vary[key])) for key in keys)):
        indexes = dict(zip(keys, picks, strict=True))
        out.append(({key: vary[key][i] for key, i in indexes.items()}, indexes))
    return out


def apply(job: dict, values: dict) -> dict:
    """The job's spec keys with ``values`` put in (the job itself is left unchanged)."""
    spec = {key: copy.deepcopy(job[key]) for key in SPEC_KEYS if key in job}
    for key, setter in APPLY.items():
        if key in values:
            setter(spec, values[key])
    return spec


def _blame(error: nn.SpecError, indexes: dict) -> tuple:
    """Where in the sweep request a refusal of one combination's job belongs: the varied
    value that set the refused field (``vary.learning_rate.2``), else the shared job."""
    path = error.path
    field = path[-1] if path else None
    if "layers" in indexes and path[:1] == ("layers",):
        return ("vary", "layers", indexes["layers"], *path[1:])
    if "activation" in indexes and (
        path == ("activation",)
        or (path[:1] == ("layers",) and (field == "activation" or field in _ACTIVATION_PARAMS))
    ):
        return ("vary", "activation", indexes["activation"])
    if "learning_rate" in indexes and path == ("training", "learning_rate"):
        return ("vary", "learning_rate", indexes["learning_rate"])
    optimizer_field = field == "optimizer" or field in _OPTIMIZER_PARAMS
    if "optimizer" in indexes and path[:1] == ("training",) and len(path) == 2 and optimizer_field:
        return ("vary", "optimizer", indexes["optimizer"])
    network_cost = path == ("training",) or error.limit == "max_batch_activations"
    if isinstance(error, nn.LimitError) and network_cost:
        # the compute budget, a step's activations: the network's size is what the sweep
        # changes
        for key in ("layers", "activation"):
            if key in indexes:
                return ("vary", key, indexes[key])
    return ("job",)


#: a job's training seconds on one core, roughly (fits of networks from 1 to 7 layers and 12
#: to 66,000 weights, one BLAS thread): NumPy's calls per optimizer step and layer, the
#: products per row and weight, the activations per row and unit; only the order matters
STEP_LAYER_S, ROW_WEIGHT_S, ROW_UNIT_S = 20e-6, 0.17e-9, 4.5e-9


def estimated_seconds(spec: dict, data: dict) -> float:
    """A rough estimate of the training time of a resolved job ``spec`` on the data its
    summary ``data`` describes, at most its epochs (early stopping may end it sooner)."""
    training = spec["training"]
    n_train, n_val = data["n_train"], data["n_val"]
    weights, _ = network_size(spec, data["n_features"], len(data.get("classes") or ()) or 1)
    layers = [Layer.from_spec(layer) for layer in spec["layers"]]
    units = sum(layer.width for layer in layers)
    steps = math.ceil(n_train / max(1, min(training["batch_size"], n_train)))
    rows = n_train + n_val / 3  # a validation row is a forward pass only
    epoch = steps * (len(layers) + 1) * STEP_LAYER_S + rows * (
        weights * ROW_WEIGHT_S + units * ROW_UNIT_S
    )
    return training["epochs"] * epoch


def costliest_first(job_ids: list[str], jobs: list[dict]) -> list[str]:
    """The order to queue a sweep's jobs in: the longest first (ties in their order), so
    that the last to start are short and the worker processes end close together."""
    costs = [estimated_seconds(job["spec"], job["data"]) for job in jobs]
    order = sorted(range(len(jobs)), key=lambda i: -costs[i])
    return [job_ids[i] for i in order]


def submit(svc: Services, body: dict, *, scope: Scope) -> dict:
    """Check every combination as POST /jobs checks a job, then store the sweep and its
    jobs at once, then queue the jobs."""
    _check_size(svc, body["vary"])
    X, y, w, source = data_of(svc, body["job"]["data"], ("job",), scope=scope)
    return create(svc, body, X, y, source, w, scope=scope)


def _check_size(svc: Services, vary: dict) -> None:
    n_jobs = math.prod(len(values) for values in vary.values())
    cap = svc.settings["NNJOBS_MAX_SWEEP_JOBS"]
    if n_jobs > cap:
        reason = (
            f"{n_jobs} combinations, over the limit of {cap} jobs a sweep (NNJOBS_MAX_SWEEP_JOBS)"
        )
        raise Refused(413, f"vary: {reason}", {"json": {"vary": [reason]}})


def create(svc: Services, body: dict, X, y, source: dict | None, w=None, *, scope: Scope) -> dict:
    """:func:`submit` on data already read (``body["job"]`` needs no ``data``; ``w``: the
    rows' weights, if any)."""
    vary, job = body["vary"], body["job"]
    _check_size(svc, vary)
    # each names the other's default: a sweep's models are versions of one name
    job_name = job.get("name") or body.get("name")
    sweep_name = body.get("name") or job.get("name")
    jobs = []
    for values, indexes in combinations(vary):
        try:
            resolved, summary = resolve(svc, apply(job, values), X, y, source, w, scope=scope)
        except nn.SpecError as e:
            blamed = _blame(e, indexes)
            if blamed == ("job",):
                raise invalid_spec(e, blamed) from None
            # the varied value is the field; the rest of nn's path says which part of it
            raise Invalid(
                type(e)(".".join(str(p) for p in blamed), e.reason, limit=e.limit)
            ) from None
        jobs.append({"name": job_name, "spec": resolved, "data": summary, "vary": values})

    quotas.check_jobs(svc, scope, len(jobs))
    registry = svc.registry
    sweep_id, job_ids = quotas.jobs_stored(
        svc,
        scope,
        len(jobs),
        lambda: registry.create_sweep(
            name=sweep_name, vary=vary, jobs=jobs, X=X, y=y, w=w, tenant=scope.tenant
        ),
    )
    # read before the messages go, so the answer is the sweep as stored, as POST /jobs's is
    sweep = describe(registry.get_sweep(sweep_id))
    queue(svc, costliest_first(job_ids, jobs), lambda: registry.delete_sweep(sweep_id))
    return sweep


# -- reading --------------------------------------------------------------------------------


def _status(counts: dict, n_jobs: int, cancelled: bool) -> str:
    ended = sum(counts[s] for s in ENDED)
    if ended < n_jobs:
        if cancelled:
            return "cancelled"
        return "queued" if counts["queued"] == n_jobs else "running"
    if cancelled:
        return "cancelled"
    if counts["succeeded"]:
        return "succeeded"
    return "failed" if counts["failed"] == n_jobs else "cancelled"


#: target kind -> the metrics that rank its models (with a validation split, without),
#: and whether higher is better
_RANKING = {
    "regression": (("val_loss", "loss"), False),
    "classification": (("val_accuracy", "accuracy"), True),
}


def _entry(index: int, job: dict, values: dict) -> tuple[tuple, dict] | None:
    metrics = job.get("metrics") or {}
    kind = "regression" if (job.get("data") or {}).get("kind") == "regression" else "classification"
    names, higher = _RANKING[kind]
    for metric in names:
        value = metrics.get(metric)
        if value is not None:
            break
    else:
        return None
    # equal scores: the lower loss of the same split, then the order of the combinations
    loss = metrics.get("val_loss" if metric.startswith("val_") else "loss")
    key = (-value if higher else value, math.inf if loss is None else loss, index)
    entry = {
        "job_id": job["id"],
        "model_id": job["model_id"],
        "vary": values,
        "metric": metric,
        "value": value,
        "metrics": metrics,
    }
    return key, entry


def leaderboard(jobs: list[dict], combinations: list[dict]) -> list[dict]:
    """One entry per succeeded job, best first."""
    ranked = []
    for index, (job, values) in enumerate(zip(jobs, combinations, strict=True)):
        if job["status"] == "succeeded":
            found = _entry(index, job, values)
            if found is not None:
                ranked.append(found)
    ranked.sort(key=lambda pair: pair[0])
    return [{"rank": i + 1, **entry} for i, (_, entry) in enumerate(ranked)]


def describe(raw: dict) -> dict:
    """The Sweep, from the registry's record of it and its jobs."""
    jobs = raw["jobs"]
    for job in jobs:
        # a job removed from the store behind the sweep's back counts as cancelled
        job["status"] = job["status"] or "cancelled"
    counts = dict.fromkeys(JOB_STATUSES, 0)
    for job in jobs:
        counts[job["status"]] += 1
    n_jobs = len(jobs)
    status = _status(counts, n_jobs, raw["cancelled_at"] is not None)
    ended = all(job["status"] in ENDED for job in jobs)
    finished = [job["finished_at"] for job in jobs if job["finished_at"]]
    return {
        "id": raw["id"],
        "name": raw["name"],
        "status": status,
        "created_at": raw["created_at"],
        "finished_at": max(finished) if ended and finished else None,
        "vary": raw["vary"],
        "n_jobs": n_jobs,
        "counts": counts,
        "jobs": [
            {"id": job["id"], "status": job["status"], "vary": values, "model_id": job["model_id"]}
            for job, values in zip(jobs, raw["combinations"], strict=True)
        ],
        "leaderboard": leaderboard(jobs, raw["combinations"]),
    }


def list_page(
    svc: Services, offset: int, limit: int, tenant: str | None = None
) -> tuple[list[dict], int]:
    """One page of sweeps, newest first (the tenant ``tenant``'s; None: every tenant's),
    and how many there are."""
    raws, total = svc.registry.list_sweeps(offset=offset, limit=limit, tenant=tenant)
    return [describe(raw) for raw in raws], total


def get(svc: Services, sweep_id: str, *, scope: Scope) -> dict:
    return describe(tenancy.sweep(svc, scope, sweep_id))


def cancel(svc: Services, sweep_id: str, *, scope: Scope) -> dict:
    """Cancel every job of the sweep that has not ended; those that ended keep their
    results."""
    tenancy.sweep(svc, scope, sweep_id)
    cancelled = svc.registry.cancel_sweep(sweep_id)
    if cancelled is None:
        raise NotFound(f"no sweep {sweep_id!r}")
    sweep = get(svc, sweep_id, scope=scope)
    if not cancelled:
        raise Conflict(
            f"sweep {sweep_id!r} has already {sweep['status']}; only a sweep with a "
            "queued or running job can be cancelled"
        )
    return sweep


def remove(svc: Services, sweep_id: str, *, scope: Scope) -> None:
    """Remove a sweep and its jobs now, cancelling first those that have not ended; their
    models stay."""
    tenancy.sweep(svc, scope, sweep_id)
    registry = svc.registry
    removed = registry.remove_sweep(sweep_id)
    if removed is False:
        registry.cancel_sweep(sweep_id)
        removed = registry.remove_sweep(sweep_id)
    if removed is None:
        raise NotFound(f"no sweep {sweep_id!r}")
