"""Committed notebooks: thin, clean, and in step with params and the runner."""

import ast
import subprocess
import sys
import time

import nbformat
import pytest

from bqlab import lab_save
from bqlab.config import params_model
from bqlab.runner.execution import KERNEL_NAME
from bqlab.stages import STAGES

from .conftest import ROOT, needs_git

NOTEBOOKS = {stage.name: ROOT / "notebooks" / stage.notebook for stage in STAGES.values()}


def _code_cells(path):
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def test_every_stage_has_a_notebook_and_nothing_else_is_there():
    assert sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb")) == sorted(p.name for p in NOTEBOOKS.values())


@pytest.mark.parametrize("stage", STAGES)
def test_committed_without_outputs(stage):
    for cell in _code_cells(NOTEBOOKS[stage]):
        assert cell.outputs == [] and cell.execution_count is None, f"{NOTEBOOKS[stage].name} has outputs: strip them"


@pytest.mark.parametrize("stage", STAGES)
def test_no_function_or_class_definitions(stage):
    for cell in _code_cells(NOTEBOOKS[stage]):
        for node in ast.walk(ast.parse(cell.source)):
            assert not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda), (
                f"{NOTEBOOKS[stage].name}: move logic into src/bqlab and call it"
            )


@pytest.mark.parametrize("stage", STAGES)
def test_kernel_is_the_registered_project_kernel(stage):
    nb = nbformat.read(NOTEBOOKS[stage], as_version=4)
    assert nb.metadata.kernelspec.name == KERNEL_NAME
    assert nb.metadata.kernelspec.language == "python"


@pytest.mark.parametrize("stage", STAGES)
def test_parameters_cell_declares_exactly_the_params_and_runner_keys_and_sets_no_value(stage):
    first = _code_cells(NOTEBOOKS[stage])[0]
    assert "parameters" in first.metadata.get("tags", []), "the first code cell must be tagged 'parameters'"
    declared = []
    for node in ast.parse(first.source).body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1, "one assignment per line (papermill reads it)"
        assert ast.literal_eval(node.value) is ..., "values live in params/*.yaml only: every name is set to ..."
        declared.append(node.targets[0].id)
    expected = set(params_model(stage).model_fields) | set(STAGES[stage].runner_keys)
    assert sorted(declared) == sorted(expected)


@pytest.mark.parametrize("stage", STAGES)
def test_committed_as_nbstripout_leaves_them(stage):
    command = [sys.executable, "-m", "nbstripout", "-t", "--extra-keys", " ".join(lab_save.EXTRA_KEYS)]
    stripped = subprocess.run([*command, str(NOTEBOOKS[stage])], capture_output=True, text=True, check=True)
    assert stripped.stdout == NOTEBOOKS[stage].read_text(encoding="utf-8"), "run .venv/bin/nbstripout on it"


@needs_git
def test_after_setup_git_outputs_are_never_staged_and_diffs_show_cells_not_json(tmp_path):
    """A notebook saved with outputs outside Lab (Lab saves the source: tests/test_lab_browser.py).

    git may still list such a file as modified (it compares sizes before it runs the clean
    filter), but it has no diff and nothing of its outputs is ever staged.
    """
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    make = ["make", "-f", str(ROOT / "Makefile"), "setup-git", f"VENV={ROOT / '.venv'}"]
    done = subprocess.run(make, cwd=clone, capture_output=True, text=True)
    assert done.returncode == 0 and "outputs are stripped when staged" in done.stdout, done.stderr
    assert (clone / ".git/hooks/pre-commit").is_file()

    path = clone / "notebooks/01-eda.ipynb"
    nb = nbformat.read(path, as_version=4)
    for n, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):  # as JupyterLab saves after Run All
        cell.execution_count = n + 1
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="a result\n")]
    nbformat.write(nb, path)

    def git(*args):
        return subprocess.run(["git", *args], cwd=clone, capture_output=True, text=True, check=True).stdout

    assert git("diff") == "", "outputs alone are no change"
    nb.cells[-1].source += "\n# a change"
    nbformat.write(nb, path)
    assert git("status", "--porcelain").split() == ["M", "notebooks/01-eda.ipynb"]
    diff = git("diff")
    assert "# a change" in diff and "a result" not in diff and "nbdiff" in diff
    git("add", "notebooks/01-eda.ipynb")
    staged = nbformat.reads(git("show", ":notebooks/01-eda.ipynb"), as_version=4)
    assert all(c.outputs == [] for c in staged.cells if c.cell_type == "code"), "the staged notebook has no outputs"


@needs_git
def test_a_fresh_clones_first_git_status_after_setup_git_runs_no_filter(tmp_path):
    """The first report's provenance asks git status: no notebook goes through nbstripout (1.6 s each)."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    time.sleep(1.1)  # make report runs setup-git after creating the venv, never in the clone's second
    make = ["make", "-f", str(ROOT / "Makefile"), "setup-git", f"VENV={ROOT / '.venv'}"]
    assert subprocess.run(make, cwd=clone, capture_output=True, text=True).returncode == 0
    subprocess.run(["git", "config", "filter.nbstripout.clean", "false"], cwd=clone, check=True)  # fails if run
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=clone, capture_output=True)
    assert status.returncode == 0 and status.stdout == b"", status.stderr
