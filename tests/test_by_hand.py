"""Notebooks run by hand, as JupyterLab runs them: no injected params, working folder notebooks/.

They must resolve the params `make report` resolves (params/*.yaml and $BQLAB_PROFILE), find the
upstream model, write only to reports/scratch/, and give the same metrics as the report.
"""

import json
import shutil
import subprocess

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from bqlab.analysis import session
from bqlab.runner.execution import KERNEL_NAME
from bqlab.runner.provenance import redact

from .conftest import ROOT, write_yaml

pytestmark = pytest.mark.slow

SHOW_PARAMS = "import json as _j; print('PARAMS', _j.dumps(params.model_dump(mode='json')))"


def by_hand(project, stem: str, cell: dict | None = None):
    """Run ``notebooks/<stem>.ipynb`` of ``project`` as JupyterLab would; return (notebook, resolved params).

    ``cell``: values typed into the parameters cell. Raises CellExecutionError on an error.
    """
    nb = nbformat.read(project / "notebooks" / f"{stem}.ipynb", as_version=4)
    if cell:
        nb.cells[1].source += "".join(f"\n{k} = {v!r}" for k, v in cell.items())
    nb.cells.append(nbformat.v4.new_code_cell(SHOW_PARAMS))
    NotebookClient(nb, kernel_name=KERNEL_NAME, resources={"metadata": {"path": str(project / "notebooks")}}).execute()
    shown = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    return nb, json.loads(shown.split("PARAMS ", 1)[1])


def _stdout(nb) -> str:
    return "".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.get("name") == "stdout"
    )


@pytest.fixture
def reported(finished, tmp_path, monkeypatch):
    """A copy of a project right after `make report` (profile ci), with BQLAB_PROFILE=ci for the kernels."""
    code, source, _ = finished
    assert code == 0
    for folder in ("params", "notebooks"):
        shutil.copytree(source / folder, tmp_path / folder)
    shutil.copytree(source / "reports", tmp_path / "reports", symlinks=True)
    monkeypatch.setenv(session.PROFILE_VARIABLE, "ci")
    (tmp_path / "made_in").write_text(str(source))  # where make report ran: its paths differ from this copy's
    return tmp_path


def _metrics(folder, stage):
    return json.loads((folder / stage / "metrics.json").read_text())


def test_by_hand_notebooks_resolve_the_reports_params_and_give_its_metrics(reported):
    project = reported
    run_dir = (project / "reports/latest").resolve()
    artifacts, scratch = run_dir / "artifacts", project / "reports/scratch"

    nb, resolved = by_hand(project, "03-evaluate")  # alone, right after make report
    out = _stdout(nb)
    assert "run by hand: params from params/*.yaml with profile ci" in out
    assert f"model_path: reports/runs/{run_dir.name}/artifacts/train/model.skops (train run {run_dir.name})" in out
    assert _metrics(scratch, "evaluate") == _metrics(artifacts, "evaluate")
    _assert_params_as_injected(project, run_dir, "03-evaluate", resolved)

    for stem, stage in (("01-eda", "eda"), ("02-train", "train")):
        _, resolved = by_hand(project, stem)
        _assert_params_as_injected(project, run_dir, stem, resolved)
        assert _metrics(scratch, stage) == _metrics(artifacts, stage), f"{stem} by hand differs from the report"
    nb, _ = by_hand(project, "03-evaluate")
    assert "model_path: reports/scratch/train/model.skops (your by-hand train run)" in _stdout(nb), "the newest"
    assert _metrics(scratch, "evaluate") == _metrics(artifacts, "evaluate")
    assert not (project / "notebooks/artifacts").exists()
    assert sorted(p.name for p in scratch.iterdir()) == ["eda", "evaluate", "train"]


def _assert_params_as_injected(project, run_dir, stem: str, resolved: dict) -> None:
    injected = nbformat.read(run_dir / f"{stem}.ipynb", as_version=4).metadata.papermill.parameters
    injected = {k: v for k, v in injected.items() if k in resolved}
    made_in = (project / "made_in").read_text()
    shown = json.dumps(redact(resolved), sort_keys=True).replace(str(project), made_in)
    assert shown == json.dumps(injected, sort_keys=True), f"{stem}: the params the report used"


def test_a_value_typed_in_the_parameters_cell_wins_and_is_named(reported):
    nb, resolved = by_hand(reported, "02-train", {"model": "logistic_regression", "hyperparameters": {}})
    assert resolved["model"] == "logistic_regression" and resolved["label"] == "species"
    assert "set in this notebook: hyperparameters, model" in _stdout(nb)
    assert (
        json.loads((reported / "reports/scratch/train/model.params.json").read_text())["model"] == "logistic_regression"
    )
    nb, _ = by_hand(reported, "03-evaluate")  # the YAML says random_forest: not the newer by-hand model
    assert "model_path: reports/runs/" in _stdout(nb)


@pytest.mark.parametrize(
    "cell, message",
    [
        ({"label": "spieces"}, "the parameters cell: column 'spieces' (key 'label', used by eda) is not in table"),
        (
            {"sample_rows": -1},
            "the parameters cell of this notebook: key 'sample_rows': Input should be greater than 0 (got -1)",
        ),
    ],
)
def test_bad_params_by_hand_are_one_line_naming_where_to_fix(reported, cell, message):
    with pytest.raises(CellExecutionError) as caught:
        by_hand(reported, "01-eda", cell)
    error = caught.value
    assert message in str(error)
    nb = nbformat.read(reported / "notebooks/01-eda.ipynb", as_version=4)  # unchanged on disk
    assert nb.cells[1].source.count("= ...") == len(nb.cells[1].source.splitlines()) - 3


def test_bad_yaml_by_hand_names_the_file_and_no_model_names_what_to_run(project, monkeypatch):
    write_yaml(project / "params/01-eda.yaml", "sample_rows: 0\n")
    with pytest.raises(CellExecutionError) as caught:
        by_hand(project, "01-eda")
    assert "params/01-eda.yaml" in str(caught.value) and "sample_rows" in str(caught.value)
    write_yaml(project / "params/01-eda.yaml", "sample_rows: 100\n")
    with pytest.raises(CellExecutionError) as caught:
        by_hand(project, "03-evaluate")
    assert "no model.skops of the train stage matches the current params" in str(caught.value)
    assert "run notebooks/02-train.ipynb, or `make report`, first" in str(caught.value)


def test_errors_by_hand_show_one_line_not_a_traceback(project):
    nb = nbformat.read(project / "notebooks/03-evaluate.ipynb", as_version=4)
    client = NotebookClient(nb, kernel_name=KERNEL_NAME, resources={"metadata": {"path": str(project / "notebooks")}})
    with pytest.raises(CellExecutionError):
        client.execute()
    (error,) = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert error.ename == "DataError" and len(error.traceback) == 1
    assert error.traceback[0].startswith("DataError: no model.skops of the train stage matches the current params")


def test_by_hand_outputs_are_ignored_by_git():
    ignored = subprocess.run(
        ["git", "check-ignore", "reports/scratch/train/model.skops"], cwd=ROOT, capture_output=True, text=True
    )
    assert ignored.returncode == 0, "reports/scratch/ must be git-ignored"
