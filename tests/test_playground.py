"""The playground in a real browser: headless Chromium (Debian's ``chromium``) driven by
Playwright, against the service run as `make run` runs it (API under gunicorn, a Celery
worker, the tests' throwaway Redis).

With ``NNJOBS_PLAYGROUND_SCREENSHOT=<file.png>`` set, the sweep test saves a screenshot of
the whole page there; `make screenshot` makes docs/playground.png that way.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from live_service import READY_LINE, RunningService, run_env
from playwright.sync_api import Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = os.environ.get("NNJOBS_PLAYGROUND_SCREENSHOT")
TIMEOUT_MS = 90_000

pytestmark = pytest.mark.slow


def install_chromium() -> str:
    """Try to install Debian's chromium; the reason it is still missing, if it is."""
    if not shutil.which("apt-get"):
        return "there is no apt-get on this machine to install the chromium package with"
    if os.geteuid() != 0:
        return "installing the chromium package needs root (apt-get install -y chromium)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]
    out = ""
    for commands in ([install], [["apt-get", "update"], install]):
        for command in commands:
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1200)
            out = (done.stdout + done.stderr)[-600:]
            if done.returncode:
                break
        if CHROMIUM.exists():
            return ""
    return f"apt-get could not install chromium: {out}"


@pytest.fixture(scope="module")
def chromium() -> str:
    if not CHROMIUM.exists():
        reason = install_chromium()
        if not CHROMIUM.exists():
            pytest.skip(f"NO BROWSER, THE PLAYGROUND WAS NOT TESTED IN ONE: {reason}")
    return str(CHROMIUM)


@pytest.fixture(scope="module")
def service(tmp_path_factory, redis_url):
    prefix = f"nnjobs-test-pg-{uuid.uuid4().hex[:8]}"
    running = RunningService(run_env(tmp_path_factory.mktemp("pg"), prefix, REDIS_URL=redis_url))
    try:
        yield running.start()
    finally:
        running.cleanup()


@pytest.fixture(scope="module")
def browser(chromium):
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True)
        yield browser
        browser.close()


class Console:
    """The page's console errors and uncaught exceptions (a CSP violation is one)."""

    def __init__(self, page: Page):
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))


def open_page(browser, service, width=1280, height=900) -> tuple[Page, Console]:
    page = browser.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(TIMEOUT_MS)
    console = Console(page)
    page.goto(service.url + "/")
    page.wait_for_selector("body[data-ready=true]")
    return page, console


@pytest.fixture
def page(browser, service):
    page, console = open_page(browser, service)
    yield page
    page.close()
    assert console.errors == []


def set_up(page: Page, dataset: str, units: list[int], activation: str, epochs: int, noise=2):
    page.check(f"#dataset-{dataset}")
    page.focus("#noise")
    page.keyboard.press("Home")
    for _ in range(noise):
        page.keyboard.press("ArrowRight")  # a step of 0.01
    assert page.input_value("#noise") == f"{noise / 100:g}"
    while page.locator(".layer").count() > len(units):
        page.click("#layer-0-remove")
    while page.locator(".layer").count() < len(units):
        page.click("#add-layer")
    for i, n in enumerate(units):
        page.fill(f"#layer-{i}-units", str(n))
        page.select_option(f"#layer-{i}-activation", activation)
    page.select_option("#learning-rate", "0.03")
    page.fill("#epochs", str(epochs))
    page.fill("#batch-size", "16")
    page.fill("#n-samples", "300")


def canvas_pixels(page: Page, selector: str) -> dict:
    """The canvas's size, the extent of the plane it shows, and its RGB pixels."""
    return page.eval_on_selector(
        selector,
        """c => ({
            width: c.width, height: c.height, extent: Number(c.dataset.extent),
            grid: Number(c.dataset.grid),
            model: c.dataset.model || null,
            rgb: Array.from(c.getContext("2d").getImageData(0, 0, c.width, c.height).data)
                 .filter((_, i) => i % 4 !== 3),
        })""",
    )


def drawn_points(service, canvas: dict) -> list[tuple[float, float]]:
    """Where the page drew the points of the model's training set, in canvas pixels (as
    the page's drawField places them)."""
    model = requests.get(f"{service.url}/models/{canvas['model']}", timeout=10).json()
    job = requests.get(f"{service.url}/jobs/{model['job_id']}", timeout=10).json()
    params = dict(job["spec"]["data"]["synthetic"])
    name = params.pop("name")
    points = requests.get(f"{service.url}/synthetic/{name}", params=params, timeout=10).json()
    w, h, half = canvas["width"], canvas["height"], canvas["extent"]
    return [((a + half) / (2 * half) * w, (half - b) / (2 * half) * h) for a, b in points["X"]]


def check_boundary(service, canvas: dict) -> None:
    """Where the model is sure, the map has the colour of its class: blue where the
    probability of class 1 is high, orange where it is low, as POST /predict says.

    The page colours a grid of cells by the prediction at each cell's centre and scales
    it up smoothly, so a pixel between two cells mixes their colours: each probe is the
    pixel at a cell's centre, compared with the prediction there."""
    w, h, half, grid = canvas["width"], canvas["height"], canvas["extent"], canvas["grid"]
    # the page's point radius, its white stroke and a pixel of antialiasing
    near = max(1.5, w / 140) + 2
    points = drawn_points(service, canvas)
    cells = [(c, r) for c in range(1, grid, 3) for r in range(2, grid, 3)]
    probes = {
        (int((c + 0.5) * w / grid), int((r + 0.5) * h / grid)): [
            -half + (c + 0.5) / grid * 2 * half,
            half - (r + 0.5) / grid * 2 * half,
        ]
        for c, r in cells
    }
    # not where a data point is drawn over the map
    probes = {
        (x, y): xy
        for (x, y), xy in probes.items()
        if all((x + 0.5 - px) ** 2 + (y + 0.5 - py) ** 2 > near**2 for px, py in points)
    }
    r = requests.post(
        service.url + "/predict",
        json={"model_id": canvas["model"], "inputs": list(probes.values())},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    sure = 0
    for (x, y), p in zip(probes, r.json()["probabilities"], strict=True):
        red, _, blue = canvas["rgb"][3 * (y * w + x) : 3 * (y * w + x) + 3]
        if abs(p - 0.5) < 0.3:
            continue  # too near the boundary to have a clear hue
        sure += 1
        assert (blue > red) == (p > 0.5), (x, y, p, red, blue)
    assert sure >= len(probes) // 4, f"only {sure} of {len(probes)} probes sure"


def loss_points(page: Page, line: str) -> int:
    d = page.get_attribute(f"#loss-chart path.line.{line}", "d") or ""
    return d.count("M") + d.count("L")


def test_training_a_spiral_draws_its_loss_live_and_its_boundary(page, service):
    # long enough to outlast several progress reports (one each 0.5 s) on a fast machine:
    # at 500 epochs (about half a second) the job could end before the page's long poll
    # saw a report, and the test then failed on idle machines only
    epochs = 3000
    set_up(page, "spiral", [16, 16], "relu", epochs)
    # the chart is redrawn at each poll: record how many epochs each drawing had
    page.evaluate(
        """() => {
            window.lossDrawn = [];
            new MutationObserver(() => {
                const p = document.querySelector("#loss-chart path.line.train");
                window.lossDrawn.push(p ? (p.getAttribute("d").match(/[ML]/g) || []).length : 0);
            }).observe(document.getElementById("loss-chart"), {childList: true});
        }"""
    )
    job_gets = []
    page.on("request", lambda r: job_gets.append(r.url) if "/jobs/" in r.url else None)
    page.click("#train")
    page.wait_for_selector("#boundary[data-model]")

    # followed with the long poll, not a polling loop, each answer bringing only the
    # epochs not drawn yet
    assert job_gets and all("?wait=" in url for url in job_gets), job_gets
    sinces = [int(parse_qs(urlparse(url).query)["since"][0]) for url in job_gets]
    assert sinces[0] == 0 and sinces == sorted(sinces) and sinces[-1] > 0, sinces
    drawn = page.evaluate("() => window.lossDrawn")
    assert any(0 < n < epochs for n in drawn), f"no partial curve drawn while training: {drawn}"
    assert loss_points(page, "train") == epochs
    assert loss_points(page, "val") == epochs

    canvas = canvas_pixels(page, "#boundary")
    check_boundary(service, canvas)
    model = requests.get(f"{service.url}/models/{canvas['model']}", timeout=10).json()
    job = requests.get(f"{service.url}/jobs/{model['job_id']}", timeout=10).json()
    assert job["status"] == "succeeded"
    assert [layer["activation"] for layer in job["spec"]["layers"]] == ["relu", "relu"]
    assert job["spec"]["data"]["synthetic"]["name"] == "spiral"
    val_accuracy = job["history"]["val_accuracy"][-1]
    assert page.text_content("#m-val-accuracy") == f"{val_accuracy:.3f}"
    assert page.text_content("#m-epoch") == f"{epochs} / {epochs}"
    assert "succeeded" in page.text_content("#status")
    assert page.locator("#warnings li").count() == len(job["warnings"])
    assert page.locator("#diagnostics tbody tr").count() == 2
    # the finished job's confusion matrix, as its evaluation has it
    matrix = job["evaluation"]["confusion_matrix"]
    assert page.is_visible("#confusion-table table")
    cells = page.eval_on_selector_all(
        "#confusion-table tbody tr",
        "rows => rows.map(r => [...r.querySelectorAll('td')].map(c => Number(c.textContent)))",
    )
    assert cells == matrix and sum(map(sum, matrix)) == job["evaluation"]["n_rows"]
    headers = page.eval_on_selector_all(
        "#confusion-table tbody th", "hs => hs.map(h => h.textContent)"
    )
    assert headers == [f"true {c}" for c in job["evaluation"]["classes"]]


def test_a_sweep_draws_one_boundary_per_activation_with_its_accuracy(browser, service):
    page, console = open_page(browser, service)
    # none ticked: the API's refusal, in its words
    for box in page.locator('input[name="sweep-activation"]').all():
        box.set_checked(False)
    page.click("#run-sweep")
    page.wait_for_selector("#error:not([hidden])")
    assert "vary.activation" in page.text_content("#error")
    assert page.locator(".multiple").count() == 0
    set_up(page, "spiral", [16, 16], "relu", 400)
    page.click("#train")
    page.wait_for_selector("#boundary[data-model]")
    chosen = ["linear", "tanh", "relu"]
    for box in page.locator('input[name="sweep-activation"]').all():
        box.set_checked(box.get_attribute("value") in chosen)
    page.click("#run-sweep")
    page.wait_for_selector(".multiple canvas[data-model]")
    page.locator(".multiple canvas[data-model]").nth(len(chosen) - 1).wait_for()
    items = page.locator(".multiple")
    assert items.count() == len(chosen)
    assert sorted(items.locator("h3").all_text_contents()) == sorted(chosen)
    sweep_id = page.text_content("#sweep-status").split()[1]
    sweep = requests.get(f"{service.url}/sweeps/{sweep_id}", timeout=10).json()
    board = {row["job_id"]: row for row in sweep["leaderboard"]}
    for i in range(len(chosen)):
        item = items.nth(i)
        job_id = item.get_attribute("data-job")
        row = board[job_id]
        assert f"{row['value']:.3f}" in item.locator(".score").text_content()
        canvas = canvas_pixels(page, f'.multiple[data-job="{job_id}"] canvas')
        check_boundary(service, canvas)
    if SCREENSHOT:
        page.screenshot(path=SCREENSHOT, full_page=True)
    # the browser's note of the refused request is the only console error
    assert len(console.errors) == 1 and "422" in console.errors[0], console.errors
    page.close()


def test_the_keyboard_alone_sets_up_and_starts_a_job(browser, service):
    page, console = open_page(browser, service)
    order = []
    for _ in range(60):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            """() => {
                const el = document.activeElement;
                const style = getComputedStyle(el);
                return {id: el.id, outline: style.outlineStyle, width: style.outlineWidth};
            }"""
        )
        order.append(focused["id"])
        # focus is visible on every control
        assert focused["outline"] != "none" and focused["width"] != "0px", focused
        if focused["id"] == "dataset-circle":
            page.keyboard.press("ArrowRight")  # the next dataset, xor
            assert page.evaluate("() => document.activeElement.id") == "dataset-xor"
        if focused["id"] == "epochs":
            page.keyboard.press("Control+A")
            page.keyboard.type("40")
        if focused["id"] == "train":
            break
    assert order[-1] == "train", order
    # the tab order follows the form: data, then the network, then training
    steps = ["dataset-circle", "noise", "n-samples", "layer-0-units", "add-layer", "epochs"]
    positions = [order.index(step) for step in steps]
    assert positions == sorted(positions), order
    page.keyboard.press("Enter")
    page.wait_for_selector("#boundary[data-model]")
    assert page.text_content("#m-epoch") == "40 / 40"
    assert page.text_content("#m-val-accuracy") != "–"
    model = page.get_attribute("#boundary", "data-model")
    job_id = requests.get(f"{service.url}/models/{model}", timeout=10).json()["job_id"]
    job = requests.get(f"{service.url}/jobs/{job_id}", timeout=10).json()
    assert job["spec"]["data"]["synthetic"]["name"] == "xor"
    assert job["spec"]["training"]["epochs"] == 40
    assert console.errors == []
    page.close()


def test_the_job_s_warnings_and_diagnostics_are_shown(page, service):
    # six sigmoid layers: the first layer's gradient vanishes
    set_up(page, "circle", [8] * 6, "sigmoid", 40)
    page.click("#train")
    page.wait_for_selector("#boundary[data-model]")
    model = page.get_attribute("#boundary", "data-model")
    job_id = requests.get(f"{service.url}/models/{model}", timeout=10).json()["job_id"]
    job = requests.get(f"{service.url}/jobs/{job_id}", timeout=10).json()
    assert "vanishing_gradients" in {w["code"] for w in job["warnings"]}
    shown = page.locator("#warnings li").all_text_contents()
    assert len(shown) == len(job["warnings"])
    for text, warning in zip(shown, job["warnings"], strict=True):
        assert text.startswith(warning["code"]) and warning["message"] in text
    rows = page.locator("#diagnostics tbody tr")
    assert rows.count() == len(job["history"]["diagnostics"]) == 6
    first = rows.nth(0).locator("td").all_text_contents()
    grad_norm = job["history"]["diagnostics"][0]["grad_norm"][-1]
    assert first[:3] == ["1", "sigmoid", "8"] and first[3] == f"{grad_norm:.4f}"
    # the button next to a warning tests its fix: the sweep shows in the sweep panel
    page.locator("#warnings li button.fix").first.click()
    page.wait_for_selector(".multiple")
    sweep_id = page.text_content("#sweep-status").split()[1]
    sweep = requests.get(f"{service.url}/sweeps/{sweep_id}", timeout=10).json()
    assert sweep["vary"] == job["warnings"][0]["fix"]["vary"]
    assert page.locator(".multiple").count() == sweep["n_jobs"]


def test_the_activation_catalogue_is_shown_beside_the_layer_picker(page, service):
    catalogue = requests.get(f"{service.url}/activations", timeout=10).json()["items"]
    hidden = [a["name"] for a in catalogue if "hidden" in a["usage"]]
    options = page.locator("#layer-0-activation option").all_text_contents()
    assert options == hidden
    leaky = next(a for a in catalogue if a["name"] == "leaky_relu")
    page.select_option("#layer-0-activation", "leaky_relu")
    assert page.text_content("#activation-info-title") == "Layer 1: leaky_relu"
    assert leaky["formula"] in page.text_content("#activation-formula")
    assert "Pitfall" in page.text_content("#activation-notes")
    # its own parameter, with the catalogue's default, feeds the curve and the job
    [alpha] = leaky["params"]
    assert float(page.input_value("#layer-0-alpha")) == alpha["default"]
    page.fill("#layer-0-alpha", "0.25")
    with page.expect_response(lambda r: "/activations/leaky_relu?" in r.url) as answer:
        page.dispatch_event("#layer-0-alpha", "change")
    assert "alpha=0.25" in answer.value.url
    curve = answer.value.json()["curve"]
    assert curve["params"] == {"alpha": 0.25}
    page.wait_for_selector("""#activation-curve[data-params='{"alpha":0.25}']""")
    d = page.get_attribute("#activation-curve path.function", "d")
    assert d.count("L") == len(curve["x"]) - 1
    page.fill("#epochs", "20")
    page.click("#train")
    page.wait_for_selector("#boundary[data-model]")
    model = page.get_attribute("#boundary", "data-model")
    job_id = requests.get(f"{service.url}/models/{model}", timeout=10).json()["job_id"]
    spec = requests.get(f"{service.url}/jobs/{job_id}", timeout=10).json()["spec"]
    assert spec["layers"][0]["activation"] == "leaky_relu"
    assert spec["layers"][0]["alpha"] == 0.25


def test_a_running_job_can_be_cancelled(page, service):
    set_up(page, "circle", [8], "tanh", 50_000)
    page.click("#train")
    page.wait_for_selector("#m-epoch:not(:text('–'))")
    assert page.is_enabled("#cancel")
    page.click("#cancel")
    page.wait_for_selector("#status:has-text('cancelled')")
    assert page.is_disabled("#cancel")
    assert page.get_attribute("#boundary", "data-model") is None


def test_api_errors_are_shown_in_words_on_the_field(browser, service):
    page, console = open_page(browser, service)
    page.fill("#layer-0-units", "0")
    page.click("#train")
    page.wait_for_selector("#error:not([hidden])")
    text = page.text_content("#error")
    assert "HTTP 422" in text and "layers.0.units" in text and "must be in [1, " in text
    assert page.get_attribute("#layer-0-units", "aria-invalid") == "true"
    page.fill("#n-samples", "2")
    page.wait_for_selector("#n-samples[aria-invalid=true]")
    assert "n_samples" in page.text_content("#error")
    # the only console errors are the browser's notes of the two refused requests
    assert all("422" in e for e in console.errors), console.errors
    page.close()


def test_a_narrow_screen_needs_no_sideways_scrolling(browser, service):
    page, console = open_page(browser, service, width=360, height=740)
    overflow = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    assert page.evaluate(overflow) <= 0
    set_up(page, "circle", [4, 4, 4], "tanh", 30)
    page.click("#train")
    page.wait_for_selector("#boundary[data-model]")
    assert page.evaluate(overflow) <= 0
    box = page.locator("#boundary").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 360
    assert console.errors == []
    page.close()


def test_with_api_keys_the_page_asks_for_one(browser, redis_url, tmp_path):
    key = "pg-key-0123456789"
    env = run_env(tmp_path, f"nnjobs-test-pg-{uuid.uuid4().hex[:8]}", REDIS_URL=redis_url)
    keyed = RunningService({**env, "API_KEYS": key})
    try:
        # /readyz needs the key too; the page needs no worker to load
        keyed.process.wait_for_line(READY_LINE, 90)
        page = browser.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(keyed.url + "/")
        page.wait_for_selector("#key-panel:not([hidden])")
        assert page.evaluate("() => document.activeElement.id") == "api-key"
        assert "API key is required" in page.text_content("#error")
        page.keyboard.type(key)
        page.keyboard.press("Enter")
        page.wait_for_selector("body[data-ready=true]")
        assert page.is_hidden("#error")
        assert page.locator('input[name="dataset"]').count() >= 5
        page.close()
    finally:
        keyed.cleanup()
