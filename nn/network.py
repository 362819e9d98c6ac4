"""A fully-connected network whose weights and biases live in one flat vector.

Keeping every parameter in one contiguous array makes an optimizer step, L2 and gradient
clipping a few NumPy calls over one vector, whatever the depth; the per-layer weight
matrices are views into it. Weights come first (layer by layer), then biases, so the L2
penalty applies to the prefix ``params[:n_weights]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from .activations import Activation
from .activations import get as get_activation
from .initializers import INITIALIZERS
from .losses import Output

Array = np.ndarray
#: bytes of a prediction chunk's widest activations: each layer's temporaries then stay in
#: a core's cache and are reused from one chunk to the next; 10,000 rows through 64-unit
#: layers took half the time in chunks of 2,048 rows (512 KiB) as in one of 8,192, and
#: 512-unit layers 15% less in chunks of 256 rows as in whole (measured on 2 EPYC cores)
CHUNK_BYTES = 2**19


@dataclass(frozen=True)
class Layer:
    """A hidden layer: ``units`` outputs through ``activation`` (with its ``params``)."""

    units: int
    activation: Activation
    params: Mapping = field(default_factory=dict)
    dropout: float = 0.0

    @property
    def width(self) -> int:
        """Columns of the layer's weight matrix (units x pieces for maxout)."""
        return self.activation.width(self.units, self.params)

    @classmethod
    def from_spec(cls, layer: Mapping) -> Layer:
        """Build from a resolved layer spec (see :func:`nn.spec.resolve_spec`)."""
        activation = get_activation(layer["activation"])
        params = {k: layer[k] for k in activation.params}
        return cls(int(layer["units"]), activation, params, float(layer.get("dropout", 0.0)))


class Network:
    """Weights, forward pass and backpropagation.

    Parameters
    ----------
    n_inputs : int
    layers : list of Layer
        The hidden layers, input side first.
    n_outputs : int
    output : Output
        The output activation and its loss.
    dtype : numpy dtype
        float32 for training and prediction; float64 for gradient checks.
    """

    def __init__(
        self, n_inputs: int, layers: list[Layer], n_outputs: int, output: Output, dtype=np.float32
    ):
        self.n_inputs, self.layers, self.n_outputs, self.output = (
            n_inputs,
            layers,
            n_outputs,
            output,
        )
        self.dtype = np.dtype(dtype)
        fan_in = [n_inputs] + [layer.units for layer in layers]
        width = [layer.width for layer in layers] + [n_outputs]
        self.shapes = list(zip(fan_in, width, strict=True))
        self.n_weights = sum(a * b for a, b in self.shapes)
        self.params = np.zeros(self.n_weights + sum(width), self.dtype)
        self.grads = np.zeros_like(self.params)
        self.W, self.b = self._views(self.params)
        self.gW, self.gb = self._views(self.grads)
        self._cache: list = []
        #: the arrays a training step is computed in, sized for the largest batch seen
        #: (:meth:`_scratch`), and that batch's rows
        self._scratch_set: list[tuple[Array, Array | None, Array]] = []
        self._ones: Array = np.ones(0, self.dtype)
        self._scratch_rows = 0
        #: with :meth:`pair_products`, a thread that computes a layer's weight gradient
        #: while this one computes the gradient of the layer below
        self._pair = None
        self._pair_min = 0

    def _views(self, flat: Array) -> tuple[list[Array], list[Array]]:
        weights, biases, w_at, b_at = [], [], 0, self.n_weights
        for rows, cols in self.shapes:
            weights.append(flat[w_at : w_at + rows * cols].reshape(rows, cols))
            biases.append(flat[b_at : b_at + cols])
            w_at, b_at = w_at + rows * cols, b_at + cols
        return weights, biases

    @property
    def n_params(self) -> int:
        return self.params.size

    def initialize(self, rng: np.random.Generator, init: str = "auto") -> None:
        """Draw weights, zero biases.

        ``init="auto"`` uses the initializer each hidden layer's activation asks for (He
        for the ReLU family, Glorot for tanh, sigmoid and linear, LeCun for SELU); a name
        from :data:`nn.initializers.INITIALIZERS` uses that one for every hidden layer.
        The output layer is always Glorot.
        """
        hidden = [layer.activation.init if init == "auto" else init for layer in self.layers]
        inits = [*hidden, self.output.init]
        for W, b, init, (rows, cols) in zip(self.W, self.b, inits, self.shapes, strict=True):
            W[...] = INITIALIZERS[init](rng, rows, cols)
            b[...] = 0

    def forward(self, X: Array, dropout_rng: np.random.Generator | None = None) -> Array:
        """Training forward pass over ``X`` (n, n_inputs); returns logits (n, n_outputs).

        Keeps what :meth:`backward` needs. Dropout (inverted, so nothing changes at
        prediction) is applied only when ``dropout_rng`` is given. The hidden layers'
        products and activations are written into arrays kept between batches, sized for
        the largest batch seen (:meth:`release_scratch` frees them); the logits are a new
        array.
        """
        cache = []
        a = X
        scratch, _ = self._scratch(len(X))
        for layer, W, b, (z_buf, gate, _) in zip(
            self.layers, self.W, self.b, scratch, strict=False
        ):
            z = np.matmul(a, W, out=z_buf)
            z += b
            if gate is not None:
                # ReLU: z * (z > 0) with the 0/1 gate kept for the backward pass; the
                # output overwrites z, which the gate makes unnecessary
                np.greater(z, 0, out=gate)
                h = np.multiply(z, gate, out=z)
            else:
                h = layer.activation.forward(z, **layer.params)
            mask = None
            if layer.dropout and dropout_rng is not None:
                keep = 1.0 - layer.dropout
                mask = dropout_rng.random(h.shape, dtype=self.dtype) < keep
                mask = mask.astype(self.dtype)
                mask *= self.dtype.type(1.0 / keep)
                a = h * mask
            else:
                a = h
            cache.append((a, z, h, mask))
        self._cache = [X, *cache]
        z = a @ self.W[-1]
        z += self.b[-1]
        return z

    def backward(self, delta: Array) -> None:
        """Backpropagate ``delta`` = dL/d(logits), shape (n, n_outputs), into ``grads``."""
        inputs, hidden = self._cache[0], self._cache[1:]
        scratch, ones = self._scratch(len(delta))
        pair, n = self._pair, len(delta)
        for i in range(len(self.layers), -1, -1):
            a_prev = inputs if i == 0 else hidden[i - 1][0]
            pending = None
            if pair is not None and i > 0 and n * self.W[i].size >= self._pair_min:
                # the weight gradient and the gradient of the layer below read the same
                # delta and write different arrays: two products at once, each the same
                # BLAS call as alone, so the values are the same bit for bit
                pending = pair.submit(np.matmul, a_prev.T, delta, out=self.gW[i])
            else:
                np.matmul(a_prev.T, delta, out=self.gW[i])
            # the column sums as a product with a row of ones: one BLAS call, several
            # times faster than delta.sum(axis=0) on a (256, 256) float32 batch
            np.matmul(ones, delta, out=self.gb[i][None, :])
            if i == 0:
                break
            _, gate, grad_buf = scratch[i - 1]
            grad = np.matmul(delta, self.W[i].T, out=grad_buf)
            if pending is not None:
                # before anything below may write to what the other thread reads
                pending.result()
            _, z, h, mask = hidden[i - 1]
            if mask is not None:
                grad *= mask
            if gate is not None:
                grad *= gate
                delta = grad
            else:
                layer = self.layers[i - 1]
                delta = layer.activation.backward(grad, z, h, **layer.params)
        self._cache = []

    def _scratch(self, n: int) -> tuple[list[tuple[Array, Array | None, Array]], Array]:
        """The arrays a batch of ``n`` rows is computed in.

        Returns
        -------
        layers : list of tuple
            Per hidden layer, the pre-activation (n, width), the ReLU gate (n, width) or
            None, and the gradient of the layer's output (n, units).
        ones : ndarray, shape (1, n)
            A row of ones (the bias gradients' column sums).

        One set of arrays is kept, sized for the largest batch seen (a larger batch
        replaces it); a smaller one, such as an epoch's shorter last batch, gets views of
        their first ``n`` rows. Those are C-contiguous with the strides of arrays of its
        own, so its products are the same BLAS calls on the same layout: the same values
        bit for bit, without a second set alive beside the first.
        """
        if n > self._scratch_rows:
            self.release_scratch()  # before the larger set is made, not beside it
            dt = self.dtype
            self._scratch_set = [
                (
                    np.empty((n, layer.width), dt),
                    np.empty((n, layer.width), dt) if layer.activation.gate else None,
                    np.empty((n, layer.units), dt),
                )
                for layer in self.layers
            ]
            self._ones, self._scratch_rows = np.ones(n, dt), n
        ones = self._ones[:n].reshape(1, n)
        if n == self._scratch_rows:
            return self._scratch_set, ones
        rows = [
            (z[:n], None if gate is None else gate[:n], grad[:n])
            for z, gate, grad in self._scratch_set
        ]
        return rows, ones

    @contextmanager
    def pair_products(self, min_products: int):
        """Within the ``with`` block, backpropagation computes a layer's weight gradient
        on a second thread while this one computes the gradient of the layer below, for
        layers whose products have at least ``min_products`` multiply-adds.

        Both run the same BLAS calls as one thread would, so gradients are unchanged bit
        for bit; it pays only with a core to spare (training runs such products on one
        BLAS thread, :data:`nn.threads.SINGLE_THREAD_PRODUCT`).
        """
        with ThreadPoolExecutor(1, thread_name_prefix="nn-products") as pair:
            self._pair, self._pair_min = pair, max(1, min_products)
            try:
                yield
            finally:
                self._pair = None

    def release_scratch(self) -> None:
        """Free the arrays kept between training batches (training does at its end)."""
        self._scratch_set, self._ones, self._scratch_rows = [], np.ones(0, self.dtype), 0

    def train_batch(
        self,
        X: Array,
        Y: Array,
        l2: float = 0.0,
        dropout_rng: np.random.Generator | None = None,
        weights: Array | None = None,
    ) -> tuple[float, Array]:
        """Forward and backward over one batch; fills ``grads`` with d(mean loss + L2)/dparams.

        ``weights`` (n,), when given, weights each row's loss: the mean loss is then
        ``sum(w_i l_i) / n`` (class and sample weights, normalized by the caller).

        Returns
        -------
        loss_sum : float
            The data loss summed over the batch's rows (weighted, no L2 term).
        logits : ndarray, shape (n, n_outputs)
        """
        z = self.forward(X, dropout_rng)
        loss_sum, delta = self.output.loss(z, Y, weights)
        delta *= self.dtype.type(1.0 / len(X))
        self.backward(delta)
        if l2:
            self.grads[: self.n_weights] += self.dtype.type(l2) * self.params[: self.n_weights]
        return loss_sum, z

    def penalty(self, l2: float) -> float:
        """The L2 term ``l2 / 2 * sum(W**2)`` added to the mean loss."""
        w = self.params[: self.n_weights]
        return 0.5 * l2 * float(np.vdot(w, w))

    def loss_and_grad(self, X: Array, Y: Array, l2: float = 0.0) -> float:
        """Mean loss plus L2 penalty over all of ``X``; fills ``grads`` (no dropout)."""
        loss_sum, _ = self.train_batch(X, Y, l2)
        return loss_sum / len(X) + self.penalty(l2)

    def hidden_outputs(self, X: Array):
        """Yield ``(z, h)`` of each hidden layer for ``X`` (n, n_inputs), input side first:
        pre-activation (n, width) and output (n, units); no dropout, nothing kept."""
        a = X
        for layer, W, b in zip(self.layers, self.W, self.b, strict=False):
            z = a @ W
            z += b
            a = layer.activation.forward(z, **layer.params)
            yield z, a

    @property
    def chunk_rows(self) -> int:
        """Rows per chunk of :meth:`logits`: the widest layer's activations of a chunk
        take about :data:`CHUNK_BYTES`."""
        widest = max(self.n_inputs, self.n_outputs, *(w for _, w in self.shapes))
        return max(64, min(8192, CHUNK_BYTES // (self.dtype.itemsize * widest)))

    def logits(self, X: Array, chunk: int | None = None) -> Array:
        """Prediction pass (no dropout, nothing kept) over ``X`` (n, n_inputs), in chunks
        of ``chunk`` rows (:attr:`chunk_rows` by default); returns logits (n, n_outputs)."""
        chunk = chunk or self.chunk_rows
        if len(X) <= chunk:
            return self._logits(X)
        out = np.empty((len(X), self.n_outputs), self.dtype)
        for start in range(0, len(X), chunk):
            out[start : start + chunk] = self._logits(X[start : start + chunk])
        return out

    def _logits(self, a: Array) -> Array:
        # hidden_outputs' loop written out: on a one-row prediction the generator and the
        # slicing would cost as much as the arithmetic
        for layer, W, b in zip(self.layers, self.W, self.b, strict=False):
            z = a @ W
            z += b
            a = layer.activation.forward(z, **layer.params)
        z = a @ self.W[-1]
        z += self.b[-1]
        return z.astype(self.dtype, copy=False)
