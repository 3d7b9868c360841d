import contextlib
import io
import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from bqlab import cli
from bqlab.sources.datasets import PENGUINS_TABLE
from bqlab.sources.embedded import LocalSource

ROOT = Path(__file__).resolve().parents[1]

# Inside the image (make docker-test) the tests run on its environment.
IN_IMAGE = os.environ.get("BQLAB_ENV") == "system"
# The image holds a copy of the project, not a checkout, and no git (as environment.yml has none).
needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="needs git, which the image does not hold")


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


# The twin image (docs/container.md): built once per session by `make docker-build-twin` with
# rootful podman, which .ci/run installs; its layers are cached, so a rebuild takes seconds.
TWIN_IMAGE = "bqlab:twin-test"
# make docker-* and podman as the twin tests call them: podman, even where Docker answers, and
# none of this session's own settings (PYTEST_ARGS would reach the suite inside the image).
CONTAINER_ENV = {
    **{k: v for k, v in os.environ.items() if k not in {"PYTEST_ARGS", "IMAGE", "BASE", "REPORTS"}},
    "CONTAINER_ENGINE": "podman",
    "CONTAINERS_CONF": str(ROOT / "docker/containers.conf"),
}


def _container_runtime_note() -> str | None:
    """Why the twin cannot be built here, or None when it can."""
    if IN_IMAGE:
        return "runs on the host: the image does not build itself"
    missing = [tool for tool in ("podman", "mmdebstrap") if not shutil.which(tool)]
    if missing:
        return f"no container runtime: {' and '.join(missing)} missing (.ci/run installs them with apt-get)"
    if os.geteuid() != 0:
        return "the twin is built and run with rootful podman: run the tests as root (CI does)"
    return None


@pytest.fixture(scope="session")
def twin_image() -> str:
    """The twin's tag, built from this checkout (the build output is shown when it fails)."""
    note = _container_runtime_note()
    if note:
        if os.environ.get("CI") and not IN_IMAGE:
            pytest.fail(note)
        pytest.skip(note)
    command = ["make", "docker-build-twin", f"IMAGE={TWIN_IMAGE}"]
    built = subprocess.run(command, cwd=ROOT, env=CONTAINER_ENV, capture_output=True, text=True, timeout=1500)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    return TWIN_IMAGE
