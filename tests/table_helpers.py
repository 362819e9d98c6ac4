"""A mixed table for the tests of tables: made here, with numeric, text, boolean and
number-coded categorical columns and missing cells in several of them."""

from __future__ import annotations

import csv
import io
import random


def mixed_table(n: int = 120, seed: int = 0) -> tuple[dict, list]:
    """Numeric, text, boolean and number-coded categorical columns, with missing cells in
    several, and a label that depends on all four."""
    rng = random.Random(seed)
    table = {"length": [], "island": [], "tagged": [], "zip": []}
    labels = []
    for i in range(n):
        length = round(rng.gauss(40, 5), 1)
        island = rng.choice(["Biscoe", "Dream", "Torgersen"])
        tagged = rng.random() < 0.5
        zipcode = rng.choice([94110, 10001, 60601])
        score = (length - 40) / 5 + (island == "Dream") - tagged + (zipcode == 10001)
        labels.append("big" if score > 0 else "small")
        table["length"].append(None if i % 9 == 0 else length)
        table["island"].append(None if i % 11 == 0 else island)
        table["tagged"].append(tagged)
        table["zip"].append(zipcode)
    return table, labels


def category(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip()


def encode_row(prep: dict, row: dict) -> list[float]:
    """A raw row as the model's inputs, written out from the preparation's description:
    the check that the model's own encoding follows what it shows."""
    out: list[float] = []
    for f in prep["features"]:
        value = row.get(f["name"])
        missing = value is None or (isinstance(value, str) and value.strip() in ("", "NA"))
        if f["kind"] == "numeric":
            out.append(f["median"] if missing else float(value))
            if f["indicator"]:
                out.append(float(missing))
            continue
        levels = [*f["categories"], "<other>"] + (["<missing>"] if f["missing_level"] else [])
        hot = "<missing>" if missing and f["missing_level"] else category(value)
        hot = hot if hot in levels else "<other>"
        out += [float(level == hot) for level in levels]
    return out


RAW_ROWS = [
    # shuffled keys, an extra column, a missing cell, an unseen category, text numbers
    {"zip": 10001, "extra": "x", "tagged": True, "island": "Dream", "length": 44.5},
    {"island": "Atlantis", "length": 38.0, "zip": 94110, "tagged": False},
    {"length": None, "island": None, "tagged": "true", "zip": "60601"},
    {"tagged": False, "zip": 12345, "length": "41.5"},
]


def csv_text(table: dict, labels: list) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*table, "species"])
    for i, label in enumerate(labels):
        cells = ["" if table[c][i] is None else category(table[c][i]) for c in table]
        writer.writerow([*cells, label])
    return out.getvalue()
