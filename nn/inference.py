"""A loaded model's prediction pass, prepared once.

A one-row prediction costs NumPy's per-call overhead, not arithmetic: about forty calls
on 1 x 20 arrays, each a microsecond or so, when the model is read afresh on every call
(attribute lookups, an ``np.errstate`` context, two reductions for the input's range,
keyword arguments for each activation, an object array of the classes). :class:`Plan`
takes everything that does not depend on the rows out of the call: the activations
bound to their parameters, the classes as an object array, and one bound that replaces
the input checks for rows that cannot overflow.

It computes exactly what :meth:`nn.network.Network.logits` and the scaler compute, in
the same order and dtypes, so its answers are bit for bit those of the general path.
"""

from __future__ import annotations

import functools

import numpy as np

from .data import _F32_MAX, CHUNK

Array = np.ndarray
#: inputs are shrunk by this power of two before their squares are summed: the sum of
#: squares of any finite float64 values then cannot overflow (nor warn), and an infinite
#: or NaN value still makes it infinite or NaN
_SHRINK = 2.0**-540
#: rows up to which a product is cheaper through np.dot than through np.matmul
_DOT_ROWS = 16
#: values of an activation up to which a ReLU is cheaper without the boolean cast
_SMALL = 256


class Plan:
    """What a prediction of ``model`` needs, read once from it.

    Parameters
    ----------
    model : nn.Model
        Its network's weights are referenced, not copied: the plan follows them.
    """

    def __init__(self, model):
        net, scaler = model.network, model.x_scaler
        self.n_features = model.n_features
        # (1, d) rather than (d,): a ufunc broadcasting arrays of unequal dimensions costs
        # half a microsecond more a call, the price of the whole addition on one row
        self.mean = np.asarray(scaler.mean, np.float64).reshape(1, -1)
        self.scale = np.asarray(scaler.scale, np.float64).reshape(1, -1)
        self.dtype = net.dtype
        self.chunk = net.chunk_rows
        self.hidden = [
            (W, b.reshape(1, -1), _forward(layer))
            for layer, W, b in zip(net.layers, net.W, net.b, strict=False)
        ]
        self.last = (net.W[-1], net.b[-1].reshape(1, -1))
        self.labels = None if model.classes is None else np.asarray(model.classes, dtype=object)
        self.limit = _square_limit(self.mean, self.scale)

    def accepts(self, x) -> bool:
        """Whether ``x`` is a float64 ndarray (n, n_features), 1 <= n <= the scaler's
        chunk, whose values are finite and small enough that scaling can neither overflow
        nor leave float32's range: the checks of :func:`nn.data.as_features` and
        :meth:`nn.data.Scaler.transform` would then pass, and are skipped. Anything else
        goes the general way, which refuses by name what it must."""
        if type(x) is not np.ndarray or x.dtype != np.float64 or x.ndim != 2:
            return False
        n, d = x.shape
        if d != self.n_features or not 0 < n <= CHUNK:
            return False
        small = x.reshape(-1) * _SHRINK
        # NaN compares false: refused here, named by the general path
        return bool(np.dot(small, small) <= self.limit)

    def logits(self, x: Array) -> Array:
        """Logits (n, n_outputs) of rows ``x`` (n, n_features) that :meth:`accepts`."""
        h = np.subtract(x, self.mean)
        h /= self.scale
        h = h.astype(self.dtype)
        if len(h) <= self.chunk:
            return self._logits(h)
        out = np.empty((len(h), self.last[0].shape[1]), self.dtype)
        for start in range(0, len(h), self.chunk):
            out[start : start + self.chunk] = self._logits(h[start : start + self.chunk])
        return out

    def _logits(self, a: Array) -> Array:
        # np.dot calls BLAS with half matmul's overhead, but on a few thousand rows it
        # costs some 15% more instructions than matmul; both give the same values
        product = np.dot if len(a) <= _DOT_ROWS else np.matmul
        for W, b, forward in self.hidden:
            z = product(a, W)
            z += b
            a = forward(z)
        W, b = self.last
        z = product(a, W)
        z += b
        return z


def _forward(layer):
    """The layer's activation as a function of ``z`` alone, which it may overwrite."""
    if layer.activation.gate:  # ReLU: z * (z > 0)
        return _relu_in_place
    forward, params = layer.activation.forward, layer.params
    return functools.partial(forward, **params) if params else forward


def _relu_in_place(z: Array) -> Array:
    # the values of ``z * (z > 0)`` bit for bit (-0.0 for a negative z, NaN for -inf and
    # NaN, inf for inf) without the cast of a boolean array, which costs more than the
    # product on one row: heaviside is 0 below zero, 1 above, and keeps NaN; but its loop
    # is not vectorized, and past a few hundred values the cast is the cheaper
    if z.size > _SMALL:
        return np.multiply(z, z > 0)
    return np.multiply(z, np.heaviside(z, z.dtype.type(0)), out=z)


def _square_limit(mean: Array, scale: Array) -> float:
    """The largest sum of squares of shrunk inputs whose every scaled value
    ``(x - mean) / scale`` is sure to stay within float32's usable range (the scaler's
    refusal threshold), or -1 when no input is."""
    # |x_j| <= sqrt(q) / _SHRINK for every j, and |(x_j - mean_j) / scale_j| <= the limit
    # while |x_j| <= limit * scale_j - |mean_j|; halved for the rounding of the sum, capped
    # so that nothing here overflows, and at least 1 so that inputs too small to survive
    # the shrinking are within it
    room = float(np.min(_F32_MAX / 16 * np.minimum(scale, 1e250) - np.abs(mean)))
    room = min(room, 1e300)
    if not room >= 1:
        return -1.0
    return (0.5 * room * _SHRINK) ** 2
