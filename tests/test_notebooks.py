"""Committed notebooks: thin, clean, and in step with params and the runner."""

import ast

import nbformat
import pytest

from bqlab.analysis import session
from bqlab.config import STAGES
from bqlab.pipeline import KERNEL_NAME, runner_parameters

from .conftest import ROOT

NOTEBOOKS = {stage: ROOT / "notebooks" / f"{stem}.ipynb" for stage, (stem, _) in STAGES.items()}


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
    expected = set(STAGES[stage][1].model_fields) | set(runner_parameters(stage)) | set(session.RUNNER_KEYS[stage])
    assert sorted(declared) == sorted(expected)
