"""Write examples/iris.csv from scikit-learn's copy of Fisher's iris data (150 rows).

Run by ``make examples/iris.csv``; the file is kept in the repository, so this only
needs running to write it again.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from sklearn.datasets import load_iris

HEADER = ["sepal_length", "sepal_width", "petal_length", "petal_width", "species"]


def main(path: str = "examples/iris.csv") -> None:
    iris = load_iris()
    with Path(path).open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(HEADER)
        for row, target in zip(iris.data, iris.target, strict=True):
            writer.writerow([*(f"{v:g}" for v in row), iris.target_names[target]])


if __name__ == "__main__":
    main(*sys.argv[1:])
