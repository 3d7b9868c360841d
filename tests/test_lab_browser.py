"""The by-hand workflow in real JupyterLab: `make lab` on a copy of the project, driven in headless Chromium.

Each notebook is opened in order (01 -> 02 -> 03), run with Run > Run All Cells, and saved: the
notebook file must be saved as the committed source (git status clean), and its executed copy in
reports/scratch/ must hold no error output and its figures. Lab starts with a fresh workspace and
settings folder, so no earlier tab is restored. Screenshots go to ``test-artifacts/lab/<host|container>/``.
The same test drives `make docker-lab` from the twin image.
"""

import json
import shutil

import nbformat
import pytest

from .conftest import ROOT
from .test_lab import TOKEN, make_docker_lab, make_lab

pytestmark = pytest.mark.slow

SCREENSHOTS = ROOT / "test-artifacts" / "lab"
FIGURES = {"01-eda": 4, "02-train": 1, "03-evaluate": 3}  # at least, on the ci profile


@pytest.fixture(scope="module", params=["host", "container"])
def lab_project(request, tmp_path_factory):
    """A copy of the project with JupyterLab serving it on a loopback port, with the ci profile:
    `make lab` on the host, or `make docker-lab` from the twin image."""
    project = tmp_path_factory.mktemp("lab-project")
    for folder in ("params", "notebooks"):
        shutil.copytree(ROOT / folder, project / folder)
    home = tmp_path_factory.mktemp("lab-home")
    if request.param == "container":  # a new container: no earlier workspace or settings
        with make_docker_lab(home, project, request.getfixturevalue("twin_image"), "PROFILE=ci") as port:
            yield project, port
        return
    fresh = {
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),  # no tab of an earlier session
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
    }
    with make_lab(home, "PROFILE=ci", f"LAB_ROOT={project}", env=fresh) as port:
        yield project, port


def _run_all_and_save(page, stem: str, shots) -> None:
    page.get_by_text("Run", exact=True).first.click()  # the Run menu
    page.get_by_text("Run All Cells", exact=True).click()
    # Lab renders only the cells in view: wait for the last code cell's number and an idle kernel.
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / f"{stem}-started.png"), full_page=False)  # kept if it never ends
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
    page.screenshot(path=str(shots / f"{stem}.png"), full_page=False)
    page.get_by_text("File", exact=True).first.click()
    page.get_by_text("Save Notebook", exact=True).click()
    page.wait_for_function("() => !document.querySelector('.lm-TabBar-tab.jp-mod-dirty')", timeout=60_000)


def test_the_notebooks_run_in_order_by_hand_in_jupyterlab(lab_project, browser, request):
    project, port = lab_project
    shots = SCREENSHOTS / request.node.callspec.id
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
            _run_all_and_save(page, stem, shots)
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
