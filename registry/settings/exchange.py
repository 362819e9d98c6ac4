"""Models leaving and entering: the size of an imported model file, and the rows the
parity certificate of a stored model compares."""

from __future__ import annotations

from ..setting import API, WORKER, Section, Setting

EXCHANGE: tuple[Setting, ...] = (
    Setting(
        "NNJOBS_MAX_IMPORT_MB",
        float,
        32,
        "size of a model file sent to `POST /models/import` (the body limit applies too) (413)",
        (API,),
        Section.LIMITS,
        min=0,
    ),
    Setting(
        "NNJOBS_PARITY_ROWS",
        int,
        1000,
        "rows the parity certificate of a stored model compares between nn and the ONNX "
        "export (its validation rows, at most this many, or rows drawn for an import), "
        "besides 8 rows at 50 standard deviations",
        (API, WORKER),
        Section.LIMITS,
        min=1,
        max=100_000,
    ),
)
