"""Raw tables into network inputs: column kinds, one-hot categories and missing values.

A table is a mapping of column name to values (one per row), or a list of rows, each a
mapping of column name to value. Each feature is ``numeric``, ``categorical`` or
dropped (``drop``); the kind is inferred (numbers are numeric, text and booleans
categorical) unless ``features`` names it.

A categorical column becomes one-hot columns: one per category kept (the
``max_categories`` most frequent, ties broken by the value; the rest fold into ``<other>``, or
are refused with ``high_cardinality: "refuse"``), one for ``<other>`` (where a category
never seen in training goes at prediction, unless ``unknown: "refuse"``), and one for
``<missing>`` when the column had missing values. A numeric column is itself, its
missing values the table's median, plus an indicator column (``name=<missing>``)
when it had any. ``missing: "refuse"`` refuses a missing value instead, naming its column
and row; ``"drop_rows"`` drops the rows that have one (and refuses one at prediction).

Values are compared as text (:func:`nn.columns.category_key`), so a row from JSON and
the same row from a CSV file land on the same columns.

Everything a :class:`Preparation` holds is plain (names, kinds, medians, category lists,
flags), JSON-ready and exact on reload: an exporter can rebuild one-hot and imputation
from it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import repeat

import numpy as np

from .columns import category_keys, columns_of, infer_kind, is_table, missing_mask, numbers
from .errors import SpecError
from .limits import DEFAULT_LIMITS, Limits

__all__ = ["Feature", "Options", "Preparation", "columns_of", "is_table"]

Array = np.ndarray

KINDS = ("numeric", "categorical", "drop")
MISSING_POLICIES = ("impute", "refuse", "drop_rows")
UNKNOWN_POLICIES = ("other", "refuse")
CARDINALITY_POLICIES = ("fold", "refuse")
OTHER, MISSING = "<other>", "<missing>"
#: the keys of a job's ``data`` that configure its preparation
OPTION_KEYS = ("features", "missing", "unknown", "max_categories", "high_cardinality")
#: folded categories a model lists per column (the most frequent): a category beyond them
#: at prediction cannot be told from one never seen
FOLDED_LISTED = 1000


@dataclass(frozen=True)
class Options:
    """How a table is prepared: ``features`` (None: every column, inferred; a list: those
    columns, inferred; a mapping: every column, with the kinds it names), and the
    policies for missing values, unseen categories and columns over the category cap."""

    features: tuple | Mapping | None = None
    missing: str = "impute"
    unknown: str = "other"
    max_categories: int = DEFAULT_LIMITS.max_categories
    high_cardinality: str = "fold"
    #: the cap is the job's own (``data.max_categories``), not the limit
    own_cap: bool = False

    @classmethod
    def of(cls, data: Mapping | None, limits: Limits = DEFAULT_LIMITS) -> Options:
        """The options in a job's ``data`` (the other keys are ignored), checked."""
        data = data or {}
        features = data.get("features")
        if isinstance(features, Mapping):
            for name, kind in features.items():
                if kind not in KINDS:
                    raise SpecError(
                        f"data.features.{name}", f"{kind!r} is not one of {', '.join(KINDS)}"
                    )
        elif features is not None:
            features = tuple(features)
        for key, allowed in (
            ("missing", MISSING_POLICIES),
            ("unknown", UNKNOWN_POLICIES),
            ("high_cardinality", CARDINALITY_POLICIES),
        ):
            if data.get(key, allowed[0]) not in allowed:
                raise SpecError(f"data.{key}", f"must be one of {', '.join(allowed)}")
        cap = data.get("max_categories", limits.max_categories)
        if type(cap) is not int or not 1 <= cap <= limits.max_categories:
            raise SpecError(
                "data.max_categories",
                f"must be an integer from 1 to {limits.max_categories}",
                limit="max_categories",
            )
        return cls(
            features,
            data.get("missing", "impute"),
            data.get("unknown", "other"),
            cap,
            data.get("high_cardinality", "fold"),
            "max_categories" in data,
        )


@dataclass
class Feature:
    """How one raw column becomes input columns.

    Attributes
    ----------
    name : str
    kind : str
        ``numeric`` or ``categorical``.
    median : float or None
        Numeric: what a missing value becomes (the table's median).
    indicator : bool
        Numeric: an extra 0/1 column says the value was missing.
    categories : list of str or None
        Categorical: the categories kept, sorted; each has its one-hot column, followed
        by ``<other>`` and, when ``missing_level``, ``<missing>``.
    missing_level : bool
    folded : list of str or None
        Categorical: categories seen in training and folded into ``<other>``, the
        :data:`FOLDED_LISTED` most frequent of them; a value among them is no surprise at
        prediction.
    n_folded : int
        How many categories were folded: more than ``folded`` lists when it is cut short.
    """

    name: str
    kind: str
    median: float | None = None
    indicator: bool = False
    categories: list[str] | None = None
    missing_level: bool = False
    folded: list[str] | None = None
    n_folded: int = 0

    @property
    def encoded(self) -> list[str]:
        """The names of the input columns it becomes."""
        if self.kind == "numeric":
            return [self.name] + ([f"{self.name}={MISSING}"] if self.indicator else [])
        levels = [*self.categories, OTHER] + ([MISSING] if self.missing_level else [])
        return [f"{self.name}={level}" for level in levels]

    def as_dict(self) -> dict:
        if self.kind == "numeric":
            return {
                "name": self.name,
                "kind": "numeric",
                "median": self.median,
                "indicator": self.indicator,
            }
        return {
            "name": self.name,
            "kind": "categorical",
            "categories": list(self.categories),
            "missing_level": self.missing_level,
            "folded": list(self.folded or []),
            "n_folded": self.n_folded,
        }


@dataclass
class Preparation:
    """The fitted preparation of a table: what each raw feature becomes.

    Attributes
    ----------
    features : list of Feature
        In input order: the encoded columns follow this order.
    dropped : list of str
        Columns of the training table left out (``drop``).
    missing, unknown : str
        The policies for a missing value and an unseen category at prediction.
    """

    features: list[Feature]
    dropped: list[str] = field(default_factory=list)
    missing: str = "impute"
    unknown: str = "other"

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def encoded(self) -> list[str]:
        """The encoded (input) column names, in order."""
        return [name for f in self.features for name in f.encoded]

    @property
    def n_encoded(self) -> int:
        return sum(len(f.encoded) for f in self.features)

    def groups(self) -> dict[str, list[int]]:
        """For each raw feature, the indices of the input columns it became."""
        out, start = {}, 0
        for f in self.features:
            width = len(f.encoded)
            out[f.name] = list(range(start, start + width))
            start += width
        return out

    def nbytes(self) -> int:
        """About what its names and categories hold in memory (a Python string costs
        about 50 bytes besides its characters)."""
        texts = [*self.encoded, *(c for f in self.features for c in f.folded or ())]
        return sum(50 + len(t) for t in texts)

    @property
    def numeric_only(self) -> bool:
        """Inputs are the raw columns themselves: rows of numbers predict as they are."""
        return all(f.kind == "numeric" and not f.indicator for f in self.features)

    def as_dict(self) -> dict:
        """JSON-ready, plain, exact: what :meth:`from_dict` rebuilds it from."""
        return {
            "features": [f.as_dict() for f in self.features],
            "dropped": list(self.dropped),
            "missing": self.missing,
            "unknown": self.unknown,
            "encoded": self.encoded,
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> Preparation:
        """Rebuild from :meth:`as_dict`; raises ValueError, KeyError or TypeError for
        anything else."""
        features = []
        for f in d["features"]:
            name = f["name"]
            if not isinstance(name, str) or not name:
                raise ValueError("a feature without a name")
            if f["kind"] == "numeric":
                median = f["median"]
                if median is not None and not (
                    isinstance(median, (int, float)) and math.isfinite(median)
                ):
                    raise ValueError(f"feature {name!r} has a bad median")
                features.append(
                    Feature(
                        name, "numeric", None if median is None else float(median), f["indicator"]
                    )
                )
            elif f["kind"] == "categorical":
                cats, folded, n_folded = f["categories"], f["folded"], f["n_folded"]
                both = [*cats, *folded]
                if not all(isinstance(c, str) for c in both) or len(set(both)) != len(both):
                    raise ValueError(f"feature {name!r} has bad categories")
                if type(n_folded) is not int or n_folded < len(folded):
                    raise ValueError(f"feature {name!r} has a bad count of folded categories")
                features.append(
                    Feature(
                        name,
                        "categorical",
                        categories=list(cats),
                        missing_level=f["missing_level"],
                        folded=list(folded),
                        n_folded=n_folded,
                    )
                )
            else:
                raise ValueError(f"feature {name!r} has kind {f['kind']!r}")
            if not isinstance(features[-1].indicator, bool) or not isinstance(
                features[-1].missing_level, bool
            ):
                raise TypeError(f"feature {name!r} has a flag that is not a boolean")
        if len({f.name for f in features}) != len(features) or not features:
            raise ValueError("features are missing or named twice")
        prep = cls(features, list(d["dropped"]), d["missing"], d["unknown"])
        if prep.missing not in MISSING_POLICIES or prep.unknown not in UNKNOWN_POLICIES:
            raise ValueError("unknown missing or unknown-category policy")
        if d.get("encoded", prep.encoded) != prep.encoded:
            raise ValueError("encoded column names do not match the features")
        return prep

    # -- fitting ------------------------------------------------------------------------

    @classmethod
    def fit(
        cls,
        cols: Mapping[str, Array],
        options: Options = Options(),
        field: str = "X",
    ) -> Preparation:
        """Fit on the table ``cols`` (from :func:`columns_of`).

        Raises
        ------
        SpecError
            A column named that the table lacks, no feature left, a missing value with
            ``missing: "refuse"``, a column over the category cap with
            ``high_cardinality: "refuse"``, text in a column named numeric.
        """
        kinds, dropped = resolve_kinds(cols, options, field)
        features = []
        for name, kind in kinds.items():
            values = cols[name]
            missing = missing_mask(values)
            if missing.any() and options.missing == "refuse":
                raise SpecError(
                    field,
                    f"column {name!r} has a missing value in data row "
                    f"{int(np.argmax(missing)) + 1} ({int(missing.sum())} in all); set "
                    "data.missing to impute or drop_rows",
                )
            if kind == "numeric":
                x = numbers(name, values, missing, field)
                present = x[~np.isnan(x)]
                median = float(np.median(present)) if present.size else 0.0
                features.append(Feature(name, "numeric", median, bool(missing.any())))
                continue
            keys = category_keys(values, missing)
            counted = Counter(keys[~missing].tolist())
            uniq, counts = list(counted), list(counted.values())
            if len(uniq) > options.max_categories and options.high_cardinality == "refuse":
                cap = "data.max_categories" if options.own_cap else "the limit"
                raise SpecError(
                    field,
                    f"column {name!r} has {len(uniq)} distinct values, over the cap of "
                    f"{options.max_categories} categories ({cap}); set "
                    'data.high_cardinality to "fold", or drop the column',
                    limit=None if options.own_cap else "max_categories",
                )
            # the most frequent, ties broken by the value: the same table, the same columns
            order = sorted(range(len(uniq)), key=lambda j: (-counts[j], uniq[j]))
            kept = sorted(uniq[j] for j in order[: options.max_categories])
            folded = [uniq[j] for j in order[options.max_categories :]]
            features.append(
                Feature(
                    name,
                    "categorical",
                    categories=kept,
                    missing_level=bool(missing.any()),
                    folded=folded[:FOLDED_LISTED],
                    n_folded=len(folded),
                )
            )
        return cls(features, dropped, options.missing, options.unknown)

    # -- encoding -----------------------------------------------------------------------

    def transform(
        self, cols: Mapping[str, Array], field: str = "inputs", training: bool = False
    ) -> tuple[Array, list[dict]]:
        """The input matrix of a table, float64 (n_rows, n_encoded), and its warnings.

        ``cols`` may hold other columns (ignored) and lack none of the features. At
        prediction (not ``training``) an unseen category, or a missing one where training
        had none, is counted as ``<other>`` with a warning ``{"row", "column", "value",
        "message"}`` (0-based row), or refused with ``unknown: "refuse"``.

        Raises
        ------
        SpecError
            A feature absent, text in a numeric column, a missing value the policy
            refuses, an unseen category refused.
        """
        absent = [n for n in self.names if n not in cols]
        if absent:
            raise SpecError(
                field,
                f"no column {absent[0]!r}: the model's features are {', '.join(self.names)}",
            )
        n = len(cols[self.names[0]])
        out = np.zeros((n, self.n_encoded))
        warnings: list[dict] = []
        start = 0
        for f in self.features:
            values = cols[f.name]
            missing = missing_mask(values)
            if missing.any() and self.missing != "impute" and not training:
                raise SpecError(
                    field,
                    f"column {f.name!r} has a missing value in row {int(np.argmax(missing)) + 1}; "
                    f"the model was trained with missing {self.missing!r}",
                )
            if f.kind == "numeric":
                x = numbers(f.name, values, missing, field)
                out[:, start] = np.where(missing, f.median, x)
                if f.indicator:
                    out[:, start + 1] = missing
            else:
                self._one_hot(f, values, missing, out, start, warnings, field, training)
            start += len(f.encoded)
        return out, warnings

    def _one_hot(self, f, values, missing, out, start, warnings, field, training) -> None:
        other = len(f.categories)
        keys = category_keys(values, missing)
        index = {c: j for j, c in enumerate(f.categories)} | dict.fromkeys(f.folded or (), other)
        codes = np.full(len(values), other + 1 if f.missing_level else other, dtype=np.intp)
        # a missing value without its own level counts as <other>, as an unseen one does
        unseen = missing.copy() if not f.missing_level else np.zeros(len(values), dtype=bool)
        if (~missing).any():
            found = np.fromiter(
                map(index.get, keys[~missing], repeat(-1)),
                dtype=np.intp,
                count=int((~missing).sum()),
            )
            codes[~missing] = np.where(found < 0, other, found)
            unseen[~missing] = found < 0
        out[np.arange(len(values)), start + codes] = 1.0
        if training or not unseen.any():
            return
        # beyond the folded categories listed, a category may be one of the rarest seen
        unsure = "" if f.n_folded <= len(f.folded or ()) else " (or was among its rarest)"
        for i in np.flatnonzero(unseen):
            seen = "a missing value" if keys[i] is None else f"category {keys[i]!r}"
            if self.unknown == "refuse":
                raise SpecError(
                    field,
                    f"column {f.name!r}, row {i + 1}: {seen} was not seen in training{unsure} "
                    '(the model was trained with unknown "refuse")',
                )
            warnings.append(
                {
                    "row": int(i),
                    "column": f.name,
                    "value": keys[i],
                    "message": f"{seen} of column {f.name!r} was not seen in training"
                    f"{unsure}; counted as <other>",
                }
            )


def resolve_kinds(
    cols: Mapping[str, Array], options: Options, field: str = "X"
) -> tuple[dict[str, str], list[str]]:
    """Each feature's kind (inferred unless named), and the columns dropped."""
    features = options.features
    if features is not None:
        unknown = [n for n in features if n not in cols]
        if unknown:
            raise SpecError(
                "data.features",
                f"no column {unknown[0]!r} (the columns: {', '.join(cols)})",
            )
    named = dict(features) if isinstance(features, Mapping) else {}
    chosen = list(features) if isinstance(features, tuple) else list(cols)
    kinds, dropped = {}, []
    for name in chosen:
        kind = named.get(name)
        if kind == "drop":
            dropped.append(name)
            continue
        if kind is None:
            kind = infer_kind(cols[name], missing_mask(cols[name]))
        kinds[name] = kind
    if not isinstance(features, tuple):
        dropped += [n for n in cols if n not in chosen]
    if not kinds:
        raise SpecError("data.features", "no column left to learn from")
    return kinds, dropped


def rows_with_missing(cols: Mapping[str, Array], options: Options, field: str = "X") -> Array:
    """True for the rows that have a missing value in a feature (for ``drop_rows``)."""
    kinds, _ = resolve_kinds(cols, options, field)
    n = len(next(iter(cols.values())))
    mask = np.zeros(n, dtype=bool)
    for name in kinds:
        mask |= missing_mask(cols[name])
    return mask
