"""GET / serves the playground: a page, its script and its style from the package, under a
strict Content-Security-Policy, with nothing fetched from elsewhere. (The page at work in a
browser is tests/test_playground.py.)"""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from html.parser import HTMLParser

import pytest
from api_helpers import error, make_app
from live_service import ROOT

from service import create_app
from service.playground import STATIC

ASSET_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}
# the one absolute URL in the assets: SVG's namespace, a name that is never fetched
NAMESPACES = {"http://www.w3.org/2000/svg"}


class Page(HTMLParser):
    """What the page's markup loads and runs."""

    def __init__(self):
        super().__init__()
        self.assets: list[str] = []
        self.inline_scripts = 0
        self.inline_handlers: list[str] = []
        self.style_attributes = 0
        self.style_elements = 0
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script":
            if attrs.get("src"):
                self.assets.append(attrs["src"])
            else:
                self._in_script = True
        if tag == "link" and attrs.get("rel") == "stylesheet":
            self.assets.append(attrs["href"])
        if tag == "style":
            self.style_elements += 1
        self.inline_handlers += [name for name in attrs if name.startswith("on")]
        self.style_attributes += "style" in attrs

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.inline_scripts += 1


@pytest.fixture(scope="module")
def app():
    # serving files needs no Redis
    return create_app({"TESTING": True})


@pytest.fixture(scope="module")
def page(app):
    r = app.test_client().get("/")
    assert r.status_code == 200
    parsed = Page()
    parsed.feed(r.get_data(as_text=True))
    return r, parsed


def test_the_page_is_html_under_a_strict_policy(page):
    r, _ = page
    assert r.mimetype == "text/html"
    assert r.mimetype_params.get("charset") == "utf-8"
    policy = dict(
        directive.strip().split(" ", 1)
        for directive in r.headers["Content-Security-Policy"].split(";")
    )
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert policy["connect-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert "unsafe" not in r.headers["Content-Security-Policy"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_the_page_runs_nothing_inline(page):
    _, parsed = page
    assert parsed.inline_scripts == 0
    assert parsed.inline_handlers == []
    assert parsed.style_attributes == 0
    assert parsed.style_elements == 0


def test_every_asset_the_page_loads_is_served_with_its_type(app, page):
    _, parsed = page
    assert sorted(parsed.assets) == ["/playground/app.js", "/playground/style.css"]
    client = app.test_client()
    for path in parsed.assets:
        r = client.get(path)
        assert r.status_code == 200, path
        assert r.mimetype == ASSET_TYPES[path[path.rindex(".") :]], path
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.get_data() == (STATIC / path.rsplit("/", 1)[1]).read_bytes()


def test_the_assets_name_no_other_site():
    files = sorted(STATIC.iterdir())
    assert {f.name for f in files} == {"index.html", "app.js", "style.css"}
    for path in files:
        text = path.read_text()
        urls = set(re.findall(r"""(?:https?:)?//[\w.-]+\.[a-z]{2,}[^\s"'`)]*""", text))
        assert urls <= NAMESPACES, (path.name, urls - NAMESPACES)
        assert "@import" not in text and "url(" not in text, path.name
        assert "eval(" not in text and "new Function" not in text, path.name


def test_paths_outside_the_assets_are_404(app):
    client = app.test_client()
    for path in ("/playground/../app.py", "/playground/%2e%2e/app.py", "/playground/nope.js"):
        error(client.get(path), 404)


def test_the_page_is_not_part_of_the_api_document(app):
    paths = app.test_client().get("/openapi.json").get_json()["paths"]
    assert "/" not in paths
    assert not any(p.startswith("/playground") for p in paths)


def test_the_page_stays_public_when_the_api_needs_a_key(redis_url, key_prefix):
    client = make_app(redis_url, key_prefix, API_KEYS="k-0123456789abcdef").test_client()
    for path in ("/", "/playground/app.js", "/playground/style.css"):
        assert client.get(path).status_code == 200, path
    # what the page asks of the API needs the key, which the page then asks for
    error(client.get("/synthetic"), 401)
    assert (
        client.get("/synthetic", headers={"Authorization": "Bearer k-0123456789abcdef"}).status_code
        == 200
    )


@pytest.mark.slow
def test_the_wheel_carries_the_page(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", tmp_path, ROOT],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [wheel] = tmp_path.glob("nnjobs-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for asset in STATIC.iterdir():
        assert f"service/static/playground/{asset.name}" in names


def test_the_readme_shows_the_screenshot():
    readme = (ROOT / "README.md").read_text()
    assert "docs/playground.png" in readme
    assert (ROOT / "docs" / "playground.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
