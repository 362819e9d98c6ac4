"""How a model's evaluation and feature importances are printed: its metrics, the
confusion matrix, and the features that matter most."""

from __future__ import annotations

from rich.table import Table

from ..evaluation import SCALARS
from .common import out

#: features listed after `nnjobs train`; `nnjobs show` lists them all
TOP_FEATURES = 5
#: the per-class table and the matrix show this many classes at most
SHOWN_CLASSES = 20


def _number(value) -> str:
    if not isinstance(value, int | float):
        return "-"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.3g}"


def metrics_line(evaluation: dict) -> str:
    """``accuracy 0.950  macro_f1 0.948 ...`` of the evaluation's single numbers."""
    return "  ".join(
        f"{key} {evaluation[key]:.3f}"
        for key in SCALARS
        if isinstance(evaluation.get(key), int | float)
    )


def confusion_table(evaluation: dict) -> Table | None:
    """The confusion matrix (rows: true class, columns: predicted), or per label for a
    multi-label model; None when the evaluation has none."""
    matrix, classes = evaluation.get("confusion_matrix"), evaluation.get("classes") or []
    if not matrix:
        return None
    names = [str(c) for c in classes][:SHOWN_CLASSES]
    if isinstance(matrix[0][0], list):  # multi-label: [[tn, fp], [fn, tp]] per label
        table = Table("label", "tn", "fp", "fn", "tp", title="confusion per label")
        for name, ((tn, fp), (fn, tp)) in zip(names, matrix, strict=False):
            table.add_row(name, *(_number(v) for v in (tn, fp, fn, tp)))
        return table
    table = Table("true \\ predicted", *names, title="confusion matrix")
    for name, row in zip(names, matrix, strict=False):
        table.add_row(name, *(_number(v) for v in row[:SHOWN_CLASSES]))
    return table


def per_class_table(evaluation: dict) -> Table | None:
    if "precision" not in evaluation:
        return None
    table = Table("class", "precision", "recall", "f1", "support")
    columns = [evaluation[k] for k in ("precision", "recall", "f1", "support")]
    for i, name in enumerate((evaluation.get("classes") or [])[:SHOWN_CLASSES]):
        p, r, f, s = (column[i] for column in columns)
        table.add_row(str(name), f"{p:.3f}", f"{r:.3f}", f"{f:.3f}", _number(s))
    return table


def importance_table(importance: dict | None, top: int | None = None) -> Table | None:
    """The features, most important first (the ``top`` ones), with their spread."""
    if not importance or not importance.get("features"):
        return None
    scoring = importance.get("scoring", "score")
    table = Table("feature", f"importance ({scoring} lost)", "± std", title="feature importance")
    rows = zip(importance["features"], importance["mean"], importance["std"], strict=True)
    for i, (name, mean, std) in enumerate(rows):
        if top is not None and i >= top:
            break
        table.add_row(str(name), f"{mean:.4f}", f"{std:.4f}")
    return table


def print_evaluation(record: dict, top: int | None = None, matrix: bool = True) -> None:
    """A model's (or a succeeded job's) evaluation and importances, on stdout."""
    evaluation = record.get("evaluation") or {}
    if evaluation:
        where = f"on {evaluation.get('n_rows')} {evaluation.get('rows')} rows"
        out.print(f"[bold]evaluation[/] {where}: {metrics_line(evaluation)}")
    for table in (
        per_class_table(evaluation) if matrix else None,
        confusion_table(evaluation) if matrix else None,
        importance_table(record.get("importance"), top),
    ):
        if table is not None:
            out.print(table)
