"""Output activations, each paired with the loss that makes the output gradient ``p - y``.

sigmoid + binary cross-entropy (binary and multi-label), softmax + categorical
cross-entropy (multi-class), linear + squared error (regression). Losses are computed
from the logits ``z`` (log-sum-exp form), never from probabilities, so logits of any size
give finite values.

Shapes: ``z`` and ``y`` are ``(n_samples, n_outputs)``; softmax targets are one-hot rows.
Each loss takes optional row weights ``w`` of shape ``(n_samples,)`` (class and sample
weights): the loss is then ``sum_i w_i l_i`` and the gradient ``w_i (p_i - y_i)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from .activations import sigmoid
from .errors import SpecError

Array = np.ndarray


def softmax(z: Array) -> Array:
    """Row-wise softmax of ``z`` (n, k), shifted by the row maximum so exp cannot overflow;
    (n, k), C-contiguous."""
    if len(z) == 1:
        # one row, as a served prediction has: the largest of a few Python floats costs
        # less than a NumPy reduction, and z's values as floats are exact (subtracting one
        # from float32 values stays float32); the values of _softmax_columns bit for bit,
        # whose reductions run over the same k contiguous values
        e = z - max(z[0].tolist())
        np.exp(e, out=e)
        e /= e.sum()
        return e
    return _softmax_columns(z)


def _softmax_columns(z: Array) -> Array:
    # worked on the transpose (k, n): NumPy reduces the short rows of a narrow array one
    # row at a time, and the columns of its transpose in whole-row passes (for 10,000 rows
    # of 3 classes, 0.05 ms against 0.57)
    e = z.T.copy()
    e -= e.max(axis=0)
    np.exp(e, out=e)
    e /= e.sum(axis=0)
    return np.ascontiguousarray(e.T)


def binary_cross_entropy(z: Array, y: Array, w: Array | None = None) -> tuple[float, Array]:
    """Sum over rows and labels of the BCE of ``sigmoid(z)`` against 0/1 ``y``, and ``p - y``.

    With ``s = softplus(z) = log(1 + e^z)`` (``logaddexp``, finite for any z) the loss is
    ``s - z y`` and ``p = e^(z - s)``: half the NumPy calls of the two-branch form, which
    matters on the small batches where per-call cost dominates.
    """
    s = np.logaddexp(z.dtype.type(0), z)
    per = s - z * y
    loss = per.sum() if w is None else np.vdot(w, per.sum(axis=1))
    p = np.subtract(z, s, out=s)
    np.exp(p, out=p)
    p -= y
    if w is not None:
        p *= w[:, None]
    return float(loss), p


def categorical_cross_entropy(z: Array, y: Array, w: Array | None = None) -> tuple[float, Array]:
    """Sum over rows of the CE of ``softmax(z)`` against one-hot ``y``, and ``p - y``.

    Uses ``-log p_c = logsumexp(z) - z_c`` with the row maximum subtracted first.
    """
    s = z - z.max(axis=1, keepdims=True)
    e = np.exp(s)
    total = e.sum(axis=1, keepdims=True)
    if w is None:
        loss = np.log(total).sum() - np.vdot(s, y)
    else:
        loss = np.vdot(w, np.log(total[:, 0]) - (s * y).sum(axis=1))
    e /= total
    e -= y
    if w is not None:
        e *= w[:, None]
    return float(loss), e


def squared_error(z: Array, y: Array, w: Array | None = None) -> tuple[float, Array]:
    """Half the summed squared error of ``z`` against ``y``, and ``z - y``."""
    d = z - y
    if w is None:
        return 0.5 * float(np.vdot(d, d)), d
    loss = 0.5 * float(np.vdot(w, (d * d).sum(axis=1)))
    d *= w[:, None]
    return loss, d


@dataclass(frozen=True)
class Output:
    """An output activation with its matched loss.

    Attributes
    ----------
    name : str
        The activation's name, as a job spec's ``output`` says it.
    loss_name : str
    activation : callable ``(z) -> p``
    loss : callable ``(z, y, w=None) -> (loss summed over rows, p - y)``
        ``w`` (n_samples,) weights each row's loss and gradient.
    init : str
        Initializer of the output layer's weights.
    """

    name: str
    loss_name: str
    activation: Callable[[Array], Array]
    loss: Callable[..., tuple[float, Array]]
    init: str = "glorot"


OUTPUTS: Mapping[str, Output] = MappingProxyType(
    {
        o.name: o
        for o in [
            Output("sigmoid", "binary_crossentropy", sigmoid, binary_cross_entropy),
            Output("softmax", "categorical_crossentropy", softmax, categorical_cross_entropy),
            Output("linear", "mean_squared_error", lambda z: z, squared_error),
        ]
    }
)


def get_output(name) -> Output:
    """Look up an output activation, or raise SpecError listing the choices."""
    if isinstance(name, str) and name in OUTPUTS:
        return OUTPUTS[name]
    raise SpecError("output", f"unknown output {name!r}; choose one of: {', '.join(OUTPUTS)}")
