"""The whole pipeline through the CLI: real notebooks, real kernels, real HTML."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

from bqlab.runner import blobs
from bqlab.runner.execution import kernel_temp_dir

from .conftest import ROOT, write_yaml
from .conftest import run_cli as _run
from .emulator import PENGUINS, bigquery_emulator  # noqa: F401 - fixture
from .reading import unreadable_results


@pytest.mark.slow
def test_run_succeeds_and_writes_every_report(finished):
    code, project, run_dir = finished
    assert code == 0
    for name in ("01-eda.html", "02-train.html", "03-evaluate.html", "run.json", "artifacts/train/model.skops"):
        assert (run_dir / name).is_file(), name
    assert (project / "reports" / "index.html").is_file()
    assert [p.name for p in (project / "reports" / "runs").glob(".*")] == [blobs.STORE], "no partial run is left"


@pytest.mark.slow
@pytest.mark.parametrize("stem, figures", [("01-eda", 4), ("02-train", 1), ("03-evaluate", 3)])
def test_each_notebook_has_two_reports_under_2_mb_and_its_figures_as_png(finished, stem, figures):
    _, _, run_dir = finished
    with_code, findings = run_dir / f"{stem}.html", run_dir / f"{stem}.findings.html"
    for report in (with_code, findings):
        assert report.stat().st_size < 2 * 1024**2, f"{report.name}: {report.stat().st_size:,} bytes"
        text = report.read_text(encoding="utf-8")
        assert '<nav class="bqlab-toc" id="contents"><ol><li><a href="#' in text, "contents filled in"
        assert "<script src=" not in text and "cdnjs" not in text
    assert "hl-ipython3" in with_code.read_text() and "hl-ipython3" not in findings.read_text()
    assert 'id="Queries"' in with_code.read_text() and 'id="Queries"' not in findings.read_text(), "analyst-only"
    pngs = sorted((run_dir / "figures" / stem).glob("*.png"))
    assert len(pngs) == figures and all(p.read_bytes().startswith(b"\x89PNG") for p in pngs)
    record = json.loads((run_dir / "run.json").read_text())
    stage = next(s for s in record["stages"] if s["notebook"] == f"{stem}.ipynb")
    assert (stage["html"], stage["findings_html"]) == (with_code.name, findings.name)
    assert 100 < stage["peak_memory_mb"] < 4096, "the kernel's peak memory is recorded"
    assert 0 <= stage["kernel_wait_seconds"] < stage["seconds"], "the wait for the kernel is part of the time"
    waits = [s["kernel_wait_seconds"] for s in record["stages"]]
    assert max(waits) > 0.1, f"a kernel started with the run is waited for on penguins: {waits}"
    low = {s["stage"]: s["low_priority"] for s in record["stages"]}
    assert not low["eda"] and low["train"], f"the training, started beside the data analysis, yields: {low}"


@pytest.mark.slow
@pytest.mark.parametrize("stem", ["01-eda", "02-train", "03-evaluate"])
def test_reports_have_no_error_output_and_show_their_parameters(finished, stem):
    _, _, run_dir = finished
    nb = nbformat.read(run_dir / f"{stem}.ipynb", as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert not [o for o in outputs if o.output_type == "stream" and o.name == "stderr"], (
        "warnings leaked into the report"
    )
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and 'table = "bigquery-public-data.ml_datasets.penguins"' in injected[0].source
    html = (run_dir / f"{stem}.html").read_text(encoding="utf-8")
    assert "celltag_injected-parameters" in html
    assert "Run details" in html and "344 rows" in html and "Python 3." in html and "<h2>Summary</h2>" in html
    assert html.count("<img") >= (0 if stem == "02-train" else 3) and "data:image/png;base64" in html


@pytest.mark.slow
def test_metrics_are_computed_and_shown(finished):
    _, project, run_dir = finished
    train = json.loads((run_dir / "artifacts/train/metrics.json").read_text())
    evaluate = json.loads((run_dir / "artifacts/evaluate/metrics.json").read_text())
    eda = json.loads((run_dir / "artifacts/eda/metrics.json").read_text())
    assert eda["rows"] == 344 and eda["missing_by_column"]["sex"] == 11  # 10 NULL + 1 "."
    assert train["model"] == "random_forest" and train["train_rows"] + train["test_rows"] == 344
    assert 0.9 <= train["cv_accuracy_mean"] <= 1.0
    assert 0.9 <= evaluate["accuracy"] <= 1.0 and evaluate["test_rows"] == train["test_rows"]
    held_out = {c: s["support"] for c, s in evaluate["per_class"].items()}
    expected = {c: int(n * 0.25 + 0.5) for c, n in eda["class_counts"].items()}  # test_fraction of each class
    assert held_out == expected and train["test_rows"] == 86, "25% of 344, to the row (it was 69 before)"
    assert evaluate["result_check"] == "ok" and json.loads((run_dir / "run.json").read_text())["status"] == "ok"
    assert set(evaluate["per_class"]) == {
        "Adelie Penguin (Pygoscelis adeliae)",
        "Chinstrap penguin (Pygoscelis antarctica)",
        "Gentoo penguin (Pygoscelis papua)",
    }
    html = (run_dir / "03-evaluate.html").read_text(encoding="utf-8")
    assert "macro_f1" in html and "Permutation importance" in html
    index = (project / "reports" / "index.html").read_text(encoding="utf-8")
    run_id = run_dir.name
    for stem in ("01-eda", "02-train", "03-evaluate"):
        assert f'href="runs/{run_id}/{stem}.html"' in index
    assert f"test accuracy <strong>{evaluate['accuracy']:.3f}</strong>" in index, "a score to three decimals"


@pytest.mark.slow
def test_a_failing_cell_stops_the_run_and_keeps_earlier_runs(finished, tmp_path, capsys):
    _, project, earlier_run = finished
    shutil.copytree(project / "reports", tmp_path / "reports", symlinks=True)
    before = {p.name: p.read_bytes() for p in (tmp_path / "reports/runs" / earlier_run.name).glob("*.html")}
    for folder in ("params", "notebooks"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    # A real table, and settings that pass scikit-learn's parameter constraints (checked before anything
    # runs) but that the estimator refuses when training fits it (lbfgs, the default solver, takes no L1).
    rng = np.random.default_rng(0)
    labels = ["a"] * 30 + ["b"] * 30 + ["c"] * 10
    pd.DataFrame({"kind": labels, "x": rng.normal(size=70), "y": rng.normal(size=70)}).to_csv(
        tmp_path / "tiny.csv", index=False
    )
    write_yaml(
        tmp_path / "params/common.yaml",
        "table: my-project.lab.tiny\nlocal_tables: {my-project.lab.tiny: tiny.csv}\n"
        "label: kind\nfeatures: [x, y]\ntest_fraction: 0.2\n",
    )
    write_yaml(tmp_path / "params/03-evaluate.yaml", "slice_columns: []\n")
    write_yaml(tmp_path / "params/02-train.yaml", "model: logistic_regression\nhyperparameters: {l1_ratio: 1.0}\n")
    capsys.readouterr()
    code = _run(tmp_path, "report")
    err = capsys.readouterr().err
    assert code == 1
    assert "notebook 02-train failed at code cell" in err and "Solver lbfgs supports only 'l2' or None penalties" in err
    failed_run = (tmp_path / "reports/latest").resolve()
    record = json.loads((failed_run / "run.json").read_text())
    assert [s["status"] for s in record["stages"]] == ["ok", "failed", "not run"]
    assert "Solver lbfgs supports only" in (failed_run / "02-train.html").read_text(encoding="utf-8")
    assert not (failed_run / "03-evaluate.html").exists()
    after = {p.name: p.read_bytes() for p in (tmp_path / "reports/runs" / earlier_run.name).glob("*.html")}
    assert after == before, "the earlier run's reports were changed"
    index = (tmp_path / "reports/index.html").read_text(encoding="utf-8")
    assert index.index(failed_run.name) < index.index(earlier_run.name), "newest run first"
    assert 'class="failed"' in index


def _nothing_written(project) -> bool:
    reports = project / "reports"
    return (
        not (reports / "index.html").exists() and not list(reports.glob("runs/*")) and not list(reports.glob("runs/.*"))
    )


def _set_common(project, old, new):
    path = project / "params/common.yaml"
    path.write_text(path.read_text().replace(old, new))


@pytest.mark.parametrize(
    "old, new, message",
    [
        (
            "label: species",
            "label: species_name",
            "common.yaml: column 'species_name' (key 'label', used by eda) is not in table",
        ),
        (
            "  - body_mass_g\n",
            "  - body_mass_kg\n",
            "common.yaml: column 'body_mass_kg' (key 'features', used by eda) is not in table",
        ),
        ("source: local", "source: warehouse", "key 'source': unknown source 'warehouse': use one of local, bigquery"),
        (
            "table: bigquery-public-data.ml_datasets.penguins",
            "table: bigquery-public-data.ml_datasets.pen`guins",
            "is not valid",
        ),
        (
            "table: bigquery-public-data.ml_datasets.penguins",
            "table: my-project.x.absent",
            "'my-project.x.absent' is not available",
        ),
    ],
)
def test_bad_input_is_refused_before_any_notebook_runs_and_leaves_no_kernel(project, capsys, old, new, message):
    _set_common(project, old, new)
    kernels = set(Path(kernel_temp_dir()).glob(f"bqlab-kernel-{os.getpid()}-*"))
    assert _run(project, "report") == 2
    assert message in capsys.readouterr().err
    assert _nothing_written(project), "nothing may be written for refused input"
    # A kernel started while the table was checked is stopped (its sockets' folder goes with it).
    assert set(Path(kernel_temp_dir()).glob(f"bqlab-kernel-{os.getpid()}-*")) == kernels


def test_an_empty_table_is_refused_before_any_notebook_runs(project, capsys):
    (project / "empty.csv").write_text("species,island\n", encoding="utf-8")
    write_yaml(
        project / "params/common.yaml",
        "table: my-project.lab.empty\nlocal_tables: {my-project.lab.empty: empty.csv}\nfeatures: [island]\n",
    )
    write_yaml(project / "params/03-evaluate.yaml", "slice_columns: []\n")
    assert _run(project, "report") == 2
    assert "table 'my-project.lab.empty' has no rows" in capsys.readouterr().err
    assert _nothing_written(project)


def test_check_validates_without_writing_anything(project, capsys):
    assert _run(project, "check") == 0
    assert "params and table OK" in capsys.readouterr().out
    assert not (project / "reports").exists()


def test_ctrl_c_discards_the_unfinished_run_and_keeps_the_rest(project, capsys, monkeypatch):
    earlier = project / "reports" / "runs" / "20200101T000000Z-abcdef"
    earlier.mkdir(parents=True)
    (earlier / "run.json").write_text('{"run_id": "20200101T000000Z-abcdef", "stages": []}')

    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("bqlab.runner.pipeline.execute_notebook", interrupted)
    assert _run(project, "report") == 130
    assert "interrupted" in capsys.readouterr().err
    assert sorted(p.name for p in (project / "reports" / "runs").glob("[!.]*")) == [earlier.name]
    assert (earlier / "run.json").read_text() == '{"run_id": "20200101T000000Z-abcdef", "stages": []}'


@pytest.mark.slow
def test_the_same_notebooks_on_the_bigquery_emulator_give_the_same_results(finished, bigquery_emulator, tmp_path):  # noqa: F811
    _, _, local_run = finished
    for folder in ("params", "notebooks"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    common = (tmp_path / "params/common.yaml").read_text()
    common = common.replace("table: bigquery-public-data.ml_datasets.penguins", f"table: {PENGUINS}")
    common = common.replace("source: local", "source: bigquery")
    common = common.replace("  project: null", "  project: test-project")
    common = common.replace("  api_endpoint: null", f"  api_endpoint: {bigquery_emulator.endpoint}")
    common = common.replace(
        "  storage_api_endpoint: null", f"  storage_api_endpoint: {bigquery_emulator.storage_endpoint}"
    )
    (tmp_path / "params/common.yaml").write_text(common)
    assert _run(tmp_path, "report", "--profile", "ci", "--quiet") == 0
    remote_run = (tmp_path / "reports" / "latest").resolve()
    record = json.loads((remote_run / "run.json").read_text())
    assert record["provenance"]["data"]["source"] == "bigquery" and record["provenance"]["data"]["rows"] == 344
    for stage in ("eda", "train", "evaluate"):
        local = json.loads((local_run / f"artifacts/{stage}/metrics.json").read_text())
        remote = json.loads((remote_run / f"artifacts/{stage}/metrics.json").read_text())
        assert remote == local, f"{stage} differs between the embedded engine and the warehouse"
    for notebook in remote_run.glob("*.ipynb"):
        outputs = [o for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "code" for o in c.outputs]
        assert not [o for o in outputs if o.output_type in ("error", "stream") and o.get("name") != "stdout"]
    assert "miss" in (remote_run / "01-eda.html").read_text() and (tmp_path / ".cache/bigquery").is_dir()

    assert _run(tmp_path, "report", "--profile", "ci", "--quiet", "--force") == 0
    rerun = (tmp_path / "reports" / "latest").resolve()
    assert rerun != remote_run
    log = [c for c in nbformat.read(rerun / "01-eda.ipynb", as_version=4).cells if c.source == "engine.query_log()"]
    table = log[0].outputs[0]["data"]["text/plain"]
    assert "hit" in table and "miss" not in table, "a re-run on unchanged data reads everything from the cache"


@pytest.mark.slow
def test_no_machine_path_anywhere_and_two_clones_give_the_same_outputs(finished, tmp_path):
    _, first_project, first_run = finished
    second_project = tmp_path / "another" / "checkout"
    for folder in ("params", "notebooks"):
        shutil.copytree(ROOT / folder, second_project / folder)
    assert _run(second_project, "report", "--profile", "ci", "--quiet") == 0
    second_run = (second_project / "reports" / "latest").resolve()
    for project, run_dir in ((first_project, first_run), (second_project, second_run)):
        for path in run_dir.rglob("*"):
            if path.is_file() and path.suffix in (".html", ".ipynb", ".json"):
                text = path.read_text(encoding="utf-8")
                assert str(project) not in text and str(project.resolve()) not in text, f"a machine path in {path}"
    for notebook in sorted(first_run.glob("*.ipynb")):
        one, two = (nbformat.read(run / notebook.name, as_version=4) for run in (first_run, second_run))
        outputs = [
            [(c.source, c.outputs) for c in nb.cells if c.cell_type == "code" and c.get("id") != "report-header"]
            for nb in (one, two)
        ]
        assert outputs[0] == outputs[1], f"{notebook.name}: the outputs differ between two checkouts"


@pytest.mark.slow
def test_every_figure_in_the_reports_has_alt_text_written_from_its_content(finished):
    _, _, run_dir = finished
    for page in sorted(run_dir.glob("*.html")):
        alts = re.findall(r'<img alt="([^"]*)"', page.read_text(encoding="utf-8"))
        images = page.read_text(encoding="utf-8").count("<img ")
        assert images and len(alts) == images, f"{page.name}: {images} images, {len(alts)} with our alt text"
        assert all(len(alt) > 20 and "No description" not in alt for alt in alts), alts
    eda = (run_dir / "01-eda.html").read_text(encoding="utf-8")
    assert 'alt="Rows per species (bar chart of species by rows)"' in eda


@pytest.mark.slow
def test_findings_lead_with_results_and_show_only_tables_sentences_and_figures(finished):
    _, _, run_dir = finished
    assert not unreadable_results(run_dir), "no repr, quoted string or stdout outside analyst-only cells"
    for stem in ("01-eda", "02-train", "03-evaluate"):
        page = (run_dir / f"{stem}.findings.html").read_text(encoding="utf-8")
        summary, first_section = page.index("<h2>Summary</h2>"), page.index('<h2 id="')
        details = page.index('<details class="bqlab-details" id="run-details">')
        assert summary < first_section < details, f"{stem}: results first, the run's details last"
        assert "Parameters</h3>" in page[details:] and "<tr><th>bigquery.location</th>" in page[details:]
        tables = re.findall(r'<table class="dataframe bqlab-table">.*?</table>', page, re.S)
        assert tables, stem
        for table in tables:
            body = table.split("<tbody>")[1]
            assert "<th" not in body, f"{stem}: a table shows the pandas index"
            assert not re.search(r">-?\d+\.\d{5,}<", table), f"{stem}: a number with 5+ decimals"
    eda = (run_dir / "01-eda.findings.html").read_text(encoding="utf-8")
    assert re.search(r"<td[^>]*>body_mass_g</td>\s*<td[^>]*>g</td>", eda), "the unit beside the column it measures"
    assert "Data-quality findings" not in eda, "the data-quality findings are in the summary, not repeated"
    assert "Pairwise relationships by species, all 344 rows" in eda, "the figure says which rows it draws"
    train = (run_dir / "02-train.findings.html").read_text(encoding="utf-8")
    assert "medians learned" in train and "trees" in train and "Pipeline(steps" not in train, "the fitted pipeline"


@pytest.mark.slow
def test_a_second_run_is_compared_with_the_first_and_any_two_runs_on_demand(compared, capsys):
    project, first_run, second, out = compared
    assert (
        f"compared with run {first_run.name}:" in out
        and "param hyperparameters.random_forest.min_samples_leaf: 2 → 9" in out
    )
    page = (second / "compare.html").read_text(encoding="utf-8")
    assert "<code>hyperparameters.random_forest.min_samples_leaf</code></td><td>2</td><td>9</td>" in page
    assert page.count("data:image/png;base64,") >= 5 and "4 figures the same in both runs" in page, "eda figures once"
    assert not re.search(r'(src|href)="(https?:)?//', page)
    index = (project / "reports/index.html").read_text(encoding="utf-8")
    assert f'<a href="runs/{second.name}/compare.html">compared with {first_run.name}</a>' in index
    assert "Trend over 2 comparable runs" in index and index.count('<svg class="spark"') >= 4
    assert _run(project, "compare", "--a", first_run.name[:15]) == 0, "a unique start of a run id is enough"
    out = capsys.readouterr().out
    assert f"A {first_run.name}  →  B {second.name}" in out
    assert (project / "reports/compare" / f"{first_run.name}-vs-{second.name}.html").is_file()
    make = ["make", "--no-print-directory", "-C", str(ROOT), "compare", f"REPORTS={project / 'reports'}"]
    done = subprocess.run([*make, f"A={second.name}", f"B={first_run.name}"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"A {first_run.name}  →  B {second.name}" in done.stdout, "the older run is the baseline"
    wrong = subprocess.run([*make, "A=nope"], capture_output=True, text=True)
    assert wrong.returncode == 2 and "run id 'nope' names no run" in wrong.stderr


def test_the_next_notebooks_kernel_warms_up_once_a_notebook_ran_not_once_its_html_is_made(tmp_path):
    from types import SimpleNamespace

    from bqlab.runner.pipeline import RunContext, _schedule
    from bqlab.runner.runs import StageResult

    events = []
    kernels = SimpleNamespace(take=lambda: SimpleNamespace(pid=None), top_up=lambda: events.append("kernel warms"))
    params = SimpleNamespace(runner=SimpleNamespace(parallel_notebooks=1))
    ctx = RunContext(params, {}, [], "r1", tmp_path, tmp_path, tmp_path, kernels, print, force=True)
    stages = [StageResult(s, f"{s}.ipynb", fingerprint=f"fp-{s}") for s in ("eda", "train", "evaluate")]

    def execute(result, kernel, behind, freed):
        events.append(f"{result.stage} ran")
        if result.stage != "train":
            freed()
        result.status = "failed" if result.stage == "train" else "ok"
        events.append(f"{result.stage} html")

    assert _schedule(ctx, stages, execute, {s.stage: s.stage for s in stages}) is stages[1]
    assert events[:3] == ["eda ran", "kernel warms", "eda html"], "warmed before the HTML, not after"
    assert events[3:] == ["train ran", "train html"], "a failed notebook: nothing more runs, no kernel warms"
