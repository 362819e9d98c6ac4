"""The commonest upload, a CSV file of numbers only, read by pyarrow's CSV reader.

:func:`read` answers only when its answer is the one :mod:`domain.tables` would give,
bit for bit; for anything else it answers None and the caller reads the file the general
way, which also words every refusal. It takes files that are

- ASCII (after a UTF-8 byte order mark), without a quote, with line ends ``\\n`` or
  ``\\r\\n``;
- headed by a first line that the general reader would take as it is (names present,
  distinct, within the limits of columns and cell length);
- made of cells each a number as Python's ``float`` reads it, finite, or one of
  :data:`domain.tables.MISSING`;
- within the limits of rows and cell length.

Why it may answer for the general reader: without quotes, a CSV line splits on its
commas alone for both readers, and both skip empty lines; pyarrow refuses a row of
another width (the general reader refuses it too, or skips a line of spaces: None either
way). pyarrow converts a cell with a correctly rounded parser, as ``float`` does, and
takes the same spellings of numbers, surrounding spaces included; what it takes besides
comes out as NaN (``nan(1)``) or an infinity, on which :func:`read` answers None. A cell
that is one of the missing tokens exactly is null for pyarrow; with spaces around it,
pyarrow refuses it and the general reader decides.

The body is read in blocks of :data:`BLOCK` bytes into one float64 array that the
columns are views of, so that the parse holds the file, the array and one block.
pyarrow is imported on the first upload: it costs an API process tens of MiB that only
uploads use.
"""

from __future__ import annotations

import math
import re

import numpy as np

from .deadline import NONE, Deadline
from .tables import MISSING, MISSING_SET, ROWS_PER_CHECK, Bounds, Column

BOM = b"\xef\xbb\xbf"
#: bytes of the body pyarrow reads at a time: one deadline check each
BLOCK = 1 << 20
#: bytes scanned at a time for the longest cell
SCAN = 1 << 22
_DELIMITERS = (";", "\t", "|")
_NON_ASCII = re.compile(rb"[^\x00-\x7f]")
_SEPARATORS = (ord(","), ord("\n"), ord("\r"))
_NEWLINE = ord("\n")


def read(data: bytes, bounds: Bounds, deadline: Deadline = NONE) -> tuple[list[Column], int] | None:
    """The columns of a CSV file of numbers and its number of data rows, or None when
    the file is not one this reader answers for (see the module's docstring)."""
    start = len(BOM) if data.startswith(BOM) else 0
    if not _plain(data, start):
        return None
    end = data.find(b"\n", start)
    if end < 0:
        return None
    header = _header(data[start:end].rstrip(b"\r").decode("ascii"), bounds)
    if header is None or not _numbers(data, end + 1, len(header)):
        return None
    n_lines, longest = _lines(data, end + 1)
    # each line after the header holds at most one data row, and a cell no more than
    # its line: the finer count of cells runs only when a line is over the limit
    if n_lines > bounds.rows:
        return None
    if longest > bounds.cell and _longest_cell(data, end + 1, bounds.cell) > bounds.cell:
        return None
    parsed = _parse(data, len(header), n_lines, deadline)
    if parsed is None:
        return None
    values, n_rows = parsed
    columns = []
    for name, col in zip(header, values, strict=True):
        col = col[:n_rows]
        columns.append(Column(name, "numeric", col, np.isnan(col)))
    return columns, n_rows


def _plain(data: bytes, start: int) -> bool:
    """ASCII from ``start`` on, no quote, and every carriage return ends a line."""
    if start:
        if _NON_ASCII.search(data, start):
            return False
    elif not data.isascii():
        return False
    if b'"' in data:
        return False
    return b"\r" not in data or data.count(b"\r") == data.count(b"\r\n")


def _header(line: str, bounds: Bounds) -> list[str] | None:
    """The header's names, stripped, when the general reader would take them as they are."""
    names = [name.strip() for name in line.split(",")]
    if len(names) > bounds.columns or max(map(len, names)) > bounds.cell:
        return None
    if not all(names) or len(set(names)) < len(names):
        return None
    if len(names) == 1 and any(d in names[0] for d in _DELIMITERS):
        return None
    return names


def _numbers(data: bytes, start: int, n_columns: int) -> bool:
    """Whether the first line after the header is ``n_columns`` numbers or missing cells:
    a table with a text column is turned away before pyarrow reads it whole."""
    end = data.find(b"\n", start)
    cells = data[start : None if end < 0 else end].rstrip(b"\r").decode("ascii").split(",")
    if len(cells) != n_columns:
        return False
    for cell in cells:
        if cell.strip() in MISSING_SET:
            continue
        try:
            if not math.isfinite(float(cell)):
                return False
        except ValueError:
            return False
    return True


def _lines(data: bytes, start: int) -> tuple[int, int]:
    """The lines from ``start`` on, and the length of the longest (its line end
    included)."""
    count, longest, last = 0, 0, start - 1
    for offset in range(start, len(data), SCAN):
        chunk = np.frombuffer(data, np.uint8, min(SCAN, len(data) - offset), offset)
        at = np.flatnonzero(chunk == _NEWLINE)
        if at.size:
            at += offset
            longest = max(longest, int(at[0]) - last, int(np.diff(at).max(initial=0)))
            count, last = count + at.size, int(at[-1])
    tail = len(data) - last - 1
    return count + (tail > 0), max(longest, tail)


def _longest_cell(data: bytes, start: int, limit: int) -> int:
    """The length of the longest cell from ``start`` on, for a file without quotes;
    past ``limit``, the first length found over it."""
    longest, last = 0, start - 1
    for offset in range(start, len(data), SCAN):
        chunk = np.frombuffer(data, np.uint8, min(SCAN, len(data) - offset), offset)
        at = np.flatnonzero(np.isin(chunk, _SEPARATORS))
        if at.size:
            at += offset
            longest = max(longest, int(at[0]) - last - 1, int(np.diff(at).max(initial=1)) - 1)
            last = int(at[-1])
        if longest > limit:
            return longest
    return max(longest, len(data) - last - 1)


def _parse(
    data: bytes, n_columns: int, n_lines: int, deadline: Deadline
) -> tuple[list[np.ndarray], int] | None:
    """The cells after the header, a float64 array of shape (n_lines,) per column whose
    first n_rows values are read, NaN where missing; and n_rows. None for a cell or row
    pyarrow refuses, or a NaN or an infinity that is no missing token.

    An array per column, not one for all, so that each can be freed once stored."""
    import pyarrow as pa
    from pyarrow import csv as pacsv

    names = [f"c{j}" for j in range(n_columns)]
    out = [np.empty(n_lines) for _ in range(n_columns)]
    n_rows = 0
    try:
        reader = pacsv.open_csv(
            pa.py_buffer(data),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=BLOCK),
            parse_options=pacsv.ParseOptions(quote_char=False, newlines_in_values=False),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.float64()),
                null_values=list(MISSING),
                check_utf8=False,
            ),
            # malloc's, not pyarrow's own pool (mimalloc), which kept what a parse freed:
            # service.memory gives malloc's back to the system after the request
            memory_pool=pa.system_memory_pool(),
        )
        for batch in reader:
            size = batch.num_rows
            # as the general reader paces itself: past ROWS_PER_CHECK cells, a look at
            # the deadline for each block
            if (n_rows + size) * n_columns > ROWS_PER_CHECK:
                deadline.check(f"{n_rows} rows parsed")
            if n_rows + size > n_lines:
                return None
            for j, col in enumerate(batch.columns):
                values = col.to_numpy(zero_copy_only=False)
                if not np.isfinite(values).all() and not _nan_is_null(col, values):
                    return None
                target = out[j][n_rows : n_rows + size]
                target[...] = values
                if col.null_count:
                    # one NaN for every missing cell, as the general reader writes it
                    target[~col.is_valid().to_numpy(zero_copy_only=False)] = np.nan
            n_rows += size
    except pa.ArrowInvalid:
        return None
    return (out, n_rows) if n_rows else None


def _nan_is_null(col, values: np.ndarray) -> bool:
    """Whether the values that are not finite are exactly the null (missing) cells."""
    if not col.null_count:
        return False
    valid = col.is_valid().to_numpy(zero_copy_only=False)
    return bool(np.isfinite(values[valid]).all())
