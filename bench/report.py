"""The records of ``make bench BENCH_ARGS=--json`` as one Markdown table.

    make bench BENCH_ARGS=--json | tee bench.jsonl
    python bench/report.py bench.jsonl          # or: ... | python bench/report.py

Each benchmark prints one JSON object per figure with ``bench``, ``name`` (or ``config``),
``value``, ``goal`` and ``better``; this prints a row per figure with its verdict, and
where a record keeps its rounds (``rounds``, ``runs``, ``all`` values or ``min``/``max``),
their range, so that the table shows every run and not only the median. Lines that are
not JSON objects (pip's, make's) are skipped.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable

ROUND_KEYS = ("runs", "rounds", "ratios", "fractions", "repeats", "all_shares", "runs_p50_ms")


def records(lines: Iterable[str]) -> list[dict]:
    """The JSON objects among ``lines`` that carry a ``value``."""
    out = []
    for line in lines:
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and "value" in row:
            out.append(row)
    return out


def verdict(row: dict) -> str:
    """PASS or MISS against the record's goal, or ``-`` for a figure without one."""
    goal, value = row.get("goal"), row.get("value")
    if goal is None or not isinstance(value, int | float):
        return "-"
    met = value >= goal if row.get("better") == "higher" else value <= goal
    return "PASS" if met else "MISS"


def number(x) -> str:
    if isinstance(x, bool) or not isinstance(x, int | float):
        return str(x)
    return f"{x:,.3g}" if abs(x) < 1000 else f"{x:,.0f}"


def spread(row: dict) -> str:
    """Every run's value where the record lists them, else its min-max."""
    for key in ROUND_KEYS:
        values = row.get(key)
        if isinstance(values, list) and all(isinstance(v, dict) and "ratio" in v for v in values):
            values = [v["ratio"] for v in values]
        if isinstance(values, list) and values and all(isinstance(v, int | float) for v in values):
            return ", ".join(number(v) for v in values)
    if isinstance(row.get("min"), int | float) and isinstance(row.get("max"), int | float):
        return f"{number(row['min'])}-{number(row['max'])}"
    return ""


def figure(row: dict) -> str:
    parts = [str(row[k]) for k in ("config", "name") if row.get(k) is not None]
    return " ".join(parts) or "?"


def table(rows: list[dict]) -> str:
    lines = [
        "| benchmark | figure | value | runs | goal | result |",
        "| --- | --- | ---: | --- | --- | --- |",
    ]
    for row in rows:
        goal = row.get("goal")
        sign = ">=" if row.get("better") == "higher" else "<="
        goal_text = "none" if goal is None else f"{sign} {number(goal)}"
        lines.append(
            f"| {row.get('bench', '?')} | {figure(row)} | {number(row['value'])} | "
            f"{spread(row)} | {goal_text} | {verdict(row)} |"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        with open(argv[1], encoding="utf-8") as f:
            rows = records(f)
    else:
        rows = records(sys.stdin)
    print(table(rows))
    missing = [figure(r) for r in rows if "better" not in r]
    if missing:
        print(f"\nrecords without `better`: {', '.join(missing)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
