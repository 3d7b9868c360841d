"""Runner behaviour over several runs: reuse, no-op, FORCE, faults, locks, timeouts."""

import json
import os
import time

import nbformat
import numpy as np
import pandas as pd
import pytest

from bqlab.runner.runs import ReportsLock

from .conftest import ROOT, write_yaml
from .test_pipeline import _run

pytestmark = pytest.mark.slow


def _tiny_project(root, fail_training: bool = False):
    """A project on a small local table (fast notebooks); ``fail_training`` sets settings the estimator refuses."""
    import shutil

    for folder in ("params", "notebooks"):
        shutil.copytree(ROOT / folder, root / folder, dirs_exist_ok=True)
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(-2, 1, 30), rng.normal(2, 1, 30), rng.normal(6, 0.5, 4)])  # the label's signal
    labels = ["a"] * 30 + ["b"] * 30 + ["rare"] * 4
    frame = pd.DataFrame({"kind": labels, "x": x.round(3), "y": rng.normal(size=64)})
    frame.to_csv(root / "tiny.csv", index=False)
    write_yaml(
        root / "params/common.yaml",
        "table: my-project.lab.tiny\nlocal_tables: {my-project.lab.tiny: tiny.csv}\n"
        "label: kind\nfeatures: [x, y]\ntest_fraction: 0.2\n",
    )
    # Each value passes scikit-learn's parameter constraints (checked before anything runs), but lbfgs, the
    # default solver, refuses an L1 penalty when fitting: a failure only training can find.
    refused = "hyperparameters: {l1_ratio: 1.0}\n" if fail_training else ""
    write_yaml(root / "params/02-train.yaml", f"model: logistic_regression\ncv_folds: 2\n{refused}")
    write_yaml(root / "params/03-evaluate.yaml", "slice_columns: []\npermutation_repeats: 2\n")
    return root


def _latest(project):
    run_dir = (project / "reports" / "latest").resolve()
    return run_dir, json.loads((run_dir / "run.json").read_text())


def _statuses(record):
    return [s["status"] for s in record["stages"]]


def test_reuse_noop_corrupt_record_and_force(tmp_path, capsys):
    project = _tiny_project(tmp_path, fail_training=True)
    assert _run(project, "report", "--quiet") == 1  # training fails
    first, record = _latest(project)
    assert _statuses(record) == ["ok", "failed", "not run"]

    write_yaml(project / "params/02-train.yaml", "model: logistic_regression\ncv_folds: 2\n")
    capsys.readouterr()
    assert _run(project, "report") == 0
    second, record = _latest(project)
    assert _statuses(record) == ["reused", "ok", "ok"], "only the stages whose inputs changed run"
    assert record["stages"][0]["reused_from"] == first.name
    assert (second / "01-eda.html").read_bytes() == (first / "01-eda.html").read_bytes()
    index = (project / "reports/index.html").read_text()
    assert 'class="reused">reused' in index and f"from {first.name}" in index

    runs_before = sorted(p.name for p in (project / "reports/runs").glob("[!.]*"))
    started = time.monotonic()
    assert _run(project, "report") == 0
    assert "up to date: nothing changed since run " + second.name in capsys.readouterr().out
    assert time.monotonic() - started < 5
    assert sorted(p.name for p in (project / "reports/runs").glob("[!.]*")) == runs_before, "a no-op writes no run"

    write_yaml(project / "params/03-evaluate.yaml", "slice_columns: []\npermutation_repeats: 3\n")
    assert _run(project, "report") == 0
    third, record = _latest(project)
    assert _statuses(record) == ["reused", "reused", "ok"], "an evaluation param re-runs only the evaluation"

    (third / "run.json").write_text('{"run_id": "truncat')  # a corrupt record: ignored, its stage re-runs
    capsys.readouterr()
    assert _run(project, "report") == 0
    out = capsys.readouterr().out
    assert f"warning: ignoring unreadable run record {third / 'run.json'}" in out
    _, record = _latest(project)
    assert _statuses(record) == ["reused", "reused", "ok"]

    before, _ = _latest(project)
    assert _run(project, "report", "--force", "--quiet") == 0
    forced, record = _latest(project)
    assert _statuses(record) == ["ok", "ok", "ok"], "FORCE re-runs every stage"
    figure = sorted((before / "figures").rglob("*.png"), key=lambda p: -p.stat().st_size)[0]  # the largest
    again = forced / figure.relative_to(before)
    assert again.read_bytes() == figure.read_bytes() and again.stat().st_ino == figure.stat().st_ino, (
        "an output identical to an earlier run's is one file on disk"
    )
    assert 0 < record["new_bytes"] < record["size_bytes"]
    assert (
        f"{record['size_bytes'] / 1e6:.1f} MB, {record['new_bytes'] / 1e6:.1f} MB new"
        in (project / "reports/index.html").read_text()
    )


def _with_cell(project, stem, source, position=2):
    path = project / "notebooks" / f"{stem}.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(position, nbformat.v4.new_code_cell(source))
    nbformat.write(nb, path)


@pytest.mark.parametrize(
    "cell, runner, message",
    [
        ("import time\ntime.sleep(60)", "cell_timeout_seconds: 2\n", "the cell exceeded cell_timeout_seconds=2"),
        ("import time\ntime.sleep(60)", "notebook_timeout_seconds: 8\n", "past notebook_timeout_seconds=8"),
        ("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", "", "the kernel died"),
    ],
    ids=["cell-timeout", "notebook-timeout", "kernel-dies"],
)
def test_a_hung_or_dead_kernel_ends_in_a_clear_error(tmp_path, capsys, cell, runner, message):
    project = _tiny_project(tmp_path)
    _with_cell(project, "01-eda", cell)
    write_yaml(project / "params/runner.yaml", runner)
    started = time.monotonic()
    assert _run(project, "report") == 1
    assert time.monotonic() - started < 50
    err = capsys.readouterr().err
    assert "notebook 01-eda stopped at code cell 3 of" in err and message in err  # after params and injected cells
    run_dir, record = _latest(project)
    assert record["status"] == "failed" and _statuses(record)[0] == "failed"
    # training runs beside the data analysis; nothing new starts after the failure
    assert set(_statuses(record)[1:]) <= {"ok", "not run"}
    assert (run_dir / "01-eda.html").is_file(), "the stopped notebook is still rendered"
    assert "This notebook stopped before its end." in (run_dir / "01-eda.html").read_text()


def test_a_second_run_is_refused_while_one_is_running(project, capsys):
    (project / "reports").mkdir()
    with ReportsLock(project / "reports"):
        assert _run(project, "report") == 2
    err = capsys.readouterr().err
    assert "another run is already writing to" in err and f"pid {os.getpid()}" in err


def test_a_hyperparameter_value_scikit_learn_refuses_is_named_before_any_kernel(project, capsys):
    write_yaml(project / "params" / "02-train.yaml", "model: random_forest\nhyperparameters: {max_depth: deep}\n")
    assert _run(project, "report") == 2
    err = capsys.readouterr().err
    assert "02-train.yaml: key 'hyperparameters' (random_forest): The 'max_depth' parameter" in err
    assert "Got 'deep' instead" in err and not list((project / "reports" / "runs").glob("2*"))


def test_reports_folder_that_cannot_be_created_is_refused_before_any_kernel(project, capsys):
    (project / "blocker").write_text("a file where the folder should be")
    code = _run(project, "report", reports="blocker/reports")
    assert code == 2
    assert "cannot write reports to" in capsys.readouterr().err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_reports_folder_is_refused(project, capsys):
    (project / "reports").mkdir()
    (project / "reports").chmod(0o555)
    try:
        assert _run(project, "report") == 2
        assert "cannot write reports to" in capsys.readouterr().err
    finally:
        (project / "reports").chmod(0o755)


def test_old_runs_beyond_keep_runs_are_removed_but_never_one_a_kept_run_reuses(tmp_path, capsys):
    project = _tiny_project(tmp_path)
    write_yaml(project / "params/runner.yaml", "keep_runs: 1\n")
    assert _run(project, "report", "--quiet") == 0
    first, _ = _latest(project)
    write_yaml(project / "params/03-evaluate.yaml", "slice_columns: []\npermutation_repeats: 3\n")
    assert _run(project, "report", "--quiet") == 0
    second, record = _latest(project)
    assert _statuses(record) == ["reused", "reused", "ok"]
    assert first.is_dir(), "the second run reuses the first one's outputs: kept beyond keep_runs"
    capsys.readouterr()
    assert _run(project, "report", "--force") == 0
    third, _ = _latest(project)
    assert "removed 2 old run(s) beyond keep_runs=1 or keep_bytes=1.0GB" in capsys.readouterr().out
    assert sorted(p.name for p in (project / "reports/runs").glob("[!.]*")) == [third.name]
    assert first.name not in (project / "reports/index.html").read_text()
    assert _run(project, "prune") == 0
    out = capsys.readouterr().out
    assert f"  {third.name}  " in out and out.rstrip().splitlines()[-2].endswith("  latest")
    assert "removed 0 run(s) beyond keep_runs=1 or keep_bytes=1.0GB (0.0 MB freed); 1 run(s) kept" in out
