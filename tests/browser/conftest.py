"""Fixtures for the browser suite: one JupyterLab server and one Chromium per session.

Chromium is Debian's ``chromium`` package at ``/usr/bin/chromium`` (Playwright's own
browser download does not work on these machines). If it is missing the tests fail with
instructions; ``KAMSIM_SKIP_BROWSER=1`` skips them on purpose. Screenshots and server
logs of failing tests go to ``tests/artifacts/`` (git-ignored).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
    "--disable-dev-shm-usage",
]
# explorer notebooks, picked up automatically (board_report.ipynb has no widgets)
EXPLORERS = sorted((ROOT / "notebooks").glob("0*.ipynb"))


def free_port() -> int:
    """A free TCP port on loopback (the server is started with port_retries=0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    """Poll ``url`` until it answers 200; fail early if the server process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited with code {proc.returncode}:\n"
                        f"{log.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    pytest.fail(f"server did not answer {url} within {timeout:.0f} s:\n"
                f"{log.read_text(errors='replace')[-3000:]}")


def stop_process(proc: subprocess.Popen[bytes], *, interrupt: bool = False) -> None:
    """Stop a server we started (SIGINT or SIGTERM, then SIGKILL) and reap it."""
    if proc.poll() is not None:
        return
    import signal

    proc.send_signal(signal.SIGINT if interrupt else signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def _check_chromium() -> None:
    if os.environ.get("KAMSIM_SKIP_BROWSER") == "1":
        pytest.skip("browser tests skipped on request (KAMSIM_SKIP_BROWSER=1)")
    if not CHROMIUM.is_file() or not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"browser tests need Debian's Chromium at {CHROMIUM}: install it with "
            "`sudo apt-get install -y chromium` (CI's .ci/run does this), or set "
            "KAMSIM_SKIP_BROWSER=1 to skip these tests on purpose. Do not run "
            "`playwright install`: its download does not work here.",
            pytrace=False)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """Record each phase's report on the item, so fixtures know if the test failed."""
    rep = yield
    setattr(item, f"rep_{rep.when}", rep)
    return rep


def failed(request: pytest.FixtureRequest) -> bool:
    node = request.node
    return any(getattr(getattr(node, f"rep_{w}", None), "failed", False)
               for w in ("setup", "call"))


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Headless Debian Chromium driven by Playwright; closed at the end of the session."""
    _check_chromium()
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    try:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                               args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()
    finally:
        pw.stop()


@pytest.fixture
def page(browser, request: pytest.FixtureRequest) -> Iterator[object]:
    """A fresh browser context and page; a screenshot lands in tests/artifacts on failure.

    The page records browser console errors and uncaught page errors in
    ``page.kamsim_errors`` (a list of str).
    """
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(30_000)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    pg.on("console", lambda msg: errors.append(f"console: {msg.text}")
          if msg.type == "error" else None)
    pg.kamsim_errors = errors  # type: ignore[attr-defined]
    try:
        yield pg
    finally:
        if failed(request):
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            name = request.node.name.replace("/", "_").replace("[", "-").replace("]", "")
            try:
                pg.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
                (ARTIFACTS / f"{name}.console.txt").write_text("\n".join(errors))
            except Exception as exc:  # the page may be gone; the report matters more
                sys.stderr.write(f"could not save a screenshot: {exc}\n")
        context.close()


@dataclass(frozen=True)
class LabServer:
    url: str
    token: str
    root: Path
    log: Path

    def lab_url(self, notebook: str, workspace: str) -> str:
        # a workspace per test and `reset`: no notebook of an earlier test is restored
        return f"{self.url}/lab/workspaces/{workspace}/tree/{notebook}?reset&token={self.token}"


def _lab_env(base: Path) -> dict[str, str]:
    env = dict(os.environ)
    for var, sub in (("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_RUNTIME_DIR", "runtime"),
                     ("JUPYTERLAB_SETTINGS_DIR", "settings"),
                     ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"), ("IPYTHONDIR", "ipython")):
        (base / sub).mkdir(parents=True, exist_ok=True)
        env[var] = str(base / sub)
    settings = base / "settings"
    # no news pop-up over the page
    news = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True, exist_ok=True)
    news.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    # keep every cell in the DOM (no virtual scrolling), so the test sees all outputs
    nb = settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    nb.parent.mkdir(parents=True, exist_ok=True)
    nb.write_text(json.dumps({"windowingMode": "none"}))
    env.pop("KAMSIM_SKIP_BROWSER", None)
    return env


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """A JupyterLab server on loopback (random free port, token), serving COPIES of the
    explorer notebooks (Lab autosaves), shut down at the end of the session."""
    _check_chromium()
    base = tmp_path_factory.mktemp("lab")
    root = base / "root"
    root.mkdir()
    for nb in EXPLORERS:
        shutil.copy2(nb, root / nb.name)
    env = _lab_env(base)
    port, token = free_port(), secrets.token_hex(16)
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
           "--LabApp.news_url=None", "--ServerApp.open_browser=False"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    log = base / "jupyterlab.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=fh, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/api/status?token={token}", proc, log, timeout=90)
        yield LabServer(url=url, token=token, root=root, log=log)
    finally:
        stop_process(proc)
        if proc.returncode not in (0, -15, None):
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shutil.copy2(log, ARTIFACTS / "jupyterlab.log")


@pytest.fixture
def lab_log_on_failure(lab_server: LabServer, request: pytest.FixtureRequest) -> Iterator[None]:
    """Copy the JupyterLab server log to tests/artifacts if the test fails."""
    yield
    if failed(request):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy2(lab_server.log, ARTIFACTS / "jupyterlab.log")


# --- page helpers shared by the JupyterLab and Voila tests ------------------------------

# SHA-256 of every image's bytes (ipywidgets Image views use blob: URLs) and the text of
# every HTML widget inside ``el``: what the kernel sent back, not the slider readout
SNAPSHOT_JS = """
async (el) => {
  const hex = (buf) => Array.from(new Uint8Array(buf))
      .map((b) => b.toString(16).padStart(2, '0')).join('');
  const images = [];
  for (const img of el.querySelectorAll('img')) {
    if (!img.src) { images.push(''); continue; }
    const data = await (await fetch(img.src)).arrayBuffer();
    images.push(hex(await crypto.subtle.digest('SHA-256', data)) + ':' + data.byteLength);
  }
  const html = Array.from(el.querySelectorAll('.widget-html-content'))
      .map((e) => e.innerText);
  return {images, html};
}
"""


def snapshot(panel: Any) -> dict[str, list[str]]:
    """Digests of the panel's images and the texts of its HTML widgets."""
    result: dict[str, list[str]] = panel.evaluate(SNAPSHOT_JS)
    return result


def move_first_slider(panel: Any) -> tuple[str, str, str]:
    """Focus the panel's first slider handle and press ArrowRight (ArrowLeft at the top).

    Sliders use ``continuous_update=False``; a key press on the handle sends exactly one
    value to the kernel. Returns (slider label, readout before, readout after).
    """
    rows = panel.locator(".kamsim-row:has(.widget-slider)")
    if rows.count():  # a base Explorer row: label, slider, formatted value
        slider = rows.first
        label = slider.locator(".kamsim-label").inner_text()
        readout = slider.locator(".kamsim-value")
    else:
        slider = panel.locator(".widget-slider").first
        label = slider.locator(".widget-label").first.inner_text()
        readout = slider.locator(".widget-readout")
    before = readout.inner_text()
    handle = slider.locator(".noUi-handle").first
    handle.focus()
    for key in ("ArrowRight", "ArrowLeft", "ArrowLeft"):
        handle.press(key)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and readout.inner_text() == before:
            time.sleep(0.05)
        after = readout.inner_text()
        if after != before:
            return label, before, after
    raise AssertionError(f"slider {label!r} did not move from {before!r} with the keyboard")


def wait_for_change(panel: Any, before: dict[str, list[str]], timeout: float = 60.0
                    ) -> dict[str, list[str]]:
    """Poll until the panel's images or HTML texts differ from ``before``."""
    deadline = time.monotonic() + timeout
    now = snapshot(panel)
    while now == before and time.monotonic() < deadline:
        time.sleep(0.25)
        now = snapshot(panel)
    return now


# --- checks of the explorer panels (base Explorer rows) ---------------------------------

# every control row's label and value: inside the panel and the viewport, text not cut
ROWS_VISIBLE_JS = """
(panel) => {
  // every control row's label and value: inside the panel and the viewport, its text not
  // cut, and really on top at both ends (nothing, e.g. a neighbouring table, covers it)
  const box = panel.getBoundingClientRect();
  const vw = document.documentElement.clientWidth;
  const bad = [];
  const rows = panel.querySelectorAll('.kamsim-row');
  for (const row of rows) {
    row.scrollIntoView({block: 'center'});
    for (const el of row.querySelectorAll('.kamsim-label, .kamsim-value')) {
      const r = el.getBoundingClientRect();
      const inner = el.querySelector('.widget-html-content') || el;
      const text = inner.innerText.trim();
      const y = r.top + r.height / 2;
      const ends = [r.left + 2, r.left + Math.min(r.width, inner.scrollWidth) - 2];
      const covered = ends.some((x) => {
        const hit = document.elementFromPoint(x, y);
        return !hit || !(el.contains(hit) || hit.contains(el));
      });
      if (r.width === 0 || r.left < box.left - 0.5 || r.right > box.right + 0.5
          || r.right > vw + 0.5 || inner.scrollWidth > inner.clientWidth + 1 || covered) {
        bad.push(`${text} [${Math.round(r.left)}-${Math.round(r.right)} in `
                 + `${Math.round(box.left)}-${Math.round(box.right)}, viewport ${vw}`
                 + `${covered ? ', covered' : ''}]`);
      }
    }
  }
  return {rows: rows.length, bad};
}
"""

# the time from a key press on a slider to the next new image being painted
LATENCY_JS = """
(panel) => { window.__kamsim_latency = new Promise((resolve) => {
  const imgs = Array.from(panel.querySelectorAll('img'));
  const before = imgs.map((i) => i.src);
  let pressed = null;
  document.addEventListener('keydown', () => { pressed = performance.now(); },
                            {capture: true, once: true});
  const obs = new MutationObserver(() => {
    const changed = imgs.find((img, k) => img.src !== before[k]);
    if (!changed || pressed === null) return;
    obs.disconnect();
    changed.decode().catch(() => null).then(() => requestAnimationFrame(() =>
        requestAnimationFrame(() => resolve(performance.now() - pressed))));
  });
  for (const img of imgs) obs.observe(img, {attributes: true, attributeFilter: ['src']});
  window.__kamsim_cancel = () => { obs.disconnect(); resolve(null); };
}); }
"""


def explorer_panels(page: Any) -> Any:
    """The explorer panels (base Explorer) on the page."""
    return page.locator(".kamsim-explorer")


def rows_visible(panel: Any) -> dict[str, Any]:
    """Bounding-box check of every label and value of ``panel`` (see ROWS_VISIBLE_JS)."""
    result: dict[str, Any] = panel.evaluate(ROWS_VISIBLE_JS)
    return result


def move_every_slider(panel: Any, page: Any, timeout: float = 60.0) -> list[tuple[str, float]]:
    """Press ArrowRight (ArrowLeft at the top) on every enabled slider of ``panel`` once.

    Waits for the kernel's new image or text after each move and fails if the status line
    shows a problem. Returns (label, milliseconds from key press to the new image painted;
    NaN when the move changed only text).
    """
    out: list[tuple[str, float]] = []
    rows = panel.locator(".kamsim-row:has(.widget-slider)")
    for i in range(rows.count()):
        row = rows.nth(i)
        label = row.locator(".kamsim-label").inner_text().strip()
        handle = row.locator(".noUi-handle").first
        # ipywidgets marks a disabled slider with a disabled attribute on the noUi target
        # (not on the handle): such a slider ignores the keyboard
        if handle.get_attribute("disabled") is not None or row.locator("[disabled]").count() \
                or row.locator(".widget-slider.mod-disabled, .mod-disabled").count():
            continue
        value = row.locator(".kamsim-value")
        before_value = value.inner_text()
        before = snapshot(panel)
        panel.evaluate(LATENCY_JS)
        handle.focus()
        handle.press("ArrowRight")
        deadline = time.monotonic() + 3
        while value.inner_text() == before_value and time.monotonic() < deadline:
            time.sleep(0.05)
        if value.inner_text() == before_value:  # at the top of its range
            handle.press("ArrowLeft")
        after = wait_for_change(panel, before, timeout)
        assert after != before, f"moving {label!r} changed neither a figure nor a table"
        page.evaluate("() => { setTimeout(window.__kamsim_cancel, 1000); }")
        ms = page.evaluate("() => window.__kamsim_latency")
        status = panel.locator(".kamsim-status").first.inner_text().strip()
        assert not status or "ms" in status, f"moving {label!r} showed: {status}"
        assert "Traceback" not in panel.inner_text()
        out.append((label, float("nan") if ms is None else float(ms)))
    return out


def shoot(page: Any, element: Any, path: Path) -> None:
    """Screenshot ``element`` whole: a viewport as tall as it, then back to the old size.

    (An element taller than the viewport inside Voila's scrolling container comes out cut.)
    """
    old = page.viewport_size
    box = element.bounding_box()
    if box and old and box["height"] > old["height"] - 40:
        page.set_viewport_size({"width": old["width"], "height": int(box["height"]) + 80})
        element.scroll_into_view_if_needed()
    try:
        element.screenshot(path=str(path))
    finally:
        if old:
            page.set_viewport_size(old)
