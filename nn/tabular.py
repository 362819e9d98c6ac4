"""Training on a table: its preparation fitted, and the encoded matrix it trains on (see
:mod:`nn.preparation`).

The preparation's statistics (medians, the categories kept) are read from every row of
the table, validation rows included: they never look at the target, and so a table has
one preparation whatever the split, which every job of a sweep on it shares. The
standardization that follows is fitted on the training rows only.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .errors import LimitError, SpecError
from .limits import DEFAULT_LIMITS, Limits
from .preparation import Options, Preparation, columns_of, rows_with_missing
from .weights import check_sample_weight

Array = np.ndarray


def encode_table(
    table,
    y,
    options: Mapping | None = None,
    limits: Limits = DEFAULT_LIMITS,
    max_values: int | None = None,
    field: str = "X",
) -> tuple[Preparation, Array, Array]:
    """Fit a table's preparation and encode it (:func:`encode_weighted_table` without
    row weights)."""
    return encode_weighted_table(table, y, None, options, limits, max_values, field)[:3]


def encode_weighted_table(
    table,
    y,
    sample_weight,
    options: Mapping | None = None,
    limits: Limits = DEFAULT_LIMITS,
    max_values: int | None = None,
    field: str = "X",
) -> tuple[Preparation, Array, Array, Array | None]:
    """Fit a table's preparation and encode it, the rows' weights following the rows.

    Parameters
    ----------
    table : mapping of str to sequence, or list of mappings
        The features only, raw (see :func:`~nn.preparation.columns_of`).
    y : array-like, shape (n_rows,) or (n_rows, n_outputs)
    sample_weight : array-like, shape (n_rows,), or None
        The rows' weights, kept out of the preparation (checked by
        :func:`nn.weights.check_sample_weight`).
    options : mapping or None
        A job's ``data``, whose keys :data:`~nn.preparation.OPTION_KEYS` configure the
        preparation (:class:`~nn.preparation.Options`); the others are ignored.
    max_values : int or None
        Refuse (:class:`~nn.errors.LimitError`) more encoded values than this, before
        the matrix is built.

    Returns
    -------
    preparation : Preparation
    X : ndarray, shape (n_kept, n_encoded), float64
    y : ndarray, shape (n_kept, ...)
        ``y`` without the rows ``missing: "drop_rows"`` dropped.
    sample_weight : ndarray, shape (n_kept,), or None
        Likewise.
    """
    opts = Options.of(options, limits)
    cols = columns_of(table, field)
    n = len(next(iter(cols.values())))
    y = y if isinstance(y, np.ndarray) else np.asarray(y)
    if y.ndim == 0 or len(y) != n:
        raise SpecError("y", f"has {y.size if y.ndim == 0 else len(y)} rows but X has {n}")
    w = None if sample_weight is None else check_sample_weight(sample_weight, n)
    if opts.missing == "drop_rows":
        drop = rows_with_missing(cols, opts, field)
        if drop.all():
            raise SpecError(
                field, "every row has a missing value: drop_rows leaves none; use impute"
            )
        if drop.any():
            cols = {name: values[~drop] for name, values in cols.items()}
            y, n = y[~drop], int((~drop).sum())
            w = None if w is None else w[~drop]
    preparation = Preparation.fit(cols, opts, field=field)
    if max_values is not None and n * preparation.n_encoded > max_values:
        raise LimitError(
            "data.features",
            f"{n} rows x {preparation.n_encoded} input columns (one-hot categories "
            f"included) is {n * preparation.n_encoded} values, over the limit of "
            f"{max_values} (NNJOBS_MAX_VALUES)",
        )
    X, _ = preparation.transform(cols, field, training=True)
    return preparation, X, y, w
