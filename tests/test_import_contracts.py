"""The layers hold: the import contracts of pyproject.toml pass on the tree, and fail on a
copy of it with one import that breaks a contract."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("nn", "interop", "registry", "domain", "service", "worker", "client")
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(tree: Path) -> subprocess.CompletedProcess:
    # the tree's own packages first on the path, ahead of the installed ones
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def append(path: Path, line: str) -> None:
    path.write_text(path.read_text() + f"\n{line}\n")


def test_the_tree_keeps_every_contract():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("domain/jobs.py", "import flask  # noqa", "the domain knows nothing of HTTP"),
        ("service/sweeps.py", "from service import jobs  # noqa", "no blueprint imports another"),
        ("nn/__init__.py", "import registry  # noqa", "nn is a NumPy library"),
        ("worker/__init__.py", "import service  # noqa", "neither imports the other"),
        ("client/__init__.py", "import domain  # noqa", "the client speaks HTTP only"),
        ("registry/__init__.py", "import domain  # noqa", "the store imports neither"),
        ("interop/__init__.py", "import registry  # noqa", "the export formats use nn alone"),
        ("nn/__init__.py", "import onnx  # noqa", "nn is a NumPy library"),
    ],
)
def test_an_import_across_a_layer_breaks_its_contract(tree, module, line, contract):
    append(tree / module, line)
    result = lint_imports(tree)
    assert result.returncode == 1, result.stdout + result.stderr
    broken = [row for row in result.stdout.splitlines() if row.endswith("BROKEN")]
    assert len(broken) == 1 and contract in broken[0], result.stdout


def test_the_domain_runs_without_the_web_stack():
    code = (
        "import sys, domain.jobs, domain.sweeps, domain.prediction, domain.datasets, "
        "domain.synthetic; print([m for m in ('flask', 'werkzeug', 'flask_smorest', "
        "'marshmallow', 'webargs', 'service') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
