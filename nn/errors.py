"""The library's exceptions.

Every refusal of a spec or of data is a :class:`SpecError`, so callers (the API turns it
into a 422) catch one type and read which field was wrong and why.
"""

from __future__ import annotations


class SpecError(ValueError):
    """A job spec or its data breaks a rule.

    Parameters
    ----------
    field : str
        Dotted path of the offending field, e.g. ``"layers.0.units"`` or ``"X"``.
    reason : str
        What is wrong, in words a user can act on.
    limit : str or None
        The field of :class:`~nn.limits.Limits` the refusal enforces (``"max_units"``),
        if one of the configurable limits: the service names the setting behind it.
    """

    def __init__(self, field: str, reason: str, *, limit: str | None = None):
        self.field = field
        self.reason = reason
        self.limit = limit
        super().__init__(f"{field}: {reason}" if field else reason)

    @property
    def path(self) -> tuple[str | int, ...]:
        """The field as a tuple, list indices as ints: ``("layers", 0, "units")``."""
        return tuple(int(p) if p.isdigit() else p for p in self.field.split(".") if p)


class LimitError(SpecError):
    """A job over a configured limit of its size (such as the compute budget), not merely
    malformed: the request is too large rather than wrong (the API answers 413).

    ``limit`` names the limit, as for every :class:`SpecError` over one.
    """


class TrainingError(RuntimeError):
    """Training could not go on (for example the loss became NaN or infinite)."""

    def __init__(self, message: str, epoch: int | None = None):
        self.epoch = epoch
        super().__init__(message)


class ModelFormatError(ValueError):
    """Bytes that are not a valid serialized model (truncated, tampered or foreign)."""
