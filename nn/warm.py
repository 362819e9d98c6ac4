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


def _layers(spec: Mapping) -> list:
    # dropout changes training, not the weights' shapes or meaning
    return [{k: v for k, v in layer.items() if k != "dropout"} for layer in spec["layers"]]


#: what must be equal, by name: (what the refusal calls it, how it is read from a model or
#: from the new job's description). A new aspect of a model (its data preparation, say)
#: is one more line here.
ASPECTS: tuple[tuple[str, Callable[[Mapping], object]], ...] = (
    ("layers", lambda d: _layers(d["spec"])),
    ("output", lambda d: d["spec"]["output"]),
    ("features", lambda d: list(d["feature_names"])),
    ("kind", lambda d: d["kind"]),
    ("classes", lambda d: d["classes"]),
    ("standardize", lambda d: d["spec"]["training"]["standardize"]),
)


def describe(spec: Mapping, feature_names, kind: str, classes) -> dict:
    """What :data:`ASPECTS` read, for a model or a job about to train."""
    return {"spec": spec, "feature_names": feature_names, "kind": kind, "classes": classes}


def differences(parent: Mapping, child: Mapping) -> list[str]:
    """Each aspect on which ``child`` differs from ``parent`` (both from :func:`describe`),
    as ``"<name>: <parent's> in the model, <child's> in the job"``."""
    out = []
    for name, read in ASPECTS:
        mine, theirs = read(parent), read(child)
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


def _short(value, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
