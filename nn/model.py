"""A trained model: the network, its data preparation, and prediction in original labels."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from . import serialize, warm
from .data import Scaler, as_features
from .errors import ModelFormatError, SpecError
from .inference import Plan
from .limits import Limits
from .losses import OUTPUTS
from .network import Layer, Network
from .preparation import Preparation, columns_of, is_table
from .spec import resolve_spec

Array = np.ndarray

_KINDS = {
    "binary": "sigmoid",
    "multilabel": "sigmoid",
    "multiclass": "softmax",
    "regression": "linear",
}
# a stored model was validated when it was trained, under whatever limits were then set
_NO_LIMITS = Limits.unbounded()


@dataclass
class Model:
    """A network with everything needed to predict in the caller's terms.

    Attributes
    ----------
    spec : dict
        The resolved job spec it was trained from (every default filled in).
    network : Network
    n_features : int
    kind : str
        ``binary``, ``multilabel``, ``multiclass`` or ``regression``.
    classes : list or None
        Class values (binary, multiclass) or label indices (multilabel), JSON-ready.
    x_scaler, y_scaler : Scaler
        Input standardization, and target standardization for regression.
    squeeze : bool
        Regression on a 1-D target: predictions are 1-D.
    metrics : dict
        Metrics of the kept (best) epoch.
    preparation : Preparation or None
        How raw rows become its inputs, when it was trained on a table.
    feature_names : list of str
        The input columns' names (the preparation's encoded columns, else ``x0``, ``x1``,
        ... unless named).
    evaluation : dict
        The metrics it is judged by, on the validation rows (:mod:`nn.metrics`, computed
        by :func:`nn.evaluate.evaluate`); empty for a model stored before they were kept.
    importance : dict or None
        Permutation importance of each raw feature (:mod:`nn.importance`), or None.
    """

    spec: dict
    network: Network
    n_features: int
    kind: str
    x_scaler: Scaler
    classes: list | None = None
    y_scaler: Scaler | None = None
    squeeze: bool = False
    metrics: dict = field(default_factory=dict)
    preparation: Preparation | None = None
    feature_names: list[str] = field(default_factory=list)
    evaluation: dict = field(default_factory=dict)
    importance: dict | None = None
    # built on the first prediction; it references the network's weights, so it follows
    # training in place, but not a scaler, classes or network replaced afterwards
    _plan: Plan | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        if not self.feature_names:
            self.feature_names = (
                [f"x{j}" for j in range(self.n_features)]
                if self.preparation is None
                else self.preparation.encoded
            )

    def warm_description(self) -> dict:
        """What a warm start from this model compares with its job (:mod:`nn.warm`)."""
        return warm.describe(
            self.spec, self.feature_names, self.kind, self.classes, self.preparation
        )

    @property
    def output(self) -> str:
        return self.spec["output"]

    @property
    def threshold(self) -> float:
        return self.spec["training"]["threshold"]

    @property
    def layers(self) -> list[dict]:
        """The hidden layers as resolved (units, activation, its parameters, dropout)."""
        return self.spec["layers"]

    def encode(self, table, field: str = "X") -> tuple[Array, list[dict]]:
        """The inputs (n, n_features) of a raw table (columns by name or a list of row
        mappings, columns in any order, others ignored) and its warnings (see
        :meth:`nn.preparation.Preparation.transform`)."""
        if self.preparation is None:
            raise SpecError(
                field, "the model was trained on rows of numbers; send rows as arrays of numbers"
            )
        return self.preparation.transform(columns_of(table, field), field)

    def logits(self, X, field: str = "X") -> Array:
        """Output-layer pre-activations for ``X`` (n, n_features) -> (n, n_outputs)."""
        x = as_features(X, field, self.n_features)
        return self.network.logits(self.x_scaler.transform(x, self.network.dtype, field))

    def predict_proba(self, X, field: str = "X") -> Array:
        """Probabilities (n, n_outputs) for sigmoid and softmax models, for inputs or a
        raw table."""
        if self.output == "linear":
            raise TypeError("a linear (regression) model has no probabilities")
        if is_table(X):
            X = self.encode(X, field)[0]
        return OUTPUTS[self.output].activation(self.logits(X, field))

    def predict(self, X, field: str = "X") -> dict:
        """Predict for ``X`` (n, n_features), or a raw table, as JSON-ready Python values.

        Returns
        -------
        dict
            sigmoid, binary: ``probabilities`` of the second class per row and
            ``predictions`` (``p >= threshold``); sigmoid, multi-label: a probability and a
            0/1 prediction per label; softmax: a distribution per row and the argmax class;
            linear: ``predictions`` in the targets' original units. ``output`` always;
            ``classes`` for classification; ``warnings`` for a table that had some.
        """
        plan = self._plan or self._planned()
        # rows the plan accepts (arrays, never tables) would pass every check of the
        # general path: skipped
        if plan.accepts(X):
            z = plan.logits(X)
        elif is_table(X):
            X, warnings = self.encode(X, field)
            result = self.predict(X, field)
            if warnings:
                result["warnings"] = warnings
            return result
        else:
            z = self.logits(X, field)
        if self.output == "linear":
            values = self.y_scaler.inverse(z)
            return {
                "output": "linear",
                "predictions": (values[:, 0] if self.squeeze else values).tolist(),
            }
        p = OUTPUTS[self.output].activation(z)
        if self.kind == "binary":
            prob = p[:, 0]
            preds = plan.labels[(prob >= self.threshold).astype(np.intp)]
            return self._classified(prob, preds)
        if self.kind == "multilabel":
            return self._classified(p, (p >= self.threshold).astype(np.int64))
        return self._classified(p, plan.labels[p.argmax(axis=1)])

    def _planned(self) -> Plan:
        self._plan = Plan(self)
        return self._plan

    def _classified(self, probabilities: Array, predictions: Array) -> dict:
        return {
            "output": self.output,
            "classes": list(self.classes),
            # a float32 value's Python float is its exact double already: no float64 copy
            "probabilities": probabilities.tolist(),
            "predictions": predictions.tolist(),
        }

    def to_bytes(self) -> bytes:
        """Serialize without pickle (the format is :mod:`nn.serialize`'s); :func:`load`
        reads it back."""
        arrays = {
            "params": self.network.params,
            "x_mean": self.x_scaler.mean,
            "x_scale": self.x_scaler.scale,
        }
        if self.y_scaler is not None:
            arrays["y_mean"], arrays["y_scale"] = self.y_scaler.mean, self.y_scaler.scale
        meta = {
            "spec": self.spec,
            "n_features": self.n_features,
            "n_outputs": self.network.n_outputs,
            "kind": self.kind,
            "classes": self.classes,
            "squeeze": self.squeeze,
            "metrics": self.metrics,
            "feature_names": self.feature_names,
            "evaluation": self.evaluation,
            "importance": self.importance,
        }
        if self.preparation is not None:
            meta["preparation"] = self.preparation.as_dict()
        return serialize.pack(meta, arrays)

    def describe(self) -> dict:
        """JSON-ready summary: output, classes, features, layers, parameters, metrics and
        the preparation (None without one)."""
        return {
            "n_features": self.n_features,
            "output": self.output,
            "kind": self.kind,
            "classes": self.classes,
            "layers": self.layers,
            "n_params": self.network.n_params,
            "metrics": self.metrics,
            "preparation": None if self.preparation is None else self.preparation.as_dict(),
            "feature_names": self.feature_names,
            "evaluation": self.evaluation,
            "importance": self.importance,
        }


def build_network(spec: Mapping, n_features: int, n_outputs: int, dtype=np.float32) -> Network:
    """The (uninitialized) network a resolved spec describes."""
    layers = [Layer.from_spec(layer) for layer in spec["layers"]]
    return Network(n_features, layers, n_outputs, OUTPUTS[spec["output"]], dtype)


def _n_params(spec: Mapping, n_features: int, n_outputs: int) -> int:
    """The parameters of the network a resolved spec describes, counted, not allocated."""
    layers = [Layer.from_spec(layer) for layer in spec["layers"]]
    fan_in = [n_features] + [layer.units for layer in layers]
    width = [layer.width for layer in layers] + [n_outputs]
    return sum(a * b + b for a, b in zip(fan_in, width, strict=True))


def load(blob: bytes) -> Model:
    """Rebuild a model from :meth:`Model.to_bytes` output, or raise ModelFormatError."""
    try:
        return _rebuild(*serialize.unpack(blob))
    except ModelFormatError:
        raise
    except (ValueError, KeyError, TypeError, IndexError, SpecError, RecursionError) as e:
        # RecursionError: a header nested too deeply for the JSON parser
        raise ModelFormatError(f"model blob is malformed: {e}") from None


def _rebuild(meta: dict, arrays: dict[str, np.ndarray]) -> Model:
    kind = meta["kind"]
    output = meta["spec"]["output"]
    if _KINDS.get(kind) != output:
        raise ModelFormatError(f"model kind {kind!r} does not match output {output!r}")
    spec = resolve_spec(meta["spec"], _NO_LIMITS)
    spec["output"] = output
    n_features, n_outputs = int(meta["n_features"]), int(meta["n_outputs"])
    params = arrays["params"]
    # counted before the network is built: a header that claims a vast architecture must
    # not allocate it, whatever the parameters it carries
    expected = _n_params(spec, n_features, n_outputs)
    if n_features < 1 or n_outputs < 1 or params.size != expected:
        raise ModelFormatError(
            f"parameters have shape {params.shape}, the architecture needs {expected} values"
        )
    net = build_network(spec, n_features, n_outputs)
    if params.dtype != net.dtype or params.shape != net.params.shape:
        raise ModelFormatError(
            f"parameters have shape {params.shape}, the architecture needs {net.params.shape}"
        )
    net.params[...] = params

    def scaler(prefix: str, size: int) -> Scaler:
        mean, scale = arrays[f"{prefix}_mean"], arrays[f"{prefix}_scale"]
        if mean.shape != (size,) or scale.shape != (size,) or not (scale > 0).all():
            raise ModelFormatError(f"{prefix} scaling does not fit the model")
        return Scaler(mean, scale)

    classes = meta["classes"]
    if kind != "regression" and (
        not isinstance(classes, list) or len(classes) != (2 if kind == "binary" else n_outputs)
    ):
        raise ModelFormatError("classes do not fit the model's outputs")
    preparation = None
    if meta.get("preparation") is not None:
        preparation = Preparation.from_dict(meta["preparation"])
        if preparation.n_encoded != n_features:
            raise ModelFormatError("the preparation does not fit the model's inputs")
    return Model(
        spec,
        net,
        n_features,
        kind,
        scaler("x", n_features),
        classes,
        scaler("y", n_outputs) if kind == "regression" else None,
        bool(meta["squeeze"]),
        dict(meta.get("metrics") or {}),
        preparation,
        _names(meta.get("feature_names"), n_features),
        dict(meta.get("evaluation") or {}),
        meta.get("importance"),
    )


def _names(names, n_features: int) -> list[str]:
    if names is None:  # stored before models kept them: the Model's default
        return []
    if not isinstance(names, list) or len(names) != n_features:
        raise ModelFormatError("feature names do not fit the model's inputs")
    return [str(n) for n in names]
