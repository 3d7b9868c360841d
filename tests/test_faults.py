"""The runner under faults: a signal at each named point of a run, and a seeded random-kill soak.

After every kill the reports folder must be one a reader and the next run can trust: the index
parses and each of its links resolves, every listed run is complete, ``latest`` points at a
complete run the index lists, no kernel of the killed run is left, nothing of ours is left in
the temp folder (after SIGKILL, nothing can clean up: the next run removes it), and the next
run succeeds. The signal is sent at a named point by ``tests/fault_runner.py``, not after a
sleep; the soak sends them at random times from a seeded generator.
"""

import errno
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

from bqlab.runner import blobs
from bqlab.runner.runs import _check_record, discard_partials, load_runs, remove_runs, runs_to_prune

from .conftest import ROOT
from .fault_runner import POINTS
from .test_pipeline import _run
from .test_runner import _tiny_project

pytestmark = pytest.mark.slow

EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGKILL: -signal.SIGKILL}
# Each run of the suite kills SOAK_KILLS runs with each signal in an order drawn from a new seed
# (printed, and set with BQLAB_SOAK_SEED to replay it): runs of the suite add up to a longer
# soak than one run could afford (20 kills of each took 390 s of a 17-minute suite; 8 of each,
# 184 s of a 28.7-minute suite).
SOAK_KILLS = int(os.environ.get("BQLAB_SOAK_KILLS", "6"))  # of each signal
SOAK_SEED = int(os.environ.get("BQLAB_SOAK_SEED") or random.SystemRandom().randrange(10**6))
SOAK_LIMIT_SECONDS = 25 * 60


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.links += [value for name, value in attrs if name in ("href", "src") and value]


def _kernels_of(temp: Path) -> list[int]:
    """Pids of kernel processes whose connection file lies in ``temp``."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "ipykernel" in cmdline and str(temp) in cmdline:
            pids.append(int(proc.name))
    return pids


def unfinished(reports: Path) -> list[Path]:
    """What a run left hidden in ``reports/runs`` (a partial run, a temporary file): all but the content store."""
    return [p for p in (reports / "runs").glob(".*") if p.name != blobs.STORE]


def check_consistent(reports: Path, temp: Path, stopped_pid: int | None = None) -> None:
    """Assert what must hold in ``reports`` and ``temp`` after a run ends in any way.

    ``stopped_pid``: a runner stopped by INT or TERM, which must have removed its own temporary
    folders (those of runs killed earlier by SIGKILL may remain until a run removes them).
    """
    runs = {}
    for folder in (reports / "runs").glob("[!.]*"):
        record = json.loads((folder / "run.json").read_text())  # a listed-to-be run is complete
        _check_record(record)
        assert record["status"] in ("ok", "check", "failed") and record["run_id"] == folder.name
        runs[folder.name] = record
    index = reports / "index.html"
    latest = reports / "latest"
    if index.exists():
        page = index.read_text(encoding="utf-8")
        parser = _Links()
        parser.feed(page)
        parser.close()
        assert page.rstrip().endswith("</html>"), "the index is whole"
        for link in parser.links:
            if "://" not in link and not link.startswith(("#", "data:")):
                assert (reports / link.split("#")[0]).exists(), f"the index links {link}, which is missing"
        listed = {run_id for run_id in runs if f'id="{run_id}"' in page}
        assert listed, "the index lists the runs"
    else:
        listed = set()
    if latest.exists() or latest.is_symlink():
        assert latest.is_symlink() and latest.resolve().parent == (reports / "runs").resolve()
        assert latest.resolve().name in listed, "latest points at a complete run the index lists"
    deadline = time.monotonic() + 10  # after SIGKILL a kernel notices its parent is gone within a second or so
    while _kernels_of(temp) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _kernels_of(temp), "no kernel of the run is left"
    if stopped_pid is not None:
        left = [p.name for p in temp.iterdir() if not p.name.startswith("bqlab-") or f"-{stopped_pid}-" in p.name]
        assert not left, f"temporary entries left: {left}"


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A tiny project with one finished run."""
    project = _tiny_project(tmp_path_factory.mktemp("base"))
    done = _report(project, Path(tempfile.gettempdir()))
    assert done.returncode == 0, done.stderr
    return project


def _copy(base: Path, target: Path) -> Path:
    shutil.copytree(base, target, symlinks=True)
    return target


@pytest.fixture
def temp():
    """A private temp folder for the runner, with a short path (kernel sockets live there)."""
    folder = Path(tempfile.mkdtemp(prefix="bqf-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _env(temp: Path) -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))  # ROOT: tests.fault_runner
    return {**os.environ, "TMPDIR": str(temp), "PYTHONPATH": path}


def _interruptible() -> None:
    """In the child: SIGINT as at a terminal (a test run in the background inherits it ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _report(project: Path, temp: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "bqlab", "report", *args]
    return subprocess.run(command, cwd=project, env=_env(temp), capture_output=True, text=True, timeout=300)


# SIGTERM takes the same path as Ctrl-C (cli turns it into a KeyboardInterrupt): one point suffices.
CASES = [(point, signal.SIGINT) for point in POINTS] + [(point, signal.SIGKILL) for point in POINTS]
CASES += [("mid-cell", signal.SIGTERM)]


@pytest.mark.parametrize("point, sig", CASES, ids=[f"{p}-{s.name}" for p, s in CASES])
def test_a_signal_at_each_point_leaves_a_consistent_folder_and_the_next_run_succeeds(base, tmp_path, temp, point, sig):
    project = _copy(base, tmp_path / "project")
    reports = project / "reports"
    earlier = (reports / "latest").resolve()
    earlier_record = (earlier / "run.json").read_bytes()
    command = [sys.executable, str(ROOT / "tests/fault_runner.py"), point, sig.name[3:], "report", "--force"]
    done = subprocess.run(command, cwd=project, env=_env(temp), capture_output=True, text=True, timeout=300)
    assert done.returncode == EXIT[sig], done.stderr
    assert "Traceback" not in done.stderr
    if sig != signal.SIGKILL:
        how = "terminated (SIGTERM)" if sig == signal.SIGTERM else "interrupted"
        assert f"{how}: the unfinished run was discarded" in done.stderr
    check_consistent(reports, temp)
    if sig != signal.SIGKILL:
        assert not list(temp.iterdir()), "a run stopped by INT or TERM removes its kernels' temporary folders"
    assert (earlier / "run.json").read_bytes() == earlier_record, "the earlier run is untouched"
    finished = point in ("publishing", "index-writing", "latest")  # the new run was complete and in place
    if sig != signal.SIGKILL and not finished:
        assert not unfinished(reports), "the unfinished run is removed at once"

    if sig == signal.SIGKILL and point in ("kernel-start", "mid-cell", "rendering"):
        assert [p for p in temp.iterdir() if p.name.startswith("bqlab-kernel-")], "a kernel was running"

    after = _report(project, temp)
    assert after.returncode == 0, after.stderr
    check_consistent(reports, temp)
    assert not list(temp.iterdir()), "the next run removed what the killed one left in the temp folder"
    assert not unfinished(reports) and not list(reports.glob(".*.tmp"))
    if finished:  # the next run finishes publishing it: index and latest
        assert (reports / "latest").resolve() != earlier and "up to date" in after.stdout
    else:
        assert (reports / "latest").resolve() == earlier and "up to date" in after.stdout


def test_a_seeded_random_kill_soak_never_leaves_a_folder_the_next_run_cannot_trust(base, tmp_path, temp):
    """Kill ``make report FORCE=1`` at random moments, SOAK_KILLS times with each signal, in a seeded order
    (the seed is printed: a failure shows it)."""
    project = _copy(base, tmp_path / "project")
    reports = project / "reports"
    print(f"soak seed {SOAK_SEED}: replay with BQLAB_SOAK_SEED={SOAK_SEED}")
    rng = random.Random(SOAK_SEED)
    command = [sys.executable, "-m", "bqlab", "report", "--force", "--quiet"]

    def start() -> tuple[subprocess.Popen, float]:
        """Start a run; return it and when it took the reports lock (the runner is then up)."""
        runner = subprocess.Popen(
            command,
            cwd=project,
            env=_env(temp),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=_interruptible,
        )
        lock, deadline = reports / ".lock", time.monotonic() + 60
        while runner.poll() is None and time.monotonic() < deadline:
            if lock.is_file() and lock.read_text() == f"pid {runner.pid}":
                break
            time.sleep(0.02)
        return runner, time.monotonic()

    runner, locked = start()  # a whole run sets the window the kills are drawn from
    assert runner.wait(timeout=300) == 0
    window = time.monotonic() - locked
    signals = [signal.SIGINT, signal.SIGTERM, signal.SIGKILL]
    counts = {sig.name: {"killed": 0, "finished first": 0} for sig in EXIT}
    slowest = {sig.name: 0.0 for sig in EXIT}  # seconds from the signal to the runner's exit
    soak_started = time.monotonic()
    sent_signals = 0
    while True:  # until each signal has stopped SOAK_KILLS runs, in a seeded random order
        waiting = [sig for sig in signals if counts[sig.name]["killed"] < SOAK_KILLS]
        if not waiting:
            break
        sig = rng.choice(waiting)
        sent_signals += 1
        assert time.monotonic() - soak_started < SOAK_LIMIT_SECONDS, f"the soak ran past its limit: {counts}"
        runner, locked = start()
        time.sleep(max(0.0, rng.uniform(0, window) - (time.monotonic() - locked)))
        finished_first = runner.poll() is not None
        if not finished_first:
            runner.send_signal(sig)
            sent = time.monotonic()
        try:
            out, err = runner.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            runner.kill()
            pytest.fail(f"{sig.name}: the runner did not stop within 60 s")
        assert "Traceback" not in err, err
        # The run had ended before the signal reached it (maybe while Python was exiting).
        if finished_first or runner.returncode == 0 or (runner.returncode < 0 and "report OK" in out):
            assert runner.returncode in (0, -sig), err
            counts[sig.name]["finished first"] += 1
        else:
            # After it cleaned up and said so, the runner may still end by the signal itself (a
            # shell reads that as 128 + the signal, the same 130/143): seen once in 60 INTs.
            said = sig != signal.SIGKILL and "the unfinished run was discarded" in err
            assert runner.returncode == EXIT[sig] or (said and runner.returncode == -sig), err
            counts[sig.name]["killed"] += 1
            slowest[sig.name] = max(slowest[sig.name], round(time.monotonic() - sent, 1))
        check_consistent(reports, temp, stopped_pid=None if sig == signal.SIGKILL else runner.pid)

    after = _report(project, temp)
    assert after.returncode == 0, after.stderr
    check_consistent(reports, temp)
    assert not list(temp.iterdir()) and not unfinished(reports)
    seconds = time.monotonic() - soak_started
    print(f"\nsoak: window {window:.1f}s, {sent_signals} signals in {seconds:.0f}s: {counts}; slowest exit {slowest}")
    # On a shared machine runs speed up and slow down: a signal may land after its run ended,
    # but most must land mid-run, or the soak tests nothing.
    assert sent_signals <= 2 * len(signals) * SOAK_KILLS, f"most signals must land mid-run: {counts}"


# Damaged reports folders, leftovers and a full disk.


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
    assert not unfinished(project / "reports"), "the partial run is removed at once"


def test_sigterm_stops_every_point_of_a_sweep_running_side_by_side(tmp_path, temp):
    sig = signal.SIGTERM  # Ctrl-C takes the same path (test_sweeps stops a point with KeyboardInterrupt)
    project = _tiny_project(tmp_path)
    sweep = project / "params" / "sweeps" / "folds.yaml"
    sweep.parent.mkdir(parents=True, exist_ok=True)
    sweep.write_text("grid:\n  seed: [1, 2, 3]\n", encoding="utf-8")  # each point runs every notebook
    command = [sys.executable, "-m", "bqlab", "sweep", "folds", "--quiet"]
    runner = subprocess.Popen(
        command, cwd=project, env=_env(temp), stderr=subprocess.PIPE, text=True, preexec_fn=_interruptible
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:  # two points' runs at once, and a notebook running
        running = {p.name for p in (project / "reports/runs").glob(".*.partial")}
        if len(running) >= 2 and list((project / "reports/runs").glob(".*.partial/*.ipynb")):
            break
        time.sleep(0.1)
    assert runner.poll() is None and len(running) >= 2, "two points were going when the sweep was stopped"
    sent = time.monotonic()
    runner.send_signal(sig)
    _, err = runner.communicate(timeout=60)
    assert runner.returncode == EXIT[sig], err
    assert time.monotonic() - sent < 10, "inside the usual 10-second grace period"
    assert "Traceback" not in err, err
    assert "the finished ones are kept; make sweep NAME=folds runs the others" in err
    assert not unfinished(project / "reports"), f"every unfinished run is removed at once (were: {running})"
    check_consistent(project / "reports", temp, stopped_pid=runner.pid)
    again = subprocess.run(command, cwd=project, env=_env(temp), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "3 points (" in again.stdout and "0 failed" in again.stdout


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


def test_a_run_leaves_nothing_in_the_temp_folder_and_removes_only_dead_runs_folders(tmp_path, temp, monkeypatch):
    project = _tiny_project(tmp_path / "project")
    monkeypatch.setenv("TMPDIR", str(temp))  # the kernels' own temp folder (DuckDB's spill folder)
    monkeypatch.setattr(tempfile, "tempdir", str(temp))  # this process's (kernel sockets)
    dead = _dead_pid()
    (temp / f"bqlab-kernel-{dead}-abcd1234").mkdir()  # a runner killed earlier
    (temp / f"bqlab-duckdb-{dead}-abcd1234").mkdir()  # a kernel killed while DuckDB spilled
    alive = temp / f"bqlab-kernel-{os.getppid()}-abcd1234"  # a live process's (another run, Lab)
    alive.mkdir()
    (temp / "unrelated").mkdir()
    assert _run(project, "report", "--quiet") == 0
    assert sorted(p.name for p in temp.iterdir()) == sorted([alive.name, "unrelated"])


def _dead_pid() -> int:
    """The pid of a process that has ended."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


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

            monkeypatch.setattr("bqlab.report.render.write_atomically", full)
        earlier = reports / "runs" / "20200101T000000Z-abcdef"
        earlier.mkdir(parents=True)
        record = '{"run_id": "20200101T000000Z-abcdef", "started": "x", "status": "ok", "seconds": 1.0, "stages": []}'
        (earlier / "run.json").write_text(record)
        assert _run(project, "report") == 2
        err = capsys.readouterr().err
        assert "error: the disk is full: No space left on device" in err and "make prune" in err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1
        assert sorted(p.name for p in (reports / "runs").glob("[!.]*")) == [earlier.name], "the partial run is gone"
        assert (earlier / "run.json").read_text() == record
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(reports)], capture_output=True)  # lazy: never fails the test


def _record(reports: Path, run_id: str, folder: str | None = None, reused_from: str | None = None) -> Path:
    run_dir = reports / "runs" / (folder or run_id)
    run_dir.mkdir(parents=True)
    stage = {"stage": "eda", "notebook": "01-eda.ipynb", "status": "ok", "seconds": 1.0, "metrics": {}}
    record = {"run_id": run_id, "started": "x", "status": "ok", "seconds": 1.0, "stages": [stage]}
    record["stages"][0]["reused_from"] = reused_from
    (run_dir / "run.json").write_text(json.dumps(record))
    return run_dir


def test_runs_in_progress_or_being_removed_are_never_listed_and_the_next_run_removes_them(tmp_path):
    reports = tmp_path / "reports"
    _record(reports, "20260101T000000Z-aaaaaa")
    _record(reports, "20260102T000000Z-bbbbbb", folder=".20260102T000000Z-bbbbbb.removing")
    _record(reports, "20260103T000000Z-cccccc", folder=".20260103T000000Z-cccccc.partial")
    (reports / ".index.html.tmp").write_text("<html>half an ind")
    assert [r["run_id"] for r in load_runs(reports)] == ["20260101T000000Z-aaaaaa"]
    assert [p.name for p in discard_partials(reports)] == [".20260103T000000Z-cccccc.partial"]
    assert sorted(p.name for p in reports.rglob("*")) == ["20260101T000000Z-aaaaaa", "run.json", "runs"]


def test_pruning_keeps_the_latest_run_and_what_kept_runs_reuse(tmp_path):
    reports = tmp_path / "reports"
    ids = [f"2026010{i}T000000Z-aaaaaa" for i in range(1, 7)]
    _record(reports, ids[0])  # reused by the newest run: kept
    _record(reports, ids[1])  # latest points here: kept
    _record(reports, ids[2])
    _record(reports, ids[3])
    _record(reports, ids[4])
    _record(reports, ids[5], reused_from=ids[0])  # the new run, not yet latest
    (reports / "latest").symlink_to(f"runs/{ids[1]}")
    assert runs_to_prune(reports, keep=2) == [ids[3], ids[2]], "latest is kept"
    assert runs_to_prune(reports, keep=2, latest=ids[5]) == [ids[3], ids[2], ids[1]], "once the new run is latest"
    freed = remove_runs(reports, [ids[3], ids[2]])
    assert freed == 2 * len((reports / "runs" / ids[0] / "run.json").read_bytes())
    assert sorted(p.name for p in (reports / "runs").glob("[!.]*")) == [ids[0], ids[1], ids[4], ids[5]]
