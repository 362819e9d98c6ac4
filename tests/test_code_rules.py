"""Rules of the code base that a reader relies on, checked on every production module:
a helper that always raises says so (``NoReturn``), and a handler of every exception
either raises again or logs the traceback, so that no bug is swallowed in silence."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("nn", "registry", "domain", "service", "worker", "client", "scripts")


def sources() -> list[Path]:
    return sorted(p for top in PACKAGES for p in (ROOT / top).rglob("*.py"))


def _statements(function: ast.FunctionDef) -> list[ast.stmt]:
    body = function.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    return body


def always_raises(function: ast.FunctionDef) -> bool:
    """Its last statement raises and nothing in it returns or yields (an abstract method,
    raising NotImplementedError for its subclasses to override, does not count)."""
    body = _statements(function)
    if not body or not isinstance(body[-1], ast.Raise):
        return False
    raised = body[-1].exc
    if isinstance(raised, ast.Call):
        raised = raised.func
    if isinstance(raised, ast.Name) and raised.id == "NotImplementedError":
        return False
    nested = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
    inner = [n for n in ast.walk(function) if n is not function]
    own = [
        n
        for n in inner
        if not any(n in ast.walk(f) for f in inner if isinstance(f, nested) and f is not n)
    ]
    return not any(isinstance(n, ast.Return | ast.Yield | ast.YieldFrom) for n in own)


def test_helpers_that_always_raise_are_annotated_noreturn():
    wrong = []
    for path in sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and always_raises(node):
                annotation = ast.unparse(node.returns) if node.returns else ""
                if not annotation.endswith("NoReturn"):
                    wrong.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert not wrong


def _catches_everything(handler: ast.ExceptHandler) -> bool:
    names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return handler.type is None or any(
        isinstance(n, ast.Name) and n.id in ("Exception", "BaseException") for n in names
    )


def _reraises_or_logs_the_traceback(handler: ast.ExceptHandler) -> bool:
    for node in ast.walk(handler):
        if isinstance(node, ast.Raise):
            return True
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr == "exception":
                return True
            if any(k.arg == "exc_info" for k in node.keywords):
                return True
    return False


def test_every_catch_all_raises_again_or_logs_the_traceback():
    swallowed = []
    for path in sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.ExceptHandler)
                and _catches_everything(node)
                and not _reraises_or_logs_the_traceback(node)
            ):
                swallowed.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not swallowed


@pytest.mark.parametrize(
    ("code", "flagged"),
    [
        ("def f(x) -> None:\n    raise ValueError(x)\n", True),
        ("def f(x) -> NoReturn:\n    raise ValueError(x)\n", False),
        ("def f(x):\n    if x:\n        return 1\n    raise ValueError(x)\n", False),
        ("def f(self):\n    raise NotImplementedError\n", False),
        ("def f():\n    def g():\n        return 1\n    raise ValueError(g())\n", True),
    ],
)
def test_the_noreturn_rule_sees_what_it_should(code, flagged):
    function = ast.parse(code).body[0]
    annotated = ast.unparse(function.returns) if function.returns else ""
    assert (always_raises(function) and not annotated.endswith("NoReturn")) == flagged


@pytest.mark.parametrize(
    ("code", "flagged"),
    [
        ("try:\n    f()\nexcept Exception:\n    log.warning('no')\n", True),
        ("try:\n    f()\nexcept Exception:\n    log.exception('yes')\n", False),
        ("try:\n    f()\nexcept Exception:\n    log.warning('yes', exc_info=True)\n", False),
        ("try:\n    f()\nexcept BaseException:\n    undo()\n    raise\n", False),
        ("try:\n    f()\nexcept (KeyError, Exception):\n    pass\n", True),
        ("try:\n    f()\nexcept KeyError:\n    pass\n", False),
    ],
)
def test_the_catch_all_rule_sees_what_it_should(code, flagged):
    handler = ast.parse(code).body[0].handlers[0]
    assert (_catches_everything(handler) and not _reraises_or_logs_the_traceback(handler)) == (
        flagged
    )
