"""README.md and docs/*.md: every code block is either run by the tests or marked as not
run (tests/doc_examples.py says how; tests/test_run.py runs them against a live
service), and every relative link points to a file that exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from doc_examples import PAGES, ROOT, RUN, blocks

# Pages the docs link to that another change adds: the configuration reference is generated
# from the settings table, so it is not written here.
ADDED_ELSEWHERE = {"docs/configuration.md"}

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)


def page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


def test_the_pages_are_there():
    names = {page_id(page) for page in PAGES}
    assert {"README.md", "docs/api.md", "docs/cli.md", "docs/library.md"} <= names


def test_the_readme_stays_short():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 150


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_block_is_run_or_marked(page):
    found, problems = blocks(page)
    assert problems == []
    for block in found:
        if block.lang in RUN and not block.not_run:
            assert "```" not in block.text, f"{block.where}: a fence left open"


def test_the_readme_runs_its_example():
    found, _ = blocks(ROOT / "README.md")
    run = [b for b in found if b.lang in RUN and not b.not_run]
    assert len(run) == 1 and len(run[0].text.splitlines()) == 5, run
    assert "examples/iris.csv" in run[0].text


def test_the_convention_is_enforced(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "```\nmake run\n```\n\n    $ curl -s x\n\n"
        "<!-- not run: output -->\n```text\nok\n```\n"
        "<!-- not run: needs Docker -->\n```sh\ndocker compose up\n```\n"
    )
    found, problems = blocks(page)
    assert [b.not_run is not None for b in found] == [False, True, True]
    assert len(problems) == 3, problems  # no language, indented command, marker on text


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_relative_links_point_to_files(page):
    broken = []
    for target in LINK.findall(page.read_text()):
        if EXTERNAL.match(target) or target.startswith("#"):
            continue
        path = (page.parent / target.split("#")[0]).resolve()
        if path.relative_to(ROOT).as_posix() in ADDED_ELSEWHERE:
            continue
        if not path.exists():
            broken.append(target)
    assert broken == []


def test_links_to_headings_find_them():
    """A link to another page's section names a heading of that page (GitHub's anchors)."""

    def anchors(page: Path) -> set[str]:
        headings = re.findall(r"^#+ (.+)$", page.read_text(), re.M)
        return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}

    broken = []
    for page in PAGES:
        for target in LINK.findall(page.read_text()):
            if EXTERNAL.match(target) or "#" not in target:
                continue
            file, anchor = target.split("#", 1)
            linked = (page.parent / file).resolve() if file else page
            if linked.relative_to(ROOT).as_posix() in ADDED_ELSEWHERE:
                continue
            if linked.suffix == ".md" and anchor not in anchors(linked):
                broken.append(f"{page_id(page)}: {target}")
    assert broken == []
