"""The configurable upper bounds a job must respect.

A leaf of the library (it imports nothing of ``nn``), so that the rules that check a
spec or data and the service that configures the bounds read them from one place. A
refusal over one of them names it: ``SpecError.limit`` is the field of :class:`Limits`
that was exceeded.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Upper bounds a spec must respect (the service makes them configurable)."""

    max_units: int = 4096
    max_layers: int = 32
    max_epochs: int = 100_000
    max_batch_size: int = 65_536
    max_classes: int = 1000
    #: training rows x epochs x weights; admits 20,000 x 20 rows, hidden (128, 128), 500 epochs
    max_compute: float = 1e12

    @classmethod
    def unbounded(cls) -> Limits:
        """No upper bounds: for specs already checked under whatever limits were in force."""
        big = 2**62
        return cls(big, big, big, big, big, float("inf"))


DEFAULT_LIMITS = Limits()
