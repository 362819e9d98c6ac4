"""Warm starts: training that continues from a stored model's weights.

The new run keeps the parent's input standardization and target encoding (its weights
mean nothing under another), so the parent and the new job must agree on everything that
shapes the network and the meaning of its inputs and outputs. :func:`differences` is the
one place that comparison is made; a warm start that differs is refused naming each
difference.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from .errors import SpecError

FIELD = "init.model"


def _columns(preparation) -> dict | None:
    """What each raw column becomes, by name: ``numeric`` (with its missing indicator) or
    its one-hot levels; None without a preparation. Medians are left out: the rows they
    are read from may differ without changing what an input column means."""
    if preparation is None:
        return None
    out = {}
    for f in preparation.features:
        if f.kind == "numeric":
            out[f.name] = "numeric with a missing indicator" if f.indicator else "numeric"
        else:
            out[f.name] = [e.split("=", 1)[1] for e in f.encoded]
    return out


def _layers(spec: Mapping) -> list:
    # dropout changes training, not the weights' shapes or meaning
    return [{k: v for k, v in layer.items() if k != "dropout"} for layer in spec["layers"]]


#: what must be equal, by name: (what the refusal calls it, how it is read from a model or
#: from the new job's description). A new aspect of a model is one more line here.
ASPECTS: tuple[tuple[str, Callable[[Mapping], object]], ...] = (
    ("layers", lambda d: _layers(d["spec"])),
    ("output", lambda d: d["spec"]["output"]),
    ("features", lambda d: list(d["feature_names"])),
    ("kind", lambda d: d["kind"]),
    ("classes", lambda d: d["classes"]),
    ("standardize", lambda d: d["spec"]["training"]["standardize"]),
    ("preparation", lambda d: _columns(d["preparation"])),
)


def describe(spec: Mapping, feature_names, kind: str, classes, preparation=None) -> dict:
    """What :data:`ASPECTS` read, for a model or a job about to train (``preparation``:
    its :class:`~nn.preparation.Preparation`, or None for rows of numbers)."""
    return {
        "spec": spec,
        "feature_names": feature_names,
        "kind": kind,
        "classes": classes,
        "preparation": preparation,
    }


def differences(parent: Mapping, child: Mapping) -> list[str]:
    """Each aspect on which ``child`` differs from ``parent`` (both from :func:`describe`),
    as ``"<name>: <parent's> in the model, <child's> in the job"``."""
    out = []
    for name, read in ASPECTS:
        mine, theirs = read(parent), read(child)
        if isinstance(mine, dict) and isinstance(theirs, dict):
            # by name, only the columns that differ: a wide table's would not fit
            mine, theirs = _differing(mine, theirs)
        if mine != theirs:
            out.append(f"{name}: {_short(mine)} in the model, {_short(theirs)} in the job")
    return out


def check(parent: Mapping, child: Mapping) -> None:
    """Refuse a warm start whose job differs from its parent model.

    Raises
    ------
    SpecError
        On ``init.model``, naming every aspect that differs.
    """
    found = differences(parent, child)
    if found:
        raise SpecError(
            FIELD,
            "the model cannot be trained further by this job, which differs in " + "; ".join(found),
        )


def _differing(mine: dict, theirs: dict) -> tuple[dict, dict]:
    names = [n for n in {**mine, **theirs} if mine.get(n) != theirs.get(n)]
    return (
        {n: mine.get(n, "absent") for n in names},
        {n: theirs.get(n, "absent") for n in names},
    )


def _short(value, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
