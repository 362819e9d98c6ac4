"""The fast reader of numeric CSV files: where it answers, its columns are the general
reader's bit for bit; where it cannot be sure, it answers None and the general reader
decides, refusals included."""

from __future__ import annotations

import numpy as np
import pytest

from domain import numeric_csv, tables

BOUNDS = tables.Bounds(rows=1000, columns=100, cell=100)


def general(data: bytes, bounds: tables.Bounds = BOUNDS) -> tuple[list[tables.Column], int]:
    table = tables.read(data, bounds)
    return tables.columns(table), table.n_rows


def assert_same(data: bytes, bounds: tables.Bounds = BOUNDS) -> None:
    fast = numeric_csv.read(data, bounds)
    assert fast is not None, data[:200]
    (cols, n), (ref, n_ref) = fast, general(data, bounds)
    assert n == n_ref
    assert [c.name for c in cols] == [c.name for c in ref]
    for c, r in zip(cols, ref, strict=True):
        assert c.kind == r.kind == "numeric"
        # bit for bit: the same NaN for a missing cell, the same rounding of every number
        assert c.values.tobytes() == r.values.tobytes(), c.name
        assert c.missing.tolist() == r.missing.tolist()
        assert c.describe() == r.describe()
        assert c.to_bytes() == r.to_bytes()


def spelled(rng: np.random.Generator, n: int) -> list[str]:
    """Numbers as people and programs write them, and the missing tokens."""
    forms = [
        lambda: f"{rng.standard_normal():.{rng.integers(0, 20)}f}",
        lambda: f"{rng.integers(1, 10**17)}e{rng.integers(-320, 290)}",
        lambda: repr(float(rng.standard_normal() * 10.0 ** rng.integers(-300, 290))),
        lambda: str(int(rng.integers(-(10**18), 10**18)) * 1000 + 7),
        lambda: f"{rng.integers(0, 100)}.",
        lambda: f".{rng.integers(0, 10**6)}",
        lambda: f"+{rng.integers(0, 100)}E-{rng.integers(0, 30)}",
        lambda: f" {rng.integers(0, 9)}.5 ",
        lambda: "-0",
        lambda: str(tables.MISSING[rng.integers(0, len(tables.MISSING))]),
    ]
    return [forms[rng.integers(0, len(forms))]() for _ in range(n)]


@pytest.mark.parametrize("seed", range(6))
def test_numbers_and_missing_cells_come_out_bit_for_bit_as_the_general_readers(seed):
    rng = np.random.default_rng(seed)
    n_rows, n_cols = int(rng.integers(1, 300)), int(rng.integers(1, 12))
    end = ["\n", "\r\n"][seed % 2]
    lines = [",".join(f" c{j} " if j % 3 == 0 else f"c{j}" for j in range(n_cols))]
    lines += [",".join(spelled(rng, n_cols)) for _ in range(n_rows)]
    if n_cols > 1:
        lines.insert(2, "")  # an empty line is skipped by both
    data = end.join(lines) + (end if seed % 3 else "")
    assert_same(data.encode())
    assert_same(b"\xef\xbb\xbf" + data.encode())


def test_a_whole_column_missing_and_the_limits_met_exactly():
    assert_same(b"a,b\n1,\n2,NA\n3,null\n")
    assert_same(b"a\n" + b"1\n" * 100, tables.Bounds(rows=100, columns=1, cell=1))
    assert_same(b"abc,d\n123,4\n", tables.Bounds(rows=1, columns=2, cell=3))


def test_the_blocks_of_a_large_file_join_in_order():
    rng = np.random.default_rng(7)
    values = rng.standard_normal((60_000, 3))
    body = "\n".join(",".join(repr(float(v)) for v in row) for row in values)
    data = ("a,b,c\n" + body + "\n").encode()
    assert len(data) > 2 * numeric_csv.BLOCK
    assert_same(data, tables.Bounds(rows=100_000, columns=3, cell=100))
    cols, _ = numeric_csv.read(data, tables.Bounds(rows=100_000, columns=3, cell=100))
    assert np.array_equal(np.column_stack([c.values for c in cols]), values)


LEFT_TO_THE_GENERAL_READER = {
    "a text column": b"a,b\n1,x\n2,y\n",
    "text below the first row": b"a,b\n1,2\n3,x\n",
    "a boolean column": b"a,b\n1,true\n2,false\n",
    "quoted cells": b'a,b\n"1",2\n',
    "a quoted header": b'"a",b\n1,2\n',
    "non-ASCII": "a,b\n1,2\n3,caf\u00e9\n".encode(),
    "bad UTF-8": b"a,b\n1,\xff\n",
    "a lone carriage return": b"a,b\r1,2\r3,4\r",
    "NaN with a payload": b"a,b\n1,2\n3,nan(1)\n",
    "NAN in capitals": b"a,b\n1,2\n3,NAN\n",
    "a negative NaN": b"a,b\n1,2\n3,-nan\n",
    "an infinity": b"a,b\n1,2\n3,inf\n",
    "beyond a float": b"a,b\n1,2\n3,1e400\n",
    "underscores": b"a,b\n1,2\n3,1_000\n",
    "a missing token in spaces": b"a,b\n1,2\n3, NA \n",
    "a ragged row": b"a,b\n1,2\n3\n",
    "a row too wide": b"a,b\n1,2\n3,4,5\n",
    "a line of spaces": b"a,b\n1,2\n   \n3,4\n",
    "a blank first line": b"\na,b\n1,2\n",
    "a header only": b"a,b\n",
    "a header without a line end": b"a,b",
    "empty": b"",
    "a duplicate name": b"a,b,a\n1,2,3\n",
    "an empty name": b"a,,c\n1,2,3\n",
    "semicolons": b"a;b\n1;2\n",
    "too many columns": b"a,b,c\n1,2,3\n",
    "a long header name": b"abcde,b\n1,2\n",
    "a long cell": b"a,b\n1,2\n3,00004\n",
    "too many rows": b"a,b\n1,2\n3,4\n5,6\n",
}


@pytest.mark.parametrize(
    "data", LEFT_TO_THE_GENERAL_READER.values(), ids=LEFT_TO_THE_GENERAL_READER.keys()
)
def test_what_it_cannot_vouch_for_is_left_to_the_general_reader(data):
    bounds = tables.Bounds(rows=2, columns=2, cell=4)
    assert numeric_csv.read(data, bounds) is None


def test_a_long_line_of_short_cells_is_read_fast():
    # the line is over the cell limit, its cells are not: the finer count lets it through
    data = ("a,b,c,d\n" + "1.25,2.50,3.75,4.00\n" * 3).encode()
    assert_same(data, tables.Bounds(rows=10, columns=4, cell=4))


def stored_columns(client, registry, data: bytes) -> tuple[dict, dict[str, bytes]]:
    r = client.post("/datasets", data=data, headers={"Content-Type": "text/csv"})
    assert r.status_code == 201, r.get_json()
    dataset = r.get_json()
    blobs = registry.dataset_columns(dataset["id"], list(range(dataset["n_columns"])))
    names = [c["name"] for c in dataset["columns"]]
    return dataset, dict(zip(names, blobs, strict=True))


def test_a_mixed_tables_numbers_are_stored_as_the_same_numbers_alone(client, registry):
    # the mixed table goes the general way, its numeric columns alone the fast way: the
    # stored bytes and descriptions agree
    rng = np.random.default_rng(3)
    n = 500
    x = spelled(rng, n)
    z = [f"{v:.17g}" for v in rng.standard_normal(n) * 1e6]
    text = [f"t{i % 7}" for i in range(n)]
    flag = ["true" if i % 3 else "false" for i in range(n)]
    mixed = "x,label,z,flag\n" + "".join(
        f"{a},{b},{c},{d}\n" for a, b, c, d in zip(x, text, z, flag, strict=True)
    )
    numbers = "x,z\n" + "".join(f"{a},{c}\n" for a, c in zip(x, z, strict=True))
    bounds = tables.Bounds.of(client.application.extensions["nnjobs"].settings)
    assert numeric_csv.read(mixed.encode(), bounds) is None
    assert numeric_csv.read(numbers.encode(), bounds) is not None
    whole, whole_blobs = stored_columns(client, registry, mixed.encode())
    alone, alone_blobs = stored_columns(client, registry, numbers.encode())
    assert [c["kind"] for c in whole["columns"]] == ["numeric", "text", "numeric", "boolean"]
    for name in ("x", "z"):
        assert whole_blobs[name] == alone_blobs[name]
        described = {c["name"]: c for c in whole["columns"]}[name]
        assert described == {c["name"]: c for c in alone["columns"]}[name]
    assert whole["n_rows"] == alone["n_rows"] == n


def test_an_upload_of_numbers_is_refused_as_before(client, registry):
    # the fast reader turns these away; the general reader refuses them by row and column
    for body, says in [
        (b"a,b\n1,2\n3,-inf\n", "column 'b', data row 2: '-inf' is not a finite number"),
        (b"a,b\n1,2\n3\n", "data row 2 (line 3) has 1 fields"),
        (b"a,b\n1,2\n3,4,5\n", "data row 2 (line 3) has 3 fields"),
    ]:
        r = client.post("/datasets", data=body, headers={"Content-Type": "text/csv"})
        assert r.status_code == 422 and says in r.get_json()["message"], r.get_json()
    assert client.get("/datasets").get_json()["total"] == 0


TOKENS = [
    *("1", "-2.5", "+3", ".5", "5.", "1e5", "1E-3", "-0", "007", "99999999999999999999"),
    *("4.9e-324", "1.7976931348623157e308", "1e-400", " 1", "1 ", "\t2", "2\t"),
    *("nan", "NaN", "NAN", "NA", "N/A", "null", "NULL", "", " NA"),
    *("inf", "-inf", "1e400", "1_0", "x", "true", "1e", "e1", ".", "-", "0x1", "1.2.3"),
    *("\x00", "\x0c1", "1\x1f", "nan(1)"),
]


def test_random_tables_either_come_out_as_the_general_readers_or_go_to_it():
    rng = np.random.default_rng(11)
    bounds = tables.Bounds(rows=50, columns=6, cell=12)
    fast_answers = 0
    for _ in range(3000):
        k = int(rng.integers(1, 5))
        end = ["\n", "\r\n"][int(rng.integers(0, 2))]
        lines = [",".join(f"c{j}" for j in range(k))]
        for _ in range(int(rng.integers(0, 6))):
            width = k if rng.random() < 0.95 else int(rng.integers(1, k + 2))
            lines.append(",".join(TOKENS[int(i)] for i in rng.integers(0, len(TOKENS), width)))
            if rng.random() < 0.05:
                lines.append(["", " ", "  "][int(rng.integers(0, 3))])
        data = (end.join(lines) + [end, ""][int(rng.integers(0, 2))]).encode()
        if numeric_csv.read(data, bounds) is not None:
            fast_answers += 1
            assert_same(data, bounds)
    assert fast_answers > 100  # the fast reader was tried, not only turned away
