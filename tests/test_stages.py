"""The stage registry: consistent with itself, the params, the notebooks and the reports; and a
fourth stage is one registry entry, one params file and its notebook."""

import json
import shutil
import subprocess
import sys

import nbformat
import pytest

from bqlab.config import params_model
from bqlab.report import findings
from bqlab.stages import METRICS_FILE, STAGES, Stage

from .conftest import ROOT, run_cli


@pytest.mark.parametrize("stage", STAGES.values(), ids=lambda s: s.name)
def test_each_stage_has_its_notebook_params_file_model_and_summary_writer(stage):
    assert (ROOT / "notebooks" / stage.notebook).is_file()
    assert (ROOT / "params" / f"{stage.stem}.yaml").is_file()
    assert params_model(stage.name).__name__ == stage.params
    assert stage.summary in findings.WRITERS
    assert METRICS_FILE in stage.outputs, "every stage writes its metrics"


def test_stages_read_only_outputs_of_stages_that_run_before_them():
    order = list(STAGES)
    for stage in STAGES.values():
        for upstream in stage.upstream:
            assert order.index(upstream) < order.index(stage.name), f"{stage.name} runs after {upstream}"
        for key, spec in stage.inputs.items():
            source, _, name = spec.partition("/")
            assert source in stage.upstream and name in STAGES[source].outputs, f"{stage.name}.{key}: {spec}"


PREDICT = """\
import json
import pathlib

from bqlab.analysis import modeling

fitted = modeling.load_model(model_path)
pathlib.Path(output_dir).mkdir(parents=True, exist_ok=True)
pathlib.Path(output_dir, "metrics.json").write_text(json.dumps({"classes": len(fitted.classes_)}))
"""


@pytest.mark.slow
def test_a_fourth_stage_is_one_registry_entry_one_params_file_and_its_notebook(tmp_path, monkeypatch, capsys):
    for folder in ("params", "notebooks"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    (tmp_path / "params/04-predict.yaml").write_text("# no keys of its own\n")
    kernel = {"name": "bqlab", "language": "python", "display_name": "bqlab"}
    notebook = nbformat.v4.new_notebook(metadata={"kernelspec": kernel})
    parameters = nbformat.v4.new_code_cell("output_dir = ...\nmodel_path = ...", metadata={"tags": ["parameters"]})
    notebook.cells = [nbformat.v4.new_markdown_cell("# Prediction"), parameters, nbformat.v4.new_code_cell(PREDICT)]
    nbformat.write(notebook, tmp_path / "notebooks/04-predict.ipynb")
    predict = Stage(
        "predict",
        "04-predict",
        "CommonParams",
        upstream=("train",),
        inputs={"model_path": "train/model.skops"},
        key_metrics=(("classes", "classes predicted"),),
    )
    monkeypatch.setitem(STAGES, "predict", predict)

    assert run_cli(tmp_path, "report", "--profile", "ci", "--quiet") == 0, capsys.readouterr().err
    run_dir = (tmp_path / "reports/latest").resolve()
    record = json.loads((run_dir / "run.json").read_text())
    assert [s["stage"] for s in record["stages"]] == ["eda", "train", "evaluate", "predict"]
    assert record["stages"][3]["metrics"] == {"classes": 3}, "it read the model the train stage made"
    assert "Classes: 3." in (run_dir / "04-predict.findings.html").read_text(encoding="utf-8")
    assert "classes predicted <strong>3</strong>" in (tmp_path / "reports/index.html").read_text(encoding="utf-8")

    train = tmp_path / "params/02-train.yaml"
    train.write_text(train.read_text().replace("min_samples_leaf: 2", "min_samples_leaf: 5"))
    assert run_cli(tmp_path, "report", "--profile", "ci", "--quiet") == 0
    record = json.loads(((tmp_path / "reports/latest").resolve() / "run.json").read_text())
    status = {s["stage"]: s["status"] for s in record["stages"]}
    assert status == {"eda": "reused", "train": "ok", "evaluate": "ok", "predict": "ok"}, "a new model: it runs again"


@pytest.mark.slow
def test_the_benchmarks_bare_computation_runs_the_notebooks_own_code_and_gets_the_reports_metrics(finished, tmp_path):
    _, project, run_dir = finished
    bare = [sys.executable, str(ROOT / "benchmarks/bare_pipeline.py"), str(project / "params"), "--profile", "ci"]
    done = subprocess.run([*bare, "--artifacts", str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert set(json.loads(done.stdout.splitlines()[-1])) == {"setup", *STAGES, "total"}
    for stage in STAGES:
        bare_metrics = json.loads((tmp_path / stage / METRICS_FILE).read_text())
        assert bare_metrics == json.loads((run_dir / "artifacts" / stage / METRICS_FILE).read_text()), stage
