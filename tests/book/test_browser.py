"""The rendered book, opened page by page in headless Chromium as a reader would see it.

The built HTML is served on a free localhost port; Playwright drives the *system*
Chromium (Debian package ``chromium``, installed by ``make sysdeps``), never a browser
downloaded by Playwright. Every request to another host is blocked and counted as a
failure: the book must work offline (MathJax is served from ``_static``). One
full-page screenshot per page is kept in ``_build/screenshots/``.

A cell may show a warning on purpose (e.g. to teach what it means) when it carries the
cell tag ``expected-warning``; any other warning, error or traceback in a cell output
fails the test.
"""

from __future__ import annotations

import functools
import json
import os
import re
import threading
import urllib.request
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest
from book_site import HTML, SCREENSHOTS, notebook_pages, toc_pages

CHROMIUM = os.environ.get("HBM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ALLOWED_STDERR_TAG = "expected-warning"
# Python warnings and logged WARNING/ERROR lines, plus PyMC's sampler warnings, which it logs
# without the word "warning" (divergences, R-hat, ESS, tree depth).
WARNING_TEXT = re.compile(r"warn|traceback|\berror\b|exception|divergences? after tuning|rhat statistic is larger"
                          r"|effective sample size per chain is smaller|maximum tree depth", re.IGNORECASE)

PAGES = toc_pages()
NOTEBOOKS = notebook_pages()


def by_page(docnames: list[str]) -> list:
    """The parameters of a test run on each page. ``make check-book`` runs the tests on every core
    (pytest-xdist, ``--dist loadgroup``): the tests of one page go to one worker, which opens it once."""
    return [pytest.param(docname, marks=pytest.mark.xdist_group(docname)) for docname in docnames]


# Expand everything a reader can expand (solution dropdowns, hidden cells) so that the
# figures inside have a size; uses sphinx-togglebutton's own toggleHidden when present.
EXPAND_JS = """() => {
  document.querySelectorAll('.toggle-hidden').forEach(el => {
    const button = document.querySelector('.toggle-button[data-target="' + CSS.escape(el.id) + '"]');
    if (button && typeof toggleHidden === 'function') { toggleHidden(button); }
    else { el.classList.remove('toggle-hidden'); }
  });
  document.querySelectorAll('details').forEach(d => { d.open = true; });
}"""

# Everything the tests need to know about a page, gathered in one pass in the browser.
FACTS_JS = """() => {
  const main = document.querySelector('main') || document.body;
  const article = document.querySelector('article') || main;
  const box = el => { const r = el.getBoundingClientRect(); return [r.width, r.height]; };
  const cellOf = el => el.closest('div.cell');
  const proseText = () => {
    const copy = (document.querySelector('article') || main).cloneNode(true);
    copy.querySelectorAll('pre, code, script, style, mjx-container, .cell_input').forEach(e => e.remove());
    return copy.innerText;
  };
  return {
    title: document.title,
    images: [...article.querySelectorAll('img')].map(img => ({
      src: img.getAttribute('src'), alt: img.getAttribute('alt'), complete: img.complete,
      natural: [img.naturalWidth, img.naturalHeight], box: box(img)})),
    brokenImages: [...document.querySelectorAll('img')]
        .filter(img => !(img.complete && img.naturalWidth > 0)).map(img => img.getAttribute('src')),
    svgs: [...article.querySelectorAll('.cell_output svg, figure svg')].map(svg => ({
      box: box(svg), id: svg.id || ''})),
    mathCount: document.querySelectorAll('.math').length,
    mathUntypeset: [...document.querySelectorAll('.math')]
        .filter(m => !m.querySelector('mjx-container') && m.tagName !== 'MJX-CONTAINER')
        .map(m => m.textContent.slice(0, 80)),
    mjxErrors: [...document.querySelectorAll('mjx-merror')].map(e => e.textContent.slice(0, 80)),
    mathjaxLoaded: typeof window.MathJax === 'object' && !!window.MathJax.startup,
    prose: proseText(),
    codeOverflow: [...main.querySelectorAll('div.cell_input pre, div.cell_output pre')]
        .filter(e => e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 1)
        .map(e => e.textContent.split('\\n')[0].slice(0, 80)),
    errorOutputs: [...main.querySelectorAll('.output.traceback, .output.error, .system-message, .problematic')]
        .map(e => e.innerText.slice(0, 300)),
    outputs: [...main.querySelectorAll('.cell_output')].map(o => ({
      text: o.innerText.slice(0, 2000), tags: (cellOf(o) ? [...cellOf(o).classList] : [])})),
    stderr: [...main.querySelectorAll('.cell_output .output.stderr')].map(o => ({
      text: o.innerText.slice(0, 1000), tags: (cellOf(o) ? [...cellOf(o).classList] : [])})),
    navLinks: [...document.querySelectorAll('.bd-sidebar-primary nav a.reference.internal, a.left-prev, a.right-next')]
        .map(a => a.href),
    links: [...document.querySelectorAll('a[href]')].map(a => a.href),
    download: [...document.querySelectorAll('a.btn-download-source-button')].map(a => a.href),
  };
}"""


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def server(build_dir):
    """The built HTML served on a free port of 127.0.0.1; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"Chromium is missing at {CHROMIUM}: run `make sysdeps` (Debian: apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def screenshots(build_dir):
    """The folder of the screenshots (emptied once per run, before the workers start: conftest.py)."""
    folder = build_dir / SCREENSHOTS
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass
class Visit:
    url: str
    status: int | None
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)
    facts: dict = field(default_factory=dict)


@pytest.fixture(scope="session")
def visit(server, browser, screenshots):
    """Open a page once (cached), wait for MathJax, expand hidden content, gather its facts."""
    cache: dict[str, Visit] = {}

    def _visit(docname: str) -> Visit:
        if docname in cache:
            return cache[docname]
        url = urljoin(server, f"{docname}.html")
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        # Playwright's default 30 s is a timing assertion in disguise: with two workers on a busy
        # 2-core machine, chapter 5's page once took longer than that to go network-idle (a cold
        # make test, speed issue session 12). The checks are of what the page shows, not how fast.
        context.set_default_timeout(180_000)
        page = context.new_page()
        record = Visit(url=url, status=None)
        local = urlparse(server).netloc

        def route(route):
            if urlparse(route.request.url).netloc in (local, ""):
                route.continue_()
            else:
                record.external_requests.append(route.request.url)
                route.abort()

        page.route("**/*", route)
        page.on("console", lambda m: m.type == "error" and record.console_errors.append(
            f"{m.text} ({m.location.get('url', '')})"))
        page.on("pageerror", lambda e: record.page_errors.append(str(e)))
        page.on("requestfailed", lambda r: urlparse(r.url).netloc == local and record.failed_requests.append(
            f"{r.url}: {r.failure}"))
        # "load" waits for the document, its scripts, style sheets and images. What the checks read
        # after that is waited for by name: MathJax's typesetting (its startup promise resolves when
        # the page is typeset), the web fonts, and any image still loading. Playwright's
        # "networkidle" (no request for 500 ms), which Playwright itself advises against in tests,
        # waited for requests the checks do not read, and once never came (chapter 5's page in a
        # cold make test, 180 s; speed issue, session 17).
        response = page.goto(url, wait_until="load")
        record.status = response.status if response else None
        page.evaluate("""async () => {
            if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
            await document.fonts.ready;
        }""")
        page.evaluate(EXPAND_JS)
        page.evaluate("""async () => {
            await Promise.all([...document.images].filter(img => !img.complete).map(
                img => new Promise(done => { img.addEventListener('load', done); img.addEventListener('error', done); })));
        }""")
        page.wait_for_timeout(200)
        record.facts = page.evaluate(FACTS_JS)
        # JPEG: a long page's PNG took 6-7 s to encode, the JPEG 3-4 s; an artefact to look at, not to diff
        page.screenshot(path=str(screenshots / f"{docname.replace('/', '__')}.jpg"), full_page=True,
                        type="jpeg", quality=80)
        context.close()
        cache[docname] = record
        return record

    return _visit


@functools.lru_cache(maxsize=None)
def _fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:  # noqa: S310 (localhost only)
            return r.status, r.read()
    except urllib.error.HTTPError as err:
        return err.code, b""


def _is_local(url: str, server: str) -> bool:
    return urlparse(url).netloc == urlparse(server).netloc


def _page_of(url: str) -> str:
    return urlparse(url)._replace(fragment="", query="").geturl()


def test_toc_has_pages():
    assert PAGES and NOTEBOOKS, f"no pages or no notebook pages found in the table of contents: {PAGES}"


@pytest.mark.parametrize("docname", by_page(PAGES))
def test_page_loads_cleanly(visit, docname):
    """Every page loads, logs no console error, fetches nothing from another host."""
    v = visit(docname)
    assert v.status == 200, f"{v.url} answered {v.status}"
    assert not v.page_errors, f"JavaScript errors: {v.page_errors}"
    assert not v.external_requests, f"the page needs other hosts (no network here): {v.external_requests}"
    assert not v.failed_requests, f"requests failed: {v.failed_requests}"
    assert not v.console_errors, f"console errors: {v.console_errors}"


@pytest.mark.parametrize("docname", by_page(NOTEBOOKS))
def test_figures_render(visit, docname):
    """Every image and SVG figure is loaded and has a non-zero size on screen."""
    facts = visit(docname).facts
    assert not facts["brokenImages"], f"images that did not load: {facts['brokenImages']}"
    empty = [i["src"] for i in facts["images"] if min(i["box"]) <= 0]
    assert not empty, f"images with zero size on the page: {empty}"
    empty_svg = [s["id"] or f"svg #{n}" for n, s in enumerate(facts["svgs"]) if min(s["box"]) <= 0]
    assert not empty_svg, f"SVG figures with zero size: {empty_svg}"
    no_alt = [i["src"] for i in facts["images"] if "_images/" in (i["src"] or "") and not i["alt"]]
    assert not no_alt, f"figures without alt text: {no_alt}"


@pytest.mark.parametrize("docname", by_page(NOTEBOOKS))
def test_math_typeset(visit, docname):
    """MathJax typeset every formula without error, and no raw TeX delimiters are left in the prose."""
    facts = visit(docname).facts
    if facts["mathCount"]:
        assert facts["mathjaxLoaded"], "the page has math but MathJax did not load"
    assert not facts["mathUntypeset"], f"formulas MathJax did not typeset: {facts['mathUntypeset']}"
    assert not facts["mjxErrors"], f"MathJax errors (undefined macro?): {facts['mjxErrors']}"
    raw = [m.group(0) for m in re.finditer(r".{0,40}(\$\$|\\\[|\\begin\{|\{math\}).{0,40}", facts["prose"])]
    assert not raw, f"raw TeX left in the text: {raw}"


@pytest.mark.parametrize("docname", by_page(NOTEBOOKS))
def test_outputs_clean(visit, docname):
    """No traceback, error box or unintended warning in any cell output."""
    facts = visit(docname).facts
    assert not facts["errorOutputs"], f"error outputs or build error boxes: {facts['errorOutputs']}"
    tracebacks = [o["text"][:300] for o in facts["outputs"]
                  if "Traceback (most recent call last)" in o["text"] or re.search(r"^\w+Error: ", o["text"], re.M)]
    assert not tracebacks, f"tracebacks in cell outputs: {tracebacks}"
    allowed = f"tag_{ALLOWED_STDERR_TAG}"
    warnings = [s["text"][:300] for s in facts["stderr"] if WARNING_TEXT.search(s["text"]) and allowed not in s["tags"]]
    assert not warnings, (f"warnings in cell outputs (fix their cause, or tag the cell "
                          f"{ALLOWED_STDERR_TAG!r} if the chapter shows it on purpose): {warnings}")


@pytest.mark.parametrize("docname", by_page(NOTEBOOKS))
def test_code_fits_the_column(visit, docname):
    """No code cell (solutions opened) is wider than the content column: nothing is cut off."""
    wide = visit(docname).facts["codeOverflow"]
    assert not wide, f"code wider than the column (first lines): {wide}"


@pytest.mark.parametrize("docname", by_page(NOTEBOOKS))
def test_navigation_links_resolve(visit, server, docname):
    """The sidebar links to every other page of the book, and every local link on the page resolves."""
    facts = visit(docname).facts
    nav = {_page_of(u) for u in facts["navLinks"]}
    missing = [p for p in PAGES if p != docname and urljoin(server, f"{p}.html") not in nav]
    assert not missing, f"no navigation link to: {missing}"
    local = sorted({_page_of(u) for u in facts["links"] if _is_local(u, server)})
    broken = [u for u in local if _fetch(u)[0] != 200]
    assert not broken, f"links that do not resolve: {broken}"


@pytest.mark.parametrize("docname", by_page(NOTEBOOKS))
def test_download_offers_notebook(visit, docname):
    """The download button offers the chapter's own .ipynb, and it is a notebook."""
    facts = visit(docname).facts
    stem = docname.rsplit("/", 1)[-1]
    ipynb = [u for u in facts["download"] if _page_of(u).endswith(f"/{stem}.ipynb")]
    assert ipynb, f"the download button offers {facts['download']}, not {stem}.ipynb"
    status, body = _fetch(_page_of(ipynb[0]))
    assert status == 200, f"{ipynb[0]} answered {status}"
    notebook = json.loads(body)
    assert notebook.get("nbformat") == 4 and notebook.get("cells"), f"{ipynb[0]} is not a notebook"


@pytest.mark.parametrize("docname", by_page(PAGES))
def test_screenshot_kept(visit, screenshots, docname):
    """A screenshot of every page of the table of contents is kept as an artefact."""
    visit(docname)
    shot = screenshots / f"{docname.replace('/', '__')}.jpg"
    assert shot.is_file(), f"no screenshot of {docname} in {screenshots}"
    assert shot.stat().st_size > 1000, f"{shot} is almost empty"
