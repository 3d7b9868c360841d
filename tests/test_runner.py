"""Runner behaviour over several runs: reuse, no-op, FORCE, faults, locks, timeouts."""

import errno
import json
import os
import signal
import subprocess
import sys
import time

import nbformat
import numpy as np
import pandas as pd
import pytest

from bqlab.runs import ReportsLock

from .conftest import ROOT, write_yaml
from .test_pipeline import _run

pytestmark = pytest.mark.slow


def _tiny_project(root, fail_training: bool = False):
    """A project on a small local table (fast notebooks); ``fail_training`` sets a C the estimator refuses."""
    import shutil

    for folder in ("params", "notebooks"):
        shutil.copytree(ROOT / folder, root / folder, dirs_exist_ok=True)
    rng = np.random.default_rng(1)
    labels = ["a"] * 30 + ["b"] * 30 + ["rare"] * 4
    frame = pd.DataFrame({"kind": labels, "x": rng.normal(size=64), "y": rng.normal(size=64)})
    frame.to_csv(root / "tiny.csv", index=False)
    write_yaml(
        root / "params/common.yaml",
        "table: my-project.lab.tiny\nlocal_tables: {my-project.lab.tiny: tiny.csv}\n"
        "label: kind\nfeatures: [x, y]\ntest_fraction: 0.2\n",
    )
    refused = "hyperparameters: {C: -1.0}\n" if fail_training else ""  # refused when fitting, not by params
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

    runs_before = sorted(p.name for p in (project / "reports/runs").iterdir())
    started = time.monotonic()
    assert _run(project, "report") == 0
    assert "up to date: nothing changed since run " + second.name in capsys.readouterr().out
    assert time.monotonic() - started < 5
    assert sorted(p.name for p in (project / "reports/runs").iterdir()) == runs_before, "a no-op writes no run"

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

    assert _run(project, "report", "--force", "--quiet") == 0
    _, record = _latest(project)
    assert _statuses(record) == ["ok", "ok", "ok"], "FORCE re-runs every stage"


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


def test_a_killed_run_leaves_the_latest_run_intact_and_the_next_run_recovers(tmp_path):
    project = _tiny_project(tmp_path)
    assert _run(project, "report", "--quiet") == 0
    earlier, _ = _latest(project)
    index_before = (project / "reports/index.html").read_bytes()
    command = [sys.executable, "-m", "bqlab", "report", "--force", "--quiet"]
    runner = subprocess.Popen(command, cwd=project, start_new_session=True)
    deadline = time.monotonic() + 60
    while not list((project / "reports/runs").glob(".*.partial/01-eda.ipynb")) and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(runner.pid, signal.SIGKILL)  # the runner and its kernel, mid-stage
    runner.wait()
    assert list((project / "reports/runs").glob(".*.partial")), "the kill happened mid-run"
    assert (project / "reports/latest").resolve() == earlier
    assert (project / "reports/index.html").read_bytes() == index_before

    done = subprocess.run([sys.executable, "-m", "bqlab", "report"], cwd=project, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "removed the unfinished run" in done.stdout and "up to date" in done.stdout
    assert not list((project / "reports/runs").glob(".*.partial"))
    assert (project / "reports/latest").resolve() == earlier


def test_sigterm_stops_the_run_like_ctrl_c_and_exits_143(tmp_path):
    project = _tiny_project(tmp_path)
    command = [sys.executable, "-m", "bqlab", "report", "--quiet"]
    runner = subprocess.Popen(command, cwd=project, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not list((project / "reports/runs").glob(".*.partial/01-eda.ipynb")) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert runner.poll() is None, "the run was still going when it was terminated"
    sent = time.monotonic()
    runner.send_signal(signal.SIGTERM)  # what docker stop, Kubernetes and CI send
    _, err = runner.communicate(timeout=30)
    assert runner.returncode == 143, err
    assert time.monotonic() - sent < 10, "inside the usual 10-second grace period"
    assert "terminated (SIGTERM): the unfinished run was discarded" in err and "Traceback" not in err
    assert not list((project / "reports/runs").glob(".*")), "the partial run is removed at once"


def test_a_file_under_a_partial_runs_name_is_removed(tmp_path, capsys):
    project = _tiny_project(tmp_path)
    (project / "reports/runs").mkdir(parents=True)
    (project / "reports/runs/.x.partial").write_text("not a run")
    assert _run(project, "check") == 0  # check writes nothing
    assert _run(project, "report", "--quiet") == 0
    assert not (project / "reports/runs/.x.partial").exists()


def test_an_incomplete_run_record_is_skipped_with_one_warning_and_the_run_succeeds(tmp_path, capsys):
    project = _tiny_project(tmp_path)
    old = project / "reports/runs/20200101T000000Z-abcdef"
    old.mkdir(parents=True)
    (old / "run.json").write_text('{"run_id": "20200101T000000Z-abcdef", "stages": [{"stage": "eda"}]}')
    assert _run(project, "report") == 0
    out = capsys.readouterr().out
    assert out.count("warning: ignoring unreadable run record") == 1 and "no valid 'started'" in out
    assert "20200101T000000Z-abcdef" not in (project / "reports/index.html").read_text()


def test_latest_as_a_real_folder_is_moved_aside_and_the_run_succeeds(tmp_path, capsys):
    project = _tiny_project(tmp_path)
    (project / "reports/latest").mkdir(parents=True)
    (project / "reports/latest/note.txt").write_text("unpacked from an archive")
    assert _run(project, "report") == 0
    assert (project / "reports/latest").is_symlink()
    aside = list((project / "reports").glob("latest.folder-*"))
    assert len(aside) == 1 and (aside[0] / "note.txt").read_text() == "unpacked from an archive"
    assert "was a folder, not a link to the newest run" in capsys.readouterr().out


def test_a_run_killed_before_the_index_is_mended_by_the_next_no_op(tmp_path, capsys):
    project = _tiny_project(tmp_path)
    assert _run(project, "report", "--quiet") == 0
    run_dir, record = _latest(project)
    (project / "reports/index.html").write_text("<html>an index from before this run</html>")
    capsys.readouterr()
    assert _run(project, "report") == 0
    assert "up to date" in capsys.readouterr().out
    assert f'id="{record["run_id"]}"' in (project / "reports/index.html").read_text()


def test_a_run_leaves_nothing_of_ours_in_the_temp_folder(tmp_path, monkeypatch):
    project = _tiny_project(tmp_path / "project")
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))  # the kernels' temp folder
    assert _run(project, "report", "--quiet") == 0
    assert not [p.name for p in temp.iterdir() if p.name.startswith("bqlab")], "one empty DuckDB folder per notebook"


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
    assert "removed 2 old run(s) beyond keep_runs=1" in capsys.readouterr().out
    assert sorted(p.name for p in (project / "reports/runs").iterdir()) == [third.name]
    assert first.name not in (project / "reports/index.html").read_text()
    assert _run(project, "prune") == 0
    assert "removed 0 run(s) beyond keep_runs=1 (0.0 MB freed)" in capsys.readouterr().out


def _mount_small_tmpfs(folder) -> bool:
    """Mount a 1 MB tmpfs on ``folder`` where this user may (root in CI); False elsewhere."""
    if os.geteuid() != 0:
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)], capture_output=True)
    return done.returncode == 0


def test_a_full_disk_is_named_with_exit_code_2_and_earlier_runs_untouched(tmp_path, capsys, monkeypatch):
    project = _tiny_project(tmp_path)
    reports = project / "reports"
    reports.mkdir()
    mounted = _mount_small_tmpfs(reports)
    try:
        if not mounted:  # no tmpfs here: writes of the reports fail as on a full disk

            def full(*_args, **_kwargs):
                raise OSError(errno.ENOSPC, "No space left on device")

            monkeypatch.setattr("bqlab.render.write_atomically", full)
        earlier = reports / "runs" / "20200101T000000Z-abcdef"
        earlier.mkdir(parents=True)
        record = '{"run_id": "20200101T000000Z-abcdef", "started": "x", "status": "ok", "seconds": 1.0, "stages": []}'
        (earlier / "run.json").write_text(record)
        assert _run(project, "report") == 2
        err = capsys.readouterr().err
        assert "error: the disk is full: No space left on device" in err and "make prune" in err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1
        assert sorted(p.name for p in (reports / "runs").iterdir()) == [earlier.name], "the partial run is gone"
        assert (earlier / "run.json").read_text() == record
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(reports)], capture_output=True)  # lazy: never fails the test
