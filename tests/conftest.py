import contextlib
import io
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from bqlab import cli
from bqlab.sources.datasets import PENGUINS_TABLE
from bqlab.sources.embedded import LocalSource

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def penguins_source() -> LocalSource:
    return LocalSource()


@pytest.fixture(scope="session")
def penguins_frame(penguins_source) -> pd.DataFrame:
    return penguins_source.query(f"SELECT * FROM `{PENGUINS_TABLE}`")


@pytest.fixture
def project(tmp_path) -> Path:
    """A copy of the project's params and notebooks in a temporary folder."""
    for folder in ("params", "notebooks"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    return tmp_path


def write_yaml(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def run_cli(project: Path, *args: str, reports: str = "reports") -> int:
    """Run ``python -m bqlab`` in-process on a project folder; return the exit code."""
    folders = ["--params-dir", str(project / "params"), "--notebooks-dir", str(project / "notebooks")]
    return cli.main([*args, *folders, "--reports-dir", str(project / reports)])


@pytest.fixture(scope="session")
def finished(tmp_path_factory):
    """One full run on the fast ci profile, shared by the tests that read its reports."""
    project = tmp_path_factory.mktemp("project")
    for folder in ("params", "notebooks"):
        shutil.copytree(ROOT / folder, project / folder)
    code = run_cli(project, "report", "--profile", "ci", "--quiet")
    run_dir = (project / "reports" / "latest").resolve()
    return code, project, run_dir


@pytest.fixture(scope="session")
def compared(finished, tmp_path_factory):
    """A copy of the finished project with a second run (one hyperparameter changed) compared with the first.

    Returns the project, the first and second run folders and what the second run printed.
    """
    _, first_project, first_run = finished
    project = tmp_path_factory.mktemp("compared") / "project"
    shutil.copytree(first_project, project, symlinks=True)  # the finished run stays untouched
    train = project / "params/02-train.yaml"
    train.write_text(train.read_text().replace("min_samples_leaf: 2", "min_samples_leaf: 9"))
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        assert run_cli(project, "report", "--profile", "ci") == 0
    return project, first_run, (project / "reports" / "latest").resolve(), output.getvalue()


CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        message = "Chromium is not installed (.ci/run installs Debian's chromium package)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.fixture(scope="module")
def browser():
    executable = _chromium()
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright comes with requirements-dev.txt")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS, headless=True)
        yield launched
        launched.close()
