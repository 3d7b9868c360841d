"""The by-hand workflow in real JupyterLab: `make lab` on a copy of the project, driven in headless Chromium.

Each notebook is opened in order (01 -> 02 -> 03), run with Run > Run All Cells, and saved: the
notebook file must be saved as the committed source (git status clean), and its executed copy in
reports/scratch/ must hold no error output and its figures. Lab starts with a fresh workspace and
settings folder, so no earlier tab is restored. Screenshots go to ``test-artifacts/lab/``.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
import uuid

import nbformat
import pytest

from .conftest import ROOT
from .test_reports_browser import CHROMIUM_FLAGS, _chromium

pytestmark = pytest.mark.slow

SCREENSHOTS = ROOT / "test-artifacts" / "lab"
TOKEN = uuid.uuid4().hex
FIGURES = {"01-eda": 4, "02-train": 1, "03-evaluate": 3}  # at least, on the ci profile


@pytest.fixture(scope="module")
def lab_project(tmp_path_factory):
    """A copy of the project with JupyterLab (`make lab PROFILE=ci`) serving it on a loopback port."""
    project = tmp_path_factory.mktemp("lab-project")
    for folder in ("params", "notebooks"):
        shutil.copytree(ROOT / folder, project / folder)
    home = tmp_path_factory.mktemp("lab-home")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "JUPYTER_TOKEN": TOKEN,
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),  # fresh: no tab of an earlier session
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
    }
    command = ["make", "lab", f"LAB_PORT={port}", "PROFILE=ci", f"LAB_ROOT={project}"]
    log = open(home / "lab.log", "w+", encoding="utf-8")  # noqa: SIM115 - closed below
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={TOKEN}", timeout=5)
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    pytest.fail(f"JupyterLab did not start:\n{log.read()[-3000:]}")
                time.sleep(0.5)
        yield project, port
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


@pytest.fixture(scope="module")
def browser():
    executable = _chromium()
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright comes with requirements-dev.txt")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS, headless=True)
        yield launched
        launched.close()


def _run_all_and_save(page, stem: str) -> None:
    page.get_by_text("Run", exact=True).first.click()  # the Run menu
    page.get_by_text("Run All Cells", exact=True).click()
    # Lab renders only the cells in view: wait for the last code cell's number and an idle kernel.
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{stem}-started.png"), full_page=False)  # kept if it never ends
    page.wait_for_function(
        """() => {
            const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
            const cells = panel.querySelectorAll('.jp-CodeCell');
            const last = cells[cells.length - 1]?.querySelector('.jp-InputArea-prompt')?.textContent || '';
            const status = document.querySelector('#jp-main-statusbar')?.textContent || '';
            return /\\[\\d+\\]/.test(last) && status.includes('| Idle');
        }""",
        timeout=120_000,
    )
    page.screenshot(path=str(SCREENSHOTS / f"{stem}.png"), full_page=False)
    page.get_by_text("File", exact=True).first.click()
    page.get_by_text("Save Notebook", exact=True).click()
    page.wait_for_function("() => !document.querySelector('.lm-TabBar-tab.jp-mod-dirty')", timeout=60_000)


def test_the_notebooks_run_in_order_by_hand_in_jupyterlab(lab_project, browser):
    project, port = lab_project
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    try:
        page.goto(f"http://127.0.0.1:{port}/?token={TOKEN}")  # where make lab opens
        page.wait_for_selector(".jp-DirListing-item", timeout=60_000)
        listed = page.locator(".jp-DirListing-itemText").all_inner_texts()
        assert {"01-eda.ipynb", "02-train.ipynb", "03-evaluate.ipynb"} <= set(listed), "Lab opens on notebooks/"
        for stem in FIGURES:
            page.locator(".jp-DirListing-item", has_text=f"{stem}.ipynb").dblclick()  # open it, as a person does
            page.locator(".lm-TabBar-tab.jp-mod-current", has_text=f"{stem}.ipynb").wait_for(timeout=60_000)
            page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell", timeout=60_000)
            # The project kernel, chosen without asking, started and idle.
            page.locator(".jp-StatusBar-Widget", has_text="Python (bqlab) | Idle").wait_for(timeout=60_000)
            assert page.locator(".jp-Dialog").count() == 0, "no kernel-choice dialog"
            _run_all_and_save(page, stem)
            saved = (project / "notebooks" / f"{stem}.ipynb").read_bytes()
            assert saved == (ROOT / "notebooks" / f"{stem}.ipynb").read_bytes(), "saved as source: git status clean"
            nb = nbformat.read(project / "reports" / "scratch" / f"{stem}.ipynb", as_version=4)  # its outputs
            outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
            errors = [f"{o.ename}: {o.evalue}" for o in outputs if o.output_type == "error"]
            assert not errors, f"{stem}: {errors}"
            figures = sum("image/png" in o.get("data", {}) for o in outputs)
            assert figures >= FIGURES[stem], f"{stem}: {figures} figures"
    finally:
        context.close()
    scratch = project / "reports" / "scratch"
    assert {"eda", "evaluate", "train"} <= {p.name for p in scratch.iterdir()}
    metrics = json.loads((scratch / "evaluate" / "metrics.json").read_text())
    assert metrics["accuracy"] > 0.9
