"""The configurable upper bounds a job must respect.

A leaf of the library (it imports nothing of ``nn``), so that the rules that check a
spec or data and the service that configures the bounds read them from one place. A
refusal over one of them names it: ``SpecError.limit`` is the field of :class:`Limits`
that was exceeded.
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Limits:
    """Upper bounds a spec must respect (the service makes them configurable)."""

    max_units: int = 4096
    max_layers: int = 32
    max_epochs: int = 100_000
    max_batch_size: int = 65_536
    #: distinct classes, labels of a multi-label target, columns of a regression target
    max_classes: int = 1000
    #: one-hot columns of a categorical feature (its most frequent categories; the
    #: rarer ones fold into one "other" column)
    max_categories: int = 50
    #: (training rows + validation rows / 3) x epochs x weights; admits 20,000 x 20 rows,
    #: hidden (128, 128), 500 epochs
    max_compute: float = 1e12
    #: weights and biases: 4 bytes each in a stored model, about 7 copies while training
    max_parameters: int = 20_000_000
    #: optimizer steps, epochs x batches an epoch: each costs about 0.1 ms of Python
    #: however small, so 5 million are minutes; admits 20,000 rows in batches of 32 for
    #: 500 epochs (312,500)
    max_steps: int = 5_000_000
    #: activation values one training step holds: rows of a batch (min(batch_size, training
    #: rows)) x (the hidden layers' widths, maxout's pieces counted, + the outputs). Measured
    #: over an epoch's steps whose last batch is one row short (float32; tracemalloc, and
    #: peak RSS for ReLU): 12 bytes a value with ReLU (pre-activation, gate and gradient;
    #: the shorter batch uses views of the same arrays), 20 with dropout, 14-16 with maxout,
    #: up to 44 with one GELU layer and dropout; so the default keeps a worker's steps
    #: under 0.25 GiB with ReLU, under 1 GiB at worst, and admits batches of 65,536 rows
    #: through hidden (128, 128)
    max_batch_activations: int = 20_000_000

    @classmethod
    def unbounded(cls) -> Limits:
        """No upper bounds: for specs already checked under whatever limits were in force."""
        return cls(**{f.name: float("inf") if f.type == "float" else 2**62 for f in fields(cls)})


DEFAULT_LIMITS = Limits()
