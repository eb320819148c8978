"""Browser tests of the viewer: headless Chromium (Debian's ``chromium``) driven by Playwright against uvicorn.

Logs in, checks that the charts were drawn (canvas pixels, not only the HTML), runs a search, logs out and is
refused afterwards. Screenshots of every page go to ``tests/artifacts/viewer/`` (gitignored; CI keeps them).
Needs ``apt-get install chromium`` and ``pip install playwright`` (never ``playwright install``: the Debian
browser is used through ``executable_path``). Without them the tests skip, except under CI, where they fail.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from rcdm.db import connect

pytestmark = pytest.mark.chromium

CHROMIUM = os.environ.get("RCDM_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parent / "artifacts" / "viewer"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def _missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the browser tests: {what}")
    pytest.skip(what)


try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover
    sync_playwright = None
try:
    import uvicorn
except ImportError:  # pragma: no cover
    uvicorn = None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if sync_playwright is None or uvicorn is None:
        _missing("pip install playwright 'rcdm[viewer]'")
    if not Path(CHROMIUM).exists():
        _missing(f"no Chromium at {CHROMIUM}: apt-get install -y --no-install-recommends chromium")
    from test_viewer_http import PASSWORD, fill_viewer_db

    from rcdm.viewer import auth
    from rcdm.viewer.app import create_app

    folder = tmp_path_factory.mktemp("browser")
    db = folder / "viewer.duckdb"
    fill_viewer_db(db)
    users = folder / "users.json"
    auth.add_user("alice", PASSWORD, users, role="analyst")
    auth.add_user("bob", PASSWORD, users)  # aggregate
    app = create_app(lambda: connect(db, read_only=True), "cdm", users)
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not srv.started:
        if time.monotonic() > deadline:
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", PASSWORD
    srv.should_exit = True
    thread.join(10)
    app.state.viewer.pool.close()


@pytest.fixture(scope="module")
def browser():
    if sync_playwright is None:
        _missing("pip install playwright")
    if not Path(CHROMIUM).exists():
        _missing(f"no Chromium at {CHROMIUM}: apt-get install -y --no-install-recommends chromium")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


PAINTED_PIXELS = """(id) => {
  const canvas = document.getElementById(id);
  const ctx = canvas.getContext('2d');
  const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < data.length; i += 4) { if (data[i] > 0) painted++; }
  return {painted: painted, total: data.length / 4, url: canvas.toDataURL().length};
}"""


def _watched_page(browser):
    """A new context and page, and the list that collects its script errors and CSP violations (the 401/400/403
    answers the tests provoke on purpose are not problems)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    return context, page, problems


def test_login_charts_search_logout(server, browser):
    base, password = server
    context, page, problems = _watched_page(browser)

    # refused before login: the page redirects to the login form
    page.goto(f"{base}/overview")
    assert page.url.startswith(f"{base}/login")
    _shot(page, "01-login")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "wrong password")
    page.click("button[type=submit]")
    assert "Unknown user name or wrong password" in page.content(), page.inner_text("main")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/overview")

    # the charts were drawn: Chart.js ran (no CSP violation) and painted the canvases
    page.wait_for_selector("html[data-charts-drawn=true]", timeout=10_000)
    for canvas in ("chart-by-year", "chart-by-modality"):
        result = page.evaluate(PAINTED_PIXELS, canvas)
        assert result["painted"] > 0.02 * result["total"], (canvas, result)
        assert result["url"] > 3000, (canvas, result)
    bars = page.evaluate("() => window.rcdmCharts.byYear.getDatasetMeta(0).data.length")
    slices = page.evaluate("() => window.rcdmCharts.byModality.getDatasetMeta(0).data.length")
    assert (bars, slices) == (3, 3)
    assert page.locator("#summary [data-key=images]").inner_text() == "10"
    assert page.locator("meter").count() > 20
    _shot(page, "02-overview")

    page.click("text=Protocols")
    page.wait_for_url(f"{base}/protocols")
    assert "CT Head without contrast" in page.locator("#protocols").inner_text()
    _shot(page, "03-protocols")

    page.click("nav >> text=Combinations")
    page.wait_for_url(f"{base}/combinations")
    page.click("#combinations th >> text=modality")  # sort by modality
    page.wait_for_url("**/combinations?*sort=modality*")
    page.fill("input[name=q]", "brain")
    page.click("form.filters button")
    assert page.locator("#combinations tbody tr").count() == 1
    _shot(page, "04-combinations")

    # a search: CT, axial
    page.click("nav >> text=Search")
    page.wait_for_url(f"{base}/search")
    _shot(page, "05-search-form")
    page.fill("input[name=modality]", "CT")
    page.select_option("select[name=plane]", "axial")
    page.click("#search-button")
    page.wait_for_url("**/search?*modality=CT*")
    assert page.locator("#search-counts [data-key=images]").inner_text() == "4"
    assert page.locator("#studies tbody tr").count() == 2
    assert page.locator("#manifest-link").get_attribute("href") == "/search/manifest.csv?modality=CT&plane=axial"
    with page.expect_download() as download:
        page.click("#manifest-link")
    manifest = Path(download.value.path()).read_text().splitlines()
    assert manifest[0].startswith("person_id,") and len(manifest) == 5
    _shot(page, "06-search-results")

    # hostile input is shown back as an error, not run
    page.goto(f"{base}/search?plane=%27%20OR%201%3D1%20--")
    assert "Invalid plane" in page.locator("#search-error").inner_text()

    # log out, then be refused
    page.goto(f"{base}/overview")
    page.click("#logout")
    page.wait_for_url(f"{base}/login")
    page.goto(f"{base}/search")
    assert page.url.startswith(f"{base}/login")
    assert page.request.get(f"{base}/api/overview").status == 401
    _shot(page, "07-after-logout")
    cookie = [c for c in context.cookies() if c["name"] == "rcdm_session"]
    assert cookie and cookie[0]["httpOnly"] and cookie[0]["sameSite"] == "Lax"
    assert problems == [], problems
    context.close()


def test_aggregate_user_sees_suppressed_counts_and_no_search(server, browser):
    """bob (role aggregate) on the 3-person site: every count is below 5, so the pages show '-' and no search."""
    base, password = server
    context, page, problems = _watched_page(browser)
    page.goto(f"{base}/login")
    page.fill("input[name=username]", "bob")
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    assert page.locator("nav >> text=Search").count() == 0
    page.goto(f"{base}/overview")
    page.wait_for_selector("html[data-charts-drawn=true]", timeout=10_000)  # the charts take hidden counts
    assert page.locator("#summary [data-key=persons]").inner_text() == "-"  # 3 persons
    assert page.locator("#summary [data-key=studies]").inner_text() == "-"  # 4 studies
    assert page.locator("#summary [data-key=images]").inner_text() == "10"
    assert "counts below 5 are hidden" in page.locator("#suppression-note").inner_text()
    _shot(page, "08-aggregate-overview")
    page.goto(f"{base}/protocols")
    assert "XR CHEST PA" not in page.content()  # a protocol text seen in one study
    assert page.request.get(f"{base}/search/manifest.csv").status == 403
    response = page.goto(f"{base}/search")
    assert response.status == 403 and "analyst role" in page.content()
    assert problems == [], problems
    context.close()
