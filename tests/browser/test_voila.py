"""``kamsim app`` in a real browser: the explorers as a Voila web app, code hidden.

The app is started the way a person starts it (the ``kamsim app`` command logic, via
``python -m kamsim.apps.voila``), opened in headless Chromium, and a slider is moved.
"""

from __future__ import annotations

import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.browser.conftest import (
    ARTIFACTS,
    EXPLORERS,
    free_port,
    move_every_slider,
    move_first_slider,
    rows_visible,
    shoot,
    snapshot,
    stop_process,
    wait_for_change,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]


@dataclass(frozen=True)
class App:
    url: str
    token: str
    proc: subprocess.Popen[bytes]
    log: Path


def _start_app(tmp: Path, *args: str) -> App:
    port, token = free_port(), secrets.token_urlsafe(16)
    log = tmp / "kamsim-app.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kamsim.apps.voila", "--no-browser", "--port", str(port),
             f"--token={token}", *args],  # "=": a random token may start with "-"
            cwd=tmp, stdout=fh, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        # kamsim app prints the address once Voila listens (no request: that would
        # start a kernel)
        deadline = time.monotonic() + 90
        while f"open {url}/" not in log.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("kamsim app did not start:\n"
                            + log.read_text(errors="replace")[-3000:])
            time.sleep(0.2)
    except BaseException:
        stop_process(proc)
        raise
    return App(url=url, token=token, proc=proc, log=log)


def _port_closed(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    with socket.socket() as s:
        return s.connect_ex((host, int(port))) != 0


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    """``kamsim app`` serving every explorer (an index page), stopped after the module."""
    from tests.browser.conftest import _check_chromium

    _check_chromium()
    a = _start_app(tmp_path_factory.mktemp("voila"))
    try:
        yield a
    finally:
        stop_process(a.proc)
        if a.proc.returncode != 0:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            (ARTIFACTS / "kamsim-app.log").write_bytes(a.log.read_bytes())


def _check_panel(page, code_snippet: str) -> None:
    """The page shows a slider and no code; moving it changes a figure or a table."""
    panel = page.locator(".kamsim-explorer").first
    panel.wait_for(state="visible", timeout=120_000)
    text = page.locator("body").inner_text()
    assert code_snippet not in text, "Voila shows the notebook's code"
    assert page.locator(".jp-InputArea-editor").count() == 0, "code editors are visible"
    before = snapshot(panel)
    assert before["images"], "the panel shows no figure"
    assert all(before["images"]), "an image of the panel is empty"
    label, old, new = move_first_slider(panel)
    after = wait_for_change(panel, before)
    assert after != before, (f"moving {label!r} from {old} to {new} changed neither a "
                             "figure nor a table within 60 s")
    assert page.get_by_text("Error displaying widget").count() == 0


FIXTURE = ARTIFACTS.parent / "fixtures" / "own_accounts.xlsx"


def _watch_network(page) -> list[str]:
    """Record failed requests, HTTP errors and console errors of ``page``."""
    problems: list[str] = []
    page.on("requestfailed", lambda r: problems.append(
        f"request failed: {r.url} ({r.failure})"))
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}")
            if r.status >= 400 else None)
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
            if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    return problems


def test_home_page_upload_map_check_no_network_errors(app, browser):
    """The home page lists the explorers by title and question; a spreadsheet with
    non-canonical headers is uploaded, mapped and checked; nothing fails to load."""
    from kamsim.apps.voila import EXPLORERS as INFO

    ctx = browser.new_context(viewport={"width": 1440, "height": 900})
    ctx.set_default_timeout(60_000)
    page = ctx.new_page()
    problems = _watch_network(page)
    try:
        page.goto(f"{app.url}/voila/render/home.ipynb?token={app.token}",
                  timeout=240_000, wait_until="commit")
        step = page.locator(".kamsim-data-step")
        step.wait_for(state="visible", timeout=240_000)
        body = page.locator("body").inner_text()
        for p in EXPLORERS:
            title, question = INFO[p.stem]
            assert title in body
            assert question in body
        assert ".ipynb" not in body  # explorers by title, never by file name
        # the upload button opens the browser's file chooser, as for a person
        with page.expect_file_chooser() as chooser:
            step.locator(".widget-upload").click()
        chooser.value.set_files(str(FIXTURE))
        page.get_by_text("Read own_accounts.xlsx").wait_for(timeout=60_000)
        revenue = step.locator(".widget-dropdown", has_text="Revenue a year").locator("select")
        assert revenue.is_visible()
        assert revenue.input_value() == "Sales 2025"
        ident = step.locator(".widget-dropdown", has_text="Account id").locator("select")
        assert ident.input_value() == "Customer"
        step.get_by_role("button", name="Check and use these data").click()
        result = step.locator(".kamsim-data-result")
        page.wait_for_function(
            "(el) => el.innerText.includes('40 accounts')", arg=result.element_handle(),
            timeout=60_000)
        assert "Fjord Logistics" in result.inner_text()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "voila-home.png"), full_page=True)
        shoot(page, step, ARTIFACTS / "voila-home-data-step.png")
        page.wait_for_timeout(1000)
        assert problems == [], problems
    finally:
        ctx.close()


@pytest.mark.timeout(900)
@pytest.mark.parametrize("notebook", EXPLORERS, ids=lambda p: p.name)
def test_explorer_shows_own_data_rows_fit_and_every_slider_moves(app, browser, notebook):
    """After the home page's upload (the test above), each explorer uses those data; every
    label and value is inside the panel at 1440x900; moving every slider once never shows
    an error; the key-press-to-new-image latency is written to tests/artifacts."""
    import json

    ctx = browser.new_context(viewport={"width": 1440, "height": 900})
    ctx.set_default_timeout(60_000)
    page = ctx.new_page()
    problems = _watch_network(page)
    try:
        page.goto(f"{app.url}/voila/render/{notebook.name}?token={app.token}",
                  timeout=600_000, wait_until="commit")
        panels = page.locator(".kamsim-explorer")
        # Voila renders cell by cell: wait for every panel of the notebook
        want = notebook.read_text(encoding="utf-8").count("data.link(") \
            + notebook.read_text(encoding="utf-8").count("data.on_change(")
        page.wait_for_function(f"() => document.querySelectorAll('.kamsim-explorer').length "
                               f">= {want}", timeout=600_000, polling=500)
        data = page.locator(".kamsim-data-result").first
        assert "40 accounts" in data.inner_text(), data.inner_text()
        latencies: dict[str, float] = {}
        for i in range(panels.count()):
            panel = panels.nth(i)
            panel.scroll_into_view_if_needed()
            assert "Data: 40 accounts" in panel.locator(".kamsim-caption").inner_text()
            fit = rows_visible(panel)
            assert fit["rows"] > 0
            assert fit["bad"] == [], fit["bad"]
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shoot(page, panel, ARTIFACTS / f"voila-{notebook.stem}-panel{i}.png")
            for label, ms in move_every_slider(panel, page):
                latencies[f"panel {i}: {label}"] = ms
        (ARTIFACTS / f"latency-voila-{notebook.stem}.json").write_text(
            json.dumps(latencies, indent=1))
        assert page.get_by_text("Error displaying widget").count() == 0
        assert [p for p in problems if "/api/shutdown/" not in p] == [], problems
    finally:
        ctx.close()


def test_app_single_notebook_and_clean_shutdown(tmp_path, page):
    app = _start_app(tmp_path, "worst_case")
    try:
        page.goto(f"{app.url}/?token={app.token}")
        _check_panel(page, "worst_case_explorer(scenario")
    finally:
        stop_process(app.proc)  # SIGTERM: kamsim app stops Voila and its kernels
    assert app.proc.returncode == 0, app.log.read_text(errors="replace")[-2000:]
    assert _port_closed(app.url)


def test_app_refuses_without_token(tmp_path):
    # no page: a request without the token must not reach a notebook
    import urllib.error
    import urllib.request

    app = _start_app(tmp_path, "01")
    try:
        req = urllib.request.Request(f"{app.url}/", method="GET")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                landed = r.url
        except urllib.error.HTTPError as err:
            landed = f"HTTP {err.code}"
        assert "login" in landed or landed.startswith("HTTP 40"), landed
    finally:
        stop_process(app.proc)
