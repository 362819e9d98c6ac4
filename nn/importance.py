"""Permutation feature importance: how much a model's score falls when one feature's
values are shuffled across the rows, breaking its link with the target.

A feature may span several input columns (the one-hot columns of a categorical one):
its columns are shuffled together, by the same permutation of the rows, so the
importance is the raw feature's. Each feature is shuffled ``n_repeats`` times; the
importance is the mean fall of the score and its spread the standard deviation over the
repeats. The score is accuracy for classification (the share of rows whose every label is
right, for multi-label) and R² for regression, weighted by the rows' weights when given.

The shuffles are scikit-learn's ``permutation_importance``'s for the same ``seed``
(a legacy ``RandomState`` seeding one stream per feature, each repeat shuffling again),
so that on single-column features the two give the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from .errors import SpecError

Array = np.ndarray


def permutation_importance(
    score: Callable[[Array], float],
    X: Array,
    groups: Mapping[str, Sequence[int]],
    n_repeats: int = 5,
    seed: int = 0,
) -> dict:
    """Importance of each group of columns of ``X``.

    Parameters
    ----------
    score : callable
        ``score(X)`` -> float, higher is better, for rows shaped like ``X``.
    X : ndarray, shape (n_samples, n_columns)
        The rows scored (validation rows, in the model's input columns).
    groups : mapping of str to sequence of int
        Each feature's name and its columns of ``X``.
    n_repeats : int
        Shuffles per feature (at least 1).
    seed : int

    Returns
    -------
    dict
        ``features`` (the names, most important first), ``mean`` and ``std`` (the fall of
        the score over the repeats, float, in that order), ``baseline`` (the score
        unshuffled) and ``n_repeats``. JSON-ready.
    """
    X = np.asarray(X)
    baseline = float(score(X))
    # sklearn draws one seed for all features, then each feature's stream starts from it
    stream_seed = np.random.RandomState(seed).randint(np.iinfo(np.int32).max + 1)
    names, means, stds = [], [], []
    for name, columns in groups.items():
        cols = np.asarray(columns, dtype=np.intp)
        rng = np.random.RandomState(stream_seed)
        shuffled = X.copy()
        order = np.arange(len(X))
        falls = np.empty(n_repeats)
        for r in range(n_repeats):
            rng.shuffle(order)
            shuffled[:, cols] = shuffled[np.ix_(order, cols)]
            falls[r] = baseline - float(score(shuffled))
        names.append(name)
        means.append(float(falls.mean()))
        stds.append(float(falls.std()))
    ranked = sorted(range(len(names)), key=lambda i: -means[i])
    return {
        "features": [names[i] for i in ranked],
        "mean": [means[i] for i in ranked],
        "std": [stds[i] for i in ranked],
        "baseline": baseline,
        "n_repeats": n_repeats,
    }


def feature_names(names: Sequence[str] | None, n_columns: int) -> list[str]:
    """The input columns' names: ``names`` checked, or ``x0``, ``x1``, ... by default."""
    if names is None:
        return [f"x{j}" for j in range(n_columns)]
    names = list(names)
    if len(names) != n_columns or not all(isinstance(n, str) for n in names):
        raise SpecError("feature_names", f"must be {n_columns} strings, one per column of X")
    return names


def check_groups(
    groups: Mapping[str, Sequence[int]] | None, names: Sequence[str]
) -> dict[str, list[int]]:
    """The features the importance shuffles: ``groups`` checked (each a non-empty list of
    column indices of X), or one per input column, named by ``names``."""
    if groups is None:
        return {name: [j] for j, name in enumerate(names)}
    out = {}
    for name, columns in groups.items():
        cols = [int(c) for c in columns]
        if not cols or not all(0 <= c < len(names) for c in cols):
            raise SpecError(
                f"groups.{name}", f"must list column indices of X, in [0, {len(names)})"
            )
        out[str(name)] = cols
    return out
