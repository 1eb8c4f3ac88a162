"""Each explorer notebook in real JupyterLab, in headless Chromium, as a strategist uses it.

Open a copy of the notebook, wait for the kernel, Run > Run All Cells, check that no cell
produced an error and that every widget rendered, then move one slider per widget panel
and check that the kernel sent back a different figure or table.
"""

from __future__ import annotations

import json
import re
import time

import pytest

from tests.browser.conftest import (
    ARTIFACTS,
    EXPLORERS,
    move_first_slider,
    rows_visible,
    shoot,
    snapshot,
    wait_for_change,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

# all code cells have run (a number in the prompt), or Lab stopped at an error
RUN_FINISHED_JS = """
() => {
  const prompts = Array.from(document.querySelectorAll(
      '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputArea-prompt'));
  if (prompts.length === 0) return false;
  const texts = prompts.map((p) => p.innerText.trim());
  if (texts.some((t) => t.includes('*'))) return false;
  const status = document.querySelector('.jp-StatusBar-Widget');
  if (!status || !/\\|\\s*Idle/.test(status.innerText)) return false;
  return texts.every((t) => /\\[\\d+\\]/.test(t))
      || document.querySelector('[data-mime-type="application/vnd.jupyter.stderr"]') !== null;
}
"""


def _saved_errors(path, timeout: float = 30.0) -> list[str]:
    """Errors in the notebook file Lab saved (the outputs exactly as the kernel sent them)."""
    deadline = time.monotonic() + timeout
    while True:
        nb = json.loads(path.read_text(encoding="utf-8"))
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        if all(c["execution_count"] is not None for c in code) or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    errors = [f"cell {i}: {o.get('ename')}: {o.get('evalue')}"
              for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"
              for o in c["outputs"] if o["output_type"] == "error"]
    not_run = [i for i, c in enumerate(nb["cells"])
               if c["cell_type"] == "code" and c["execution_count"] is None]
    if not_run:
        errors.append(f"cells never ran: {not_run}")
    return errors


@pytest.mark.parametrize("notebook", EXPLORERS, ids=lambda p: p.name)
def test_notebook_in_jupyterlab(notebook, lab_server, page, lab_log_on_failure):
    check_notebook(notebook, lab_server, page)


def check_notebook(notebook, lab_server, page) -> None:
    """Run all cells of the copy of ``notebook`` in Lab, then move a slider per panel."""
    page.goto(lab_server.lab_url(notebook.name, workspace=notebook.stem))
    page.locator(".jp-NotebookPanel").first.wait_for(state="visible", timeout=60_000)
    # the toolbar says idle before the kernel is ready: wait for the status bar
    page.wait_for_function(
        "() => /\\(ipykernel\\)\\s*\\|\\s*Idle/.test("
        "document.querySelector('.jp-StatusBar-Widget')?.innerText ?? '')",
        timeout=90_000)

    page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-item", has_text=re.compile(r"^Run All Cells")).click()
    page.wait_for_function(RUN_FINISHED_JS, timeout=180_000, polling=500)

    # save (Lab would autosave anyway) and read the outputs the kernel produced
    saved = lab_server.root / notebook.name
    mtime = saved.stat().st_mtime_ns
    page.locator(".jp-NotebookPanel .jp-Notebook").first.click(position={"x": 5, "y": 5})
    page.keyboard.press("Control+s")
    deadline = time.monotonic() + 30
    while saved.stat().st_mtime_ns == mtime:
        assert time.monotonic() < deadline, "JupyterLab did not save the notebook (Ctrl+S)"
        time.sleep(0.2)
    errors = _saved_errors(saved)
    assert not errors, f"{notebook.name}: cells raised errors: {errors}"
    shown_errors = page.locator(".jp-OutputArea-output", has_text="Traceback")
    assert shown_errors.count() == 0, shown_errors.first.inner_text()[:2000]
    broken = page.get_by_text("Error displaying widget")
    assert broken.count() == 0, f"{notebook.name}: a widget failed to render"

    # at 1440x900 with the file browser open, every label and value is fully visible
    page.set_viewport_size({"width": 1440, "height": 900})
    if not page.locator("#filebrowser").is_visible():
        page.locator(".jp-SideBar .lm-TabBar-tab[data-id='filebrowser']").click()
    page.locator("#filebrowser").wait_for(state="visible")
    explorers = page.locator(".jp-OutputArea-output .kamsim-explorer")
    assert explorers.count() >= 1, f"{notebook.name} shows no explorer panel"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for i in range(explorers.count()):
        ex = explorers.nth(i)
        ex.scroll_into_view_if_needed()
        fit = rows_visible(ex)
        assert fit["rows"] > 0
        assert fit["bad"] == [], f"{notebook.name}, panel {i}: cut or outside: {fit['bad']}"
        page.screenshot(path=str(ARTIFACTS / f"lab-{notebook.stem}-panel{i}-view.png"))
        shoot(page, ex, ARTIFACTS / f"lab-{notebook.stem}-panel{i}.png")

    panels = page.locator(".jp-OutputArea-output:has(.kamsim-explorer)")
    assert panels.count() >= 1, f"{notebook.name} shows no slider"
    for i in range(panels.count()):
        panel = panels.nth(i)
        panel.scroll_into_view_if_needed()
        before = snapshot(panel)
        assert before["images"] or before["html"], f"panel {i} shows no figure or table"
        label, old, new = move_first_slider(panel)
        after = wait_for_change(panel, before)
        assert after != before, (
            f"{notebook.name}, panel {i}: moving {label!r} from {old} to {new} changed "
            "neither a figure nor a table within 60 s")


def test_missing_chromium_fails_with_instructions(monkeypatch, tmp_path):
    """Without Chromium the suite fails (not skips) and says how to install it."""
    from . import conftest

    monkeypatch.delenv("KAMSIM_SKIP_BROWSER", raising=False)
    monkeypatch.setattr(conftest, "CHROMIUM", tmp_path / "no-chromium")
    with pytest.raises(pytest.fail.Exception, match=r"apt-get install -y chromium"):
        conftest._check_chromium()
    monkeypatch.setenv("KAMSIM_SKIP_BROWSER", "1")
    with pytest.raises(pytest.skip.Exception, match="KAMSIM_SKIP_BROWSER=1"):
        conftest._check_chromium()
