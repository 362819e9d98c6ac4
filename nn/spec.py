"""Job specs: defaults, validation and the resolved form a model is trained from.

:func:`resolve_spec` takes the ``layers``, ``activation``, ``output`` and ``training``
keys of a job (every key optional) and returns the spec with every default filled in,
or raises :class:`~nn.errors.SpecError` naming the field and the reason.
"""

from __future__ import annotations

from collections.abc import Mapping

from . import activations as act
from . import stopping
from .errors import SpecError
from .initializers import INITIALIZERS
from .limits import DEFAULT_LIMITS, Limits
from .losses import get_output
from .optimizers import DEFAULT_OPTIMIZER, OPTIMIZERS, get_optimizer
from .params import Param
from .schedules import DEFAULT_SCHEDULE, resolve_schedule
from .weights import resolve_class_weight

#: Keys of a job that the library accepts and leaves to the service (``init`` names the
#: model a warm start continues from: the caller loads it, see :func:`nn.fit`).
JOB_KEYS = ("name", "data", "init")
SPEC_KEYS = ("layers", "activation", "output", "training")
DEFAULT_LAYERS = ({"units": 32}, {"units": 32})
DEFAULT_ACTIVATION = "relu"
#: early stopping's settings left out take their defaults; patience and start_from_epoch
#: scale with the epoch budget (nn.stopping)
DEFAULT_EARLY_STOPPING: dict = {}
LAYER_KEYS = ("units", "activation", "dropout")
# chosen by measurement: bench/defaults.py, recorded in bench/README.md
DEFAULT_EPOCHS = 500
DEFAULT_LEARNING_RATE = 0.01
AUTO = "auto"
DEFAULT_IMPORTANCE_REPEATS = 5
MAX_IMPORTANCE_REPEATS = 100


#: a training seed: what NumPy's legacy seeding takes
SEED = Param(0, 0, 2**32 - 1, kind=int)


def _training_params(limits: Limits) -> dict[str, Param]:
    return {
        "epochs": Param(DEFAULT_EPOCHS, 1, limits.max_epochs, kind=int, limit="max_epochs"),
        "batch_size": Param(32, 1, limits.max_batch_size, kind=int, limit="max_batch_size"),
        "learning_rate": Param(DEFAULT_LEARNING_RATE, 0.0, 10.0, low_open=True),
        "l2": Param(0.0, 0.0, 10.0),
        "validation_split": Param(0.2, 0.0, 1.0, high_open=True),
        "seed": SEED,
        "standardize": Param(True, kind=bool),
        "threshold": Param(0.5, 0.0, 1.0, low_open=True, high_open=True),
        # per-layer gradient norms, dead and saturated units (nn.diagnostics)
        "diagnostics": Param(True, kind=bool),
        # shuffles per feature of the permutation importance (nn.importance); 0: none
        "importance_repeats": Param(
            DEFAULT_IMPORTANCE_REPEATS, 0, MAX_IMPORTANCE_REPEATS, kind=int
        ),
    }


#: "auto" picks the initializer each hidden layer's activation asks for
INIT_CHOICES = ("auto", *INITIALIZERS)

EARLY_STOPPING_PARAMS = {
    "patience": Param(10, 1, 100_000, kind=int),
    # relative: an epoch improves when its loss is below best x (1 - min_delta)
    "min_delta": Param(0.0, 0.0, 1.0, high_open=True),
    "start_from_epoch": Param(0, 0, 100_000, kind=int),
}
CLIP_NORM = Param(1.0, 0.0, None, low_open=True)


def _require_mapping(value, field: str) -> Mapping:
    if not isinstance(value, Mapping):
        raise SpecError(field, "must be an object")
    return value


def _unknown(key, field: str, valid) -> SpecError:
    return SpecError(
        f"{field}.{key}" if field else str(key), f"unknown field; valid fields: {', '.join(valid)}"
    )


def resolve_spec(spec: Mapping | None = None, limits: Limits = DEFAULT_LIMITS) -> dict:
    """Fill in every default of a job spec and check every rule.

    Parameters
    ----------
    spec : mapping or None
        A job spec: ``layers``, ``activation``, ``output`` and ``training``, all optional.
        ``name`` and ``data`` (job-level keys) are accepted and ignored.
    limits : Limits

    Returns
    -------
    dict
        ``{"layers": [...], "activation": str, "output": str | None, "training": {...}}``;
        ``output`` stays None when the spec leaves it to be inferred from the targets.
    """
    spec = _require_mapping({} if spec is None else spec, "")
    for key in spec:
        if key not in SPEC_KEYS and key not in JOB_KEYS:
            raise _unknown(key, "", SPEC_KEYS)

    default_act = spec.get("activation", DEFAULT_ACTIVATION)
    try:
        default_act = act.get(default_act).name
    except SpecError as e:
        raise SpecError("activation", e.reason) from None

    layers = spec.get("layers", DEFAULT_LAYERS)
    if not isinstance(layers, (list, tuple)):
        raise SpecError("layers", "must be a list of hidden layers (it may be empty)")
    if len(layers) > limits.max_layers:
        raise SpecError(
            "layers",
            f"at most {limits.max_layers} hidden layers (got {len(layers)})",
            limit="max_layers",
        )
    resolved_layers = [
        _resolve_layer(layer, f"layers.{i}", default_act, limits) for i, layer in enumerate(layers)
    ]

    output = spec.get("output")
    if output is not None:
        output = get_output(output).name

    training = _resolve_training(spec.get("training", {}), limits)
    return {
        "layers": resolved_layers,
        "activation": default_act,
        "output": output,
        "training": training,
    }


def _resolve_layer(layer, field: str, default_act: str, limits: Limits) -> dict:
    layer = _require_mapping(layer, field)
    name = layer.get("activation", default_act)
    try:
        activation = act.get(name)
    except SpecError as e:
        raise SpecError(f"{field}.activation", e.reason) from None
    for key in layer:
        if key in LAYER_KEYS or key in activation.params:
            continue
        takes = ", ".join(activation.params) or "no parameters"
        if any(key in a.params for a in act.ACTIVATIONS.values()):
            raise SpecError(
                f"{field}.{key}",
                f"not a parameter of {activation.name}; {activation.name} takes: {takes}",
            )
        raise _unknown(key, field, [*LAYER_KEYS, *activation.params])
    units = Param(0, 1, limits.max_units, kind=int, limit="max_units")
    if "units" not in layer:
        raise SpecError(
            f"{field}.units",
            "missing: every hidden layer needs a number of units",
            limit=units.limit,
        )
    resolved = {
        "units": units.check(layer["units"], f"{field}.units"),
        "activation": activation.name,
    }
    for key, param in activation.params.items():
        resolved[key] = param.check(layer.get(key, param.default), f"{field}.{key}")
    resolved["dropout"] = Param(0.0, 0.0, 1.0, high_open=True).check(
        layer.get("dropout", 0.0), f"{field}.dropout"
    )
    return resolved


def _resolve_training(training, limits: Limits) -> dict:
    training = _require_mapping(training, "training")
    fields = _training_params(limits)
    optimizer = get_optimizer(training.get("optimizer", DEFAULT_OPTIMIZER))
    valid = [
        *fields,
        "optimizer",
        "early_stopping",
        "clip_norm",
        "init",
        "class_weight",
        "schedule",
        *optimizer.params,
    ]
    for key in training:
        if key in valid:
            continue
        if any(key in o.params for o in OPTIMIZERS.values()):
            takes = ", ".join(optimizer.params) or "no parameters"
            raise SpecError(
                f"training.{key}", f"not a setting of optimizer {optimizer.name}; it takes: {takes}"
            )
        raise _unknown(key, "training", valid)

    # "auto": a learning-rate range test chooses the rate (nn.lr_finder)
    auto_rate = training.get("learning_rate") == AUTO
    out = {
        k: AUTO
        if k == "learning_rate" and auto_rate
        else p.check(training.get(k, p.default), f"training.{k}")
        for k, p in fields.items()
    }
    out["optimizer"] = optimizer.name
    for key, param in optimizer.params.items():
        out[key] = param.check(training.get(key, param.default), f"training.{key}")
    init = training.get("init", "auto")
    if init not in INIT_CHOICES:
        raise SpecError(
            "training.init",
            f"unknown initializer {init!r}; choose one of: {', '.join(INIT_CHOICES)}",
        )
    out["init"] = init
    clip = training.get("clip_norm")
    out["clip_norm"] = None if clip is None else CLIP_NORM.check(clip, "training.clip_norm")
    out["early_stopping"] = _resolve_early_stopping(
        training.get("early_stopping", DEFAULT_EARLY_STOPPING), out["epochs"]
    )
    out["class_weight"] = resolve_class_weight(training.get("class_weight"), limits.max_classes)
    out["schedule"] = resolve_schedule(training.get("schedule", DEFAULT_SCHEDULE), out["epochs"])
    return out


def _resolve_early_stopping(value, epochs: int):
    if value is False:
        return False
    if value is True:
        value = DEFAULT_EARLY_STOPPING
    if not isinstance(value, Mapping):
        raise SpecError(
            "training.early_stopping",
            'must be false, true or {"patience": ..., "min_delta": ..., "start_from_epoch": ...}',
        )
    for key in value:
        if key not in EARLY_STOPPING_PARAMS:
            raise _unknown(key, "training.early_stopping", EARLY_STOPPING_PARAMS)
    defaults = {
        "patience": stopping.default_patience(epochs),
        "min_delta": EARLY_STOPPING_PARAMS["min_delta"].default,
        "start_from_epoch": stopping.default_start(epochs),
    }
    return {
        k: p.check(value.get(k, defaults[k]), f"training.early_stopping.{k}")
        for k, p in EARLY_STOPPING_PARAMS.items()
    }
