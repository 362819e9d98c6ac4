"""The examples of README.md and docs/*.md, read as the tests run them.

Every fenced block whose language is a shell (``sh``, ``bash``, ``shell``, ``console``) or
``python`` is run against a live service, unless the line before its fence is
``<!-- not run: <reason> -->``. Any other language (``text`` for output, ``json``,
``promql``...) is shown, never run. A fence without a language, or an indented code block
holding a command, is an error: a reader cannot tell whether it was checked.

What the examples show under a command is checked loosely, as output that holds ids,
times and trained numbers must be:

- ``sh``: comment lines right under a command are its answer. A JSON answer must hold every
  key shown (an answer may hold more), a string with ``...`` stands for any string, numbers
  agree to 0.05, lists have the same length. Other answers are compared line by line as
  ``console`` output is.
- ``console``: ``$ `` lines are commands, the lines under them their output. Each output
  line shown must appear in the actual output once ids and numbers are set aside; the
  lines only a terminal gets (the upload notice, the live progress bar) and table rows
  holding numbers (their rows depend on what else ran) are not compared.
- ``python``: the block runs as a script; an expression statement followed by comment
  lines is compared with them (read as a Python literal, ``array(...)`` as its list) as a
  JSON answer is.
"""

from __future__ import annotations

import ast
import contextlib
import json
import math
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
DOCS_URL = "http://127.0.0.1:8000"

SHELLS = {"sh", "bash", "shell", "console"}
RUN = SHELLS | {"python"}
NOT_RUN = re.compile(r"^<!-- not run: \S.*-->$")
FENCE = re.compile(r"^(\s*)```(\S*)\s*$")
# a command in an indented code block, which the runner would not see
INDENTED_COMMAND = re.compile(r"^ {4,}(\$ |curl |nnjobs |make |docker |celery |import |from )")


@dataclass
class Block:
    page: Path
    line: int  # of the opening fence, counting from 1
    lang: str
    text: str
    not_run: str | None  # the reason given, when it is not run

    @property
    def where(self) -> str:
        return f"{shown_path(self.page)}:{self.line}"


def shown_path(page: Path) -> str:
    return str(page.relative_to(ROOT)) if page.is_relative_to(ROOT) else page.name


def blocks(page: Path) -> tuple[list[Block], list[str]]:
    """The fenced blocks of a page, and what breaks the convention above."""
    found: list[Block] = []
    problems: list[str] = []
    lines = page.read_text().splitlines()
    before = ""  # the last non-blank line outside a block
    i = 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if not fence:
            if INDENTED_COMMAND.match(lines[i]):
                problems.append(f"{shown_path(page)}:{i + 1}: an indented command: fence it")
            if lines[i].strip():
                before = lines[i].strip()
            i += 1
            continue
        indent, lang = fence.groups()
        end = i + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        body = "\n".join(line.removeprefix(indent) for line in lines[i + 1 : end])
        marker = before if NOT_RUN.match(before) else None
        block = Block(page, i + 1, lang, body + "\n", marker)
        where = block.where
        if not lang:
            problems.append(f"{where}: a fence without a language (sh, python, text...)")
        elif marker and lang not in RUN:
            problems.append(f"{where}: 'not run' on a {lang} block, which never runs")
        found.append(block)
        before = ""
        i = end + 1
    return found, problems


# ------------------------------------------------------------------ comparing answers


def matches(shown, actual, path: str = "") -> list[str]:
    """Where ``actual`` differs from the answer shown (see the module's docstring)."""
    if isinstance(shown, dict):
        if not isinstance(actual, dict):
            return [f"{path}: {actual!r} is not an object"]
        problems = [f"{path}.{k}: missing" for k in shown if k not in actual]
        for key in shown.keys() & actual.keys():
            problems += matches(shown[key], actual[key], f"{path}.{key}")
        return problems
    if isinstance(shown, list):
        if not isinstance(actual, list) or len(actual) != len(shown):
            return [f"{path}: {actual!r} is not like {shown!r}"]
        pairs = enumerate(zip(shown, actual, strict=True))
        return [p for i, (s, a) in pairs for p in matches(s, a, f"{path}.{i}")]
    if isinstance(shown, str) and "..." in shown:
        return [] if isinstance(actual, str) else [f"{path}: {actual!r} is not a string"]
    if isinstance(shown, float) or (isinstance(shown, int) and isinstance(actual, float)):
        ok = isinstance(actual, int | float) and math.isclose(shown, actual, abs_tol=0.05)
        return [] if ok else [f"{path}: {actual!r} is not about {shown!r}"]
    return [] if shown == actual else [f"{path}: {actual!r} != {shown!r}"]


ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
HEX_ID = re.compile(r"\b[0-9a-f]{32}\b|\b[0-9a-f]{8}\.\.\.")
NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")
BOX = re.compile(r"[\u2500-\u259f]+")
TABLE_ROW = re.compile(r"[│┃].*\d")
# drawn on a terminal only: a pipe gets neither the upload notice nor the live bar
TERMINAL_ONLY = re.compile(r"^uploading |━")


def skeleton(line: str) -> str:
    """A line of output with its ids, numbers and table borders set aside."""
    line = NUMBER.sub("0", HEX_ID.sub("<id>", ANSI.sub("", line)))
    return " ".join(BOX.sub(" ", line).split())


def lines_missing(shown: list[str], output: str) -> list[str]:
    """The lines shown that the output does not hold (see the module's docstring)."""
    actual = [skeleton(line) for line in output.splitlines()]
    missing = []
    for line in shown:
        if TERMINAL_ONLY.search(line) or TABLE_ROW.search(line):
            continue
        wanted = skeleton(line)
        if wanted and not any(wanted in seen for seen in actual):
            missing.append(line)
    return missing


def answer_problems(shown: list[str], output: str) -> list[str]:
    text = " ".join(shown)
    if text.startswith(("{", "[")):
        try:
            actual = json.loads(output)
        except ValueError:
            return [f"the answer is not JSON: {output!r}"]
        return matches(json.loads(text), actual)
    return [f"not in the output: {line!r}" for line in lines_missing(shown, output)]


# ------------------------------------------------------------------ running them


def sh_steps(script: str) -> list[tuple[str, list[str]]]:
    """(command, the comment lines under it) pairs of an ``sh`` block."""
    out: list[tuple[str, list[str]]] = []
    command: list[str] = []
    comments: list[str] = []
    for line in script.splitlines():
        if line.startswith("#"):
            comments.append(line[1:].strip())
            continue
        if comments or not line.strip():
            if command:
                out.append(("\n".join(command), comments))
            command, comments = [], []
        if line.strip():
            command.append(line)
    if command:
        out.append(("\n".join(command), comments))
    return out


def console_steps(text: str) -> list[tuple[str, list[str]]]:
    """(command, the output lines under it) pairs of a ``console`` block."""
    out: list[tuple[str, list[str]]] = []
    lines = iter(text.splitlines())
    for line in lines:
        if line.startswith("$ "):
            command = line[2:]
            while command.endswith("\\"):
                command += "\n" + next(lines)
            out.append((command, []))
        elif out:
            out[-1][1].append(line)
        else:
            raise AssertionError(f"output before any command: {line!r}")
    return out


def shell_env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NNJOBS_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["NNJOBS_URL"] = url
    return env


def run_shell(block: Block, url: str, cwd: Path) -> int:
    """Run an ``sh`` or ``console`` block; returns how many answers it compared."""
    text = block.text.replace(DOCS_URL, url)
    steps = console_steps(text) if block.lang == "console" else sh_steps(text)
    checked = 0
    for command, shown in steps:
        result = subprocess.run(
            ["bash", "-c", "set -eo pipefail\n" + command],
            cwd=cwd,
            env=shell_env(url),
            capture_output=True,
            text=True,
            timeout=120,
        )
        said = f"{block.where}: {command}\n{result.stdout}\n{result.stderr}"
        assert result.returncode == 0, said
        if shown:
            output = result.stdout if block.lang != "console" else result.stdout + result.stderr
            assert answer_problems(shown, output) == [], said
            checked += 1
    return checked


def plain(value):
    """A value as the JSON it would be: NumPy arrays and tuples as lists."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def run_python(block: Block, url: str, cwd: Path) -> int:
    """Run a ``python`` block; returns how many answers it compared."""
    source = block.text.replace(DOCS_URL, url)
    lines = source.splitlines()
    tree = ast.parse(source)
    shown: list[list[str]] = []
    for node in tree.body:
        comments = []
        for line in lines[node.end_lineno :]:
            if not line.startswith("#"):
                break
            comments.append(line[1:].strip())
        if isinstance(node, ast.Expr) and comments:
            node.value = ast.Call(
                ast.Name("_shown_", ast.Load()), [ast.Constant(len(shown)), node.value], []
            )
            shown.append(comments)
    ast.fix_missing_locations(tree)
    seen: dict[int, object] = {}
    namespace = {"_shown_": seen.__setitem__, "__name__": "__docs__"}
    with contextlib.chdir(cwd):
        exec(compile(tree, block.where, "exec"), namespace)
    as_literal = {"array": lambda values, dtype=None: values, "__builtins__": {}}
    for i, comments in enumerate(shown):
        expected = plain(eval(" ".join(comments), as_literal))
        assert matches(expected, plain(seen[i])) == [], f"{block.where}: {seen[i]!r}"
    return len(shown)


def run_page(page: Path, url: str, cwd: Path) -> int:
    """Run every example of a page that is to be run, in order; returns how many answers
    were compared. ``cwd`` must hold ``examples/``, as the examples name its files."""
    checked = 0
    for block in blocks(page)[0]:
        if block.lang in RUN and not block.not_run:
            runner = run_python if block.lang == "python" else run_shell
            checked += runner(block, url, cwd)
    return checked


def runnable(page: Path) -> bool:
    return any(b.lang in RUN and not b.not_run for b in blocks(page)[0])
