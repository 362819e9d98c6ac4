"""What a job will cost, checked against the limits before any of it is paid.

Four costs, each with its own limit (a field of :class:`~nn.limits.Limits`), all known
from the resolved spec and the data's shape, without building the network:

- parameters (``max_parameters``): the worker's memory while training and the stored
  model's bytes;
- arithmetic (``max_compute``): weights x epochs x rows, a validation row counting a third
  of a training row (its forward pass only, one product a layer where training does three);
- optimizer steps (``max_steps``): epochs x batches an epoch, the Python overhead that
  small batches multiply whatever the network's size;
- a step's activations (``max_batch_activations``): rows of a batch x the values a row
  computes, the worker's memory while training that large batches multiply (prediction
  and validation passes go in chunks of rows, so training steps are the only such cost).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from .errors import LimitError
from .limits import Limits
from .network import Layer

#: a validation row's share of a training row's arithmetic (forward pass only)
VALIDATION_SHARE = 1 / 3


def network_size(spec: Mapping, n_features: int, n_outputs: int) -> tuple[int, int]:
    """``(weights, width)`` of a resolved spec's network, computed without allocating it:
    ``width`` is the values a row computes, the hidden layers' widths (maxout's pieces
    counted) and the outputs, one bias each; parameters are the weights and the biases."""
    layers = [Layer.from_spec(layer) for layer in spec["layers"]]
    fan_in = [n_features] + [layer.units for layer in layers]
    width = [layer.width for layer in layers] + [n_outputs]
    weights = sum(a * b for a, b in zip(fan_in, width, strict=True))
    return weights, sum(width)


def check_size(spec: Mapping, n_features: int, n_outputs: int, limits: Limits) -> tuple[int, int]:
    """Refuse a network of more than ``limits.max_parameters`` parameters, before it is
    built; return its ``(weights, width)`` (see :func:`network_size`).

    Parameters
    ----------
    spec : mapping
        A resolved spec (see :func:`nn.spec.resolve_spec`).
    n_features, n_outputs : int
        Columns of ``X`` and of the encoded targets.
    limits : Limits

    Raises
    ------
    LimitError
        On the field ``layers``, ``limit`` ``max_parameters``.
    """
    weights, width = network_size(spec, n_features, n_outputs)
    parameters = weights + width
    if parameters > limits.max_parameters:
        raise LimitError(
            "layers",
            f"the network has {parameters:,} parameters ({n_features} features, "
            f"{n_outputs} outputs), over the limit of {limits.max_parameters:,}; use fewer "
            "or narrower layers",
            limit="max_parameters",
        )
    return weights, width


def check_work(
    training: Mapping,
    size: tuple[int, int],
    n_train: int,
    n_val: int,
    limits: Limits,
    shuffled_rows: int = 0,
) -> None:
    """Refuse a job over the compute budget, the step limit or the activations a step
    may hold.

    Parameters
    ----------
    training : mapping
        A resolved spec's ``training``.
    size : (int, int)
        The network's weights and the values a row computes (from :func:`check_size`).
    n_train, n_val : int
        Training and validation rows.
    limits : Limits
    shuffled_rows : int
        Rows the permutation importance predicts (evaluated rows x features x repeats),
        each costing what a validation row does.

    Raises
    ------
    LimitError
        ``limit`` ``max_compute`` (field ``training``), ``max_steps`` or
        ``max_batch_activations`` (both ``training.batch_size``).
    """
    weights, width = size
    epochs, batch_size = training["epochs"], training["batch_size"]
    compute = (n_train + VALIDATION_SHARE * n_val) * epochs * weights
    compute += VALIDATION_SHARE * shuffled_rows * weights
    if compute > limits.max_compute:
        raise LimitError(
            "training",
            f"the job needs {compute:.3g} weight updates ((training rows + validation rows "
            f"/ 3) x epochs x weights, plus the importance's shuffles), over the compute "
            f"budget of {limits.max_compute:.3g}; use fewer epochs, rows or units, a smaller "
            "validation_split or fewer importance_repeats",
            limit="max_compute",
        )
    rows = min(batch_size, n_train)
    steps = epochs * math.ceil(n_train / rows)
    if steps > limits.max_steps:
        raise LimitError(
            "training.batch_size",
            f"the job takes {steps:,} optimizer steps ({epochs} epochs of batches of "
            f"{batch_size} from {n_train} training rows), over the limit of "
            f"{limits.max_steps:,}; use a larger batch_size or fewer epochs",
            limit="max_steps",
        )
    activations = rows * width
    if activations > limits.max_batch_activations:
        raise LimitError(
            "training.batch_size",
            f"a training step holds {activations:,} activation values (batches of {rows:,} "
            f"rows x {width:,} values a row: the hidden layers' units, maxout's pieces "
            f"counted, and the outputs), over the limit of {limits.max_batch_activations:,}; "
            "use a smaller batch_size or narrower or fewer layers",
            limit="max_batch_activations",
        )
