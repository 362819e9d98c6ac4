"""CSV files: parsing, column kinds, and the columns as stored.

A CSV file here is UTF-8 text (a byte order mark is allowed) read by Python's ``csv``
module with its default dialect, strictly: comma-separated, fields quoted with ``"`` may
hold commas, quotes (doubled) and line breaks; a quote left open is refused. The first
row is the header; blank lines are skipped. Cells are stripped of surrounding spaces, and
a cell that is then one of :data:`MISSING` is a missing value.

Each column gets a kind: ``numeric`` when every present cell parses as a number,
``boolean`` when every present cell is ``true`` or ``false`` (any case), else ``text``.
Parsing runs column by column in NumPy and C-level ``map``, never as a Python loop over
the cells; only an error message, once something is known to be wrong, looks for its row.
Text stays in object arrays: a fixed-width NumPy string array costs its longest cell
times the number of cells, gigabytes for one long cell among many short ones.

The limits (columns, cell length) are checked as soon as what they bound is read: the
columns on the header, before the body is parsed.

Rows are numbered from 1 for the first data row (the header is not counted); a refusal
about the file's structure also gives the line of the file, which differs when quoted
fields hold line breaks or blank lines are skipped.
"""

from __future__ import annotations

import csv
import gc
import io
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import orjson

from .deadline import NONE, Deadline
from .errors import Refused

#: cells that mean "no value" (after stripping surrounding spaces)
MISSING = ("", "NA", "N/A", "NaN", "nan", "null", "NULL")
MISSING_SET = frozenset(MISSING)
#: text and boolean columns list their distinct values up to this many
MAX_LISTED = 50
KINDS = ("numeric", "boolean", "text")
#: rows parsed between two looks at the request's deadline
ROWS_PER_CHECK = 50_000
_DELIMITERS = {";": "semicolons", "\t": "tabs", "|": "vertical bars"}


class TableError(Refused, ValueError):
    """A CSV file refused: ``status`` is the HTTP status, ``where`` names the column or
    row at fault (or is empty)."""

    def __init__(self, status: int, message: str, where: str = ""):
        super().__init__(status, message, {"csv": {where: [message]}} if where else None)
        self.where = where


@dataclass
class Table:
    """A parsed file: header names and each column's raw cells, in file order."""

    header: list[str]
    cells: list[tuple[str, ...]]
    n_rows: int
    size_bytes: int


@dataclass
class Column:
    """One column, typed: ``values`` is float64 (NaN where missing) for numeric columns,
    else an object array of str or bool (None where missing)."""

    name: str
    kind: str
    values: np.ndarray
    missing: np.ndarray

    def describe(self) -> dict:
        """The column as the Dataset resource shows it."""
        missing = int(self.missing.sum())
        out = {"name": self.name, "kind": self.kind, "missing": missing}
        present = self.values[~self.missing] if missing else self.values
        if self.kind == "numeric":
            finite = bool(present.size)
            out["min"] = float(present.min()) if finite else None
            out["max"] = float(present.max()) if finite else None
            return out
        # text stays an object array: np.unique sorts the strings themselves
        distinct = np.unique(present if self.kind == "text" else present.astype(bool))
        out["n_distinct"] = int(distinct.size)
        out["values"] = distinct.tolist() if distinct.size <= MAX_LISTED else None
        return out

    def to_bytes(self) -> bytes:
        """Numeric columns as ``.npy`` float64; the others as a JSON list (null: missing)."""
        if self.kind == "numeric":
            buf = io.BytesIO()
            np.save(buf, self.values, allow_pickle=False)
            return buf.getvalue()
        return orjson.dumps(self.values.tolist())

    @classmethod
    def from_bytes(cls, name: str, kind: str, blob: bytes) -> Column:
        if kind == "numeric":
            values = np.load(io.BytesIO(blob), allow_pickle=False)
            return cls(name, kind, values, np.isnan(values))
        values = np.array(orjson.loads(blob), dtype=object)
        return cls(name, kind, values, values == None)  # noqa: E711 - elementwise


@contextmanager
def gc_paused() -> Iterator[None]:
    """Parsing allocates millions of small objects that form no cycles; the collections
    they would trigger scan them again and again, which costs several times the parse."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise TableError(
            400,
            f"the file is not valid UTF-8 (byte {e.start}: {e.reason}); save it as UTF-8",
        ) from None


def _line_of(text: str, data_row: int, n_columns: int) -> int:
    """The line of the file on which data row ``data_row`` (1-based) ends."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows = (row for row in reader if row and not (n_columns > 1 and _blank(row)))
    for _ in itertools.islice(rows, data_row + 1):
        pass
    return reader.line_num


def _blank(row: list[str]) -> bool:
    return len(row) == 1 and not row[0].strip()


@dataclass(frozen=True)
class Bounds:
    """What one file may hold: data rows, columns, and characters in a cell."""

    rows: int
    columns: int
    cell: int

    @classmethod
    def of(cls, settings) -> Bounds:
        return cls(
            settings["NNJOBS_MAX_DATASET_ROWS"],
            settings["NNJOBS_MAX_DATASET_COLUMNS"],
            settings["NNJOBS_MAX_CELL_LENGTH"],
        )


def read(data: bytes, bounds: Bounds, what: str = "file", deadline: Deadline = NONE) -> Table:
    """Parse a CSV file with a header row into a :class:`Table`.

    Raises
    ------
    TableError
        400 for bytes that are not UTF-8; 413 for more than ``bounds`` allow (data rows,
        columns, characters in a cell); 422 for an empty file, a header without data
        rows, a header name missing or given twice, a file separated by something other
        than commas, or a row with another number of fields than the header.
    """
    with gc_paused():
        return _read(data, bounds, what, deadline)


def _over(what: str, found: str, limit: int, setting: str, where: str = "") -> TableError:
    return TableError(413, f"the {what} has {found}, over the limit of {limit} ({setting})", where)


def _check_cells(header: list[str], body: list[list[str]], what: str, limit: int) -> None:
    """Refuse a cell (or a header name) longer than ``limit`` characters."""
    if max(map(len, header)) > limit:
        j = next(j for j, name in enumerate(header) if len(name) > limit)
        raise _over(
            what,
            f"a header name of {len(header[j])} characters (column {j + 1})",
            limit,
            "NNJOBS_MAX_CELL_LENGTH",
            f"column {j + 1}",
        )
    if max(map(len, itertools.chain.from_iterable(body)), default=0) > limit:
        i, j = next(
            (i, j) for i, row in enumerate(body) for j, cell in enumerate(row) if len(cell) > limit
        )
        raise _over(
            what,
            f"a cell of {len(body[i][j])} characters (data row {i + 1}, column {header[j][:80]!r})",
            limit,
            "NNJOBS_MAX_CELL_LENGTH",
            f"row {i + 1}",
        )


def _read(data: bytes, bounds: Bounds, what: str, deadline: Deadline) -> Table:
    max_rows = bounds.rows
    if not data.strip():
        raise TableError(422, f"the {what} is empty; send a header row, then data rows")
    text = _decode(data)
    # strict: a quote left open, or text after a closing quote, is refused rather than
    # read as one long field
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    # csv yields [] for an empty line: filter(None) skips those in C
    lines = filter(None, reader)
    try:
        # the header alone first: the pace below reads rows a chunk ahead
        header = next(lines, None)
        if header is not None and len(header) > bounds.columns:
            raise _over(
                what, f"{len(header)} columns", bounds.columns, "NNJOBS_MAX_DATASET_COLUMNS"
            )
        rows = deadline.paced(lines, ROWS_PER_CHECK, "rows parsed")
        body = list(itertools.islice(rows, max_rows + 1))
    except csv.Error as e:
        hint = " (a quoted field is never closed)" if "end of data" in str(e) else ""
        raise TableError(
            422, f"line {reader.line_num} of the {what} is not CSV: {e}{hint}"
        ) from None
    if header is None:
        raise TableError(422, f"the {what} is empty; send a header row, then data rows")
    if len(body) > max_rows:
        raise TableError(
            413,
            f"the {what} has more than {max_rows} data rows, over the limit "
            "(NNJOBS_MAX_DATASET_ROWS)",
        )
    header = [name.strip() for name in header]
    _check_cells(header, body, what, bounds.cell)
    _check_header(header)
    n = len(header)
    if set(map(len, body)) - {n}:
        if n > 1:
            # a line of spaces only is blank too, which filter(None) could not see
            body = [row for row in body if not _blank(row)]
        if set(map(len, body)) - {n}:
            i = next(i for i, row in enumerate(body) if len(row) != n)
            raise TableError(
                422,
                f"data row {i + 1} (line {_line_of(text, i + 1, n)}) has {len(body[i])} "
                f"fields; the header has {n}",
                f"row {i + 1}",
            )
    if not body:
        raise TableError(
            422, f"the {what} has a header but no data rows; send at least one row of values"
        )
    return Table(header, list(zip(*body, strict=True)), len(body), len(data))


def _check_header(header: list[str]) -> None:
    if len(header) == 1:
        for delimiter, name in _DELIMITERS.items():
            if delimiter in header[0]:
                raise TableError(
                    422,
                    f"the header is a single column, {header[0][:80]!r}, which holds "
                    f"{name}: the file seems separated by {name}, not commas; send "
                    "comma-separated values",
                    header[0][:80],
                )
    seen: dict[str, int] = {}
    for j, name in enumerate(header, 1):
        if not name:
            raise TableError(422, f"column {j} of the header has no name", f"column {j}")
        if name in seen:
            raise TableError(
                422,
                f"column {name!r} appears twice in the header (columns {seen[name]} and {j})",
                name,
            )
        seen[name] = j


def _finite(name: str, cells: tuple[str, ...], values: np.ndarray) -> np.ndarray:
    """``values``, unless a cell is a number too large for a float or an infinity."""
    infinite = np.isinf(values)
    if infinite.any():
        row = first_row(infinite)
        raise TableError(
            422,
            f"column {name!r}, data row {row}: {cells[row - 1].strip()!r} is not a finite number",
            name,
        )
    return values


def column(name: str, cells: tuple[str, ...]) -> Column:
    """The typed :class:`Column` of a column's raw cells.

    Raises
    ------
    TableError
        A numeric column holds an infinity (``inf``, ``-Infinity``, ``1e400``).
    """
    # TableError is a ValueError: the checks stay outside the conversions' try blocks
    try:
        # the common case, a column of numbers only, in one pass (float() takes
        # surrounding spaces, "nan" and "NaN")
        values = np.array(cells, dtype=np.float64)
    except (ValueError, OverflowError):
        pass
    else:
        return Column(name, "numeric", _finite(name, cells, values), np.isnan(values))
    n = len(cells)
    stripped = np.array(list(map(str.strip, cells)), dtype=object)
    missing = np.fromiter(map(MISSING_SET.__contains__, stripped), dtype=bool, count=n)
    try:
        # float() of each object, as for the cells above
        values = np.where(missing, "nan", stripped).astype(np.float64)
    except (ValueError, OverflowError):
        pass
    else:
        return Column(name, "numeric", _finite(name, cells, values), missing)
    lowered = list(map(str.lower, stripped))
    is_true = np.fromiter(map("true".__eq__, lowered), dtype=bool, count=n)
    is_false = np.fromiter(map("false".__eq__, lowered), dtype=bool, count=n)
    if np.all(is_true | is_false | missing):
        values = is_true.astype(object)
        values[missing] = None
        return Column(name, "boolean", values, missing)
    stripped[missing] = None
    return Column(name, "text", stripped, missing)


def columns(table: Table, deadline: Deadline = NONE) -> list[Column]:
    every = max(1, ROWS_PER_CHECK // table.n_rows)
    named = deadline.paced(zip(table.header, table.cells, strict=True), every, "columns typed")
    with gc_paused():
        return [column(name, cells) for name, cells in named]


def first_row(mask: np.ndarray) -> int:
    """The 1-based data row of the first True in ``mask``."""
    return int(np.argmax(mask)) + 1


def write(header: list[str], cols: list) -> bytes:
    """A CSV file of ``cols`` (each a sequence of cells, one per row) under ``header``."""
    out = io.StringIO(newline="")
    # RFC 4180's line end: the csv module quotes a field holding a character of the line
    # end only, so with "\n" alone a carriage return in a cell would end the row
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(zip(*cols, strict=True))
    return out.getvalue().encode()


def cells(values) -> list:
    """Values as CSV cells: booleans ``true``/``false`` as in JSON, None empty."""
    values = list(values)
    if any(type(v) is bool for v in values[:1]):
        return ["true" if v else "false" for v in values]
    return values
