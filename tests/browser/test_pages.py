"""The built book as a reader sees it: every page opened in headless Chromium.

For each page of ``_build/html`` (served on localhost) the test asserts that no JavaScript
error or failed request was logged, every image loaded, no notebook output holds a
traceback or an error, and every saved widget was drawn. It writes a screenshot of each
page's opening to ``_build/screenshots`` for review.

``scripts/test.sh`` runs it after building the book, with ``SPLICER_BROWSER_TEST=required``
so that a missing browser fails instead of skipping. It needs Debian's ``chromium`` and
``chromium-driver`` (``scripts/test.sh`` installs them) and the ``selenium`` package.
"""

from __future__ import annotations

import functools
import http.server
import importlib.util
import json
import os
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HTML = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"
REQUIRED = os.environ.get("SPLICER_BROWSER_TEST") == "required"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
WIDGET_VIEW = 'script[type="application/vnd.jupyter.widget-view+json"]'


def _pages() -> list[str]:
    """The book's pages, in table-of-contents order where the build wrote one."""
    if not HTML.is_dir():
        return []
    skip = {"genindex.html", "search.html", "py-modindex.html"}
    return sorted(p.relative_to(HTML).as_posix() for p in HTML.rglob("*.html")
                  if "_static" not in p.parts and "_sources" not in p.parts and p.name not in skip)


def _unavailable() -> str | None:
    if not HTML.is_dir():
        return f"the book is not built ({HTML} is missing); run `bash scripts/build-book.sh` first"
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not Path(path).exists():
            return f"{path} not found; install the Debian package {package} (scripts/test.sh does)"
    if importlib.util.find_spec("selenium") is None:
        return "selenium is not installed; pip install -r requirements.txt"
    return None


@pytest.fixture(scope="module")
def server():
    """An HTTP server for the built book on a free localhost port."""
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep the test output readable
        pass


@pytest.fixture(scope="module")
def browser():
    reason = _unavailable()
    if reason:
        if REQUIRED:
            pytest.fail(f"browser test required but cannot run: {reason}")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


PAGES = _pages()


def _poll(driver, script: str, done, timeout: float = 30.0):
    """Run ``script`` until ``done(value)`` or the timeout; return its last value."""
    deadline = time.monotonic() + timeout
    value = driver.execute_script(script)
    while not done(value) and time.monotonic() < deadline:
        time.sleep(0.25)
        value = driver.execute_script(script)
    return value


# The widget embedder replaces nothing: it draws each saved view next to its script tag.
# A view counts as drawn when its output area holds an element with the class
# ``jupyter-widgets``.
_UNDRAWN_WIDGETS = f"""
const views = Array.from(document.querySelectorAll('{WIDGET_VIEW}'));
return views.filter(v => !v.parentElement.querySelector('.jupyter-widgets'))
            .map(v => v.textContent.trim().slice(0, 120));
"""

_BROKEN_IMAGES = """
return Array.from(document.images)
  .filter(img => !(img.complete && img.naturalWidth > 0))
  .map(img => img.getAttribute('src'));
"""

# Slide-ready figures: every figure a notebook drew offers its SVG and a PNG made from it.
_FIGURES_WITHOUT_DOWNLOADS = """
return Array.from(document.querySelectorAll('.cell_output img')).filter(img => {
  const bar = img.nextElementSibling;
  const links = bar && bar.classList.contains('figure-downloads') ? Array.from(bar.querySelectorAll('a')) : [];
  const svg = /\\.svg$/i.test(img.getAttribute('src') || '');
  const names = links.map(a => a.textContent).join(' ');
  return svg ? names !== 'SVG PNG' : !/PNG/.test(names);
}).map(img => img.getAttribute('src'));
"""

_FIRST_SVG_AS_PNG = """
const done = arguments[arguments.length - 1];
const img = Array.from(document.querySelectorAll('.cell_output img')).find(i => /\\.svg$/i.test(i.src));
if (!img) { done('no svg'); return; }
window.figureToPng(img).then(url => done(url.slice(0, 22) + ':' + url.length), e => done('error ' + e));
"""

_ERROR_OUTPUTS = """
const bad = Array.from(document.querySelectorAll(
  '.cell_output .traceback, .cell_output .output.error, .cell_output .output.stderr'));
// a printed error message is a lesson; a traceback is a failure
const text = Array.from(document.querySelectorAll('.cell_output'))
  .filter(o => /Traceback \\(most recent call last\\)/.test(o.innerText));
return bad.concat(text).map(o => o.innerText.slice(0, 200));
"""


@pytest.mark.skipif(not PAGES and not REQUIRED, reason="the book is not built")
@pytest.mark.parametrize("page", PAGES or ["index.html"])
def test_page_renders_cleanly(browser, server, page):
    browser.get(f"{server}/{page}")
    _poll(browser, "return document.readyState", lambda state: state == "complete")
    # images below the fold may be lazy: ask for all of them now
    browser.execute_script("document.querySelectorAll('img').forEach(i => i.loading = 'eager')")
    broken = _poll(browser, _BROKEN_IMAGES, lambda srcs: not srcs, timeout=20)
    has_widgets = browser.execute_script(f"return document.querySelectorAll('{WIDGET_VIEW}').length")
    undrawn = _poll(browser, _UNDRAWN_WIDGETS, lambda views: not views, timeout=30)
    errors = browser.execute_script(_ERROR_OUTPUTS)
    no_downloads = _poll(browser, _FIGURES_WITHOUT_DOWNLOADS, lambda srcs: not srcs, timeout=10)
    as_png = browser.execute_async_script(_FIRST_SVG_AS_PNG)
    logs = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    browser.save_screenshot(str(SCREENSHOTS / (page.replace("/", "__").removesuffix(".html") + ".png")))

    assert not logs, f"{page}: JavaScript errors or failed requests:\n" + json.dumps(logs, indent=1)
    assert not broken, f"{page}: images that did not load: {broken}"
    assert not errors, f"{page}: notebook outputs with an error or traceback: {errors}"
    assert not undrawn, f"{page}: {len(undrawn)} of {has_widgets} widgets were not drawn: {undrawn}"
    assert not no_downloads, f"{page}: figures without their SVG/PNG download links: {[s[:80] for s in no_downloads]}"
    assert as_png == "no svg" or (as_png.startswith("data:image/png;base64,") and int(as_png.split(":")[-1]) > 1000), \
        f"{page}: a figure's PNG could not be made from its SVG: {as_png}"


def test_every_chapter_was_opened():
    """The parametrisation above found the chapters (a build that wrote no pages is a failure)."""
    if not HTML.is_dir():
        if REQUIRED:
            pytest.fail(f"{HTML} is missing: build the book before the browser test")
        pytest.skip("the book is not built")
    chapters = {p.stem for p in (ROOT / "book").glob("*.ipynb")}
    built = {Path(p).stem for p in PAGES}
    assert chapters <= built, f"chapters without a page: {sorted(chapters - built)}"
