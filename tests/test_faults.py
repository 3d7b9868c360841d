"""The runner under faults: a signal at each named point of a run, and a seeded random-kill soak.

After every kill the reports folder must be one a reader and the next run can trust: the index
parses and each of its links resolves, every listed run is complete, ``latest`` points at a
complete run the index lists, no kernel of the killed run is left, nothing of ours is left in
the temp folder (after SIGKILL, nothing can clean up: the next run removes it), and the next
run succeeds. The signal is sent at a named point by ``tests/fault_runner.py``, not after a
sleep; the soak sends them at random times from a seeded generator.
"""

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

from bqlab.runs import _check_record

from .conftest import ROOT
from .fault_runner import POINTS
from .test_runner import _tiny_project

pytestmark = pytest.mark.slow

EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGKILL: -signal.SIGKILL}
SOAK_KILLS = int(os.environ.get("BQLAB_SOAK_KILLS", "20"))  # of each signal
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


def check_consistent(reports: Path, temp: Path, stopped_pid: int | None = None) -> None:
    """Assert what must hold in ``reports`` and ``temp`` after a run ends in any way.

    ``stopped_pid``: a runner stopped by INT or TERM, which must have removed its own temporary
    folders (those of runs killed earlier by SIGKILL may remain until a run removes them).
    """
    runs = {}
    for folder in (reports / "runs").glob("[!.]*"):
        record = json.loads((folder / "run.json").read_text())  # a listed-to-be run is complete
        _check_record(record)
        assert record["status"] in ("ok", "failed") and record["run_id"] == folder.name
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
        assert not list((reports / "runs").glob(".*")), "the unfinished run is removed at once"

    after = _report(project, temp)
    assert after.returncode == 0, after.stderr
    check_consistent(reports, temp)
    assert not list(temp.iterdir()), "the next run removed what the killed one left in the temp folder"
    assert not list((reports / "runs").glob(".*")) and not list(reports.glob(".*.tmp"))
    if finished:  # the next run finishes publishing it: index and latest
        assert (reports / "latest").resolve() != earlier and "up to date" in after.stdout
    else:
        assert (reports / "latest").resolve() == earlier and "up to date" in after.stdout


def test_a_seeded_random_kill_soak_never_leaves_a_folder_the_next_run_cannot_trust(base, tmp_path, temp):
    """Kill ``make report FORCE=1`` at random moments, SOAK_KILLS times with each signal, in a seeded order."""
    project = _copy(base, tmp_path / "project")
    reports = project / "reports"
    rng = random.Random(12)
    command = [sys.executable, "-m", "bqlab", "report", "--force", "--quiet"]

    def start() -> tuple[subprocess.Popen, float]:
        """Start a run; return it and when it took the reports lock (the runner is then up)."""
        runner = subprocess.Popen(
            command,
            cwd=project,
            env=_env(temp),
            stdout=subprocess.DEVNULL,
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
    plan = [sig for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL) for _ in range(SOAK_KILLS)]
    rng.shuffle(plan)
    counts = {sig.name: {"killed": 0, "finished first": 0} for sig in EXIT}
    soak_started = time.monotonic()
    for sig in plan:
        assert time.monotonic() - soak_started < SOAK_LIMIT_SECONDS, f"the soak ran past its limit: {counts}"
        runner, locked = start()
        time.sleep(max(0.0, rng.uniform(0, 1.1 * window) - (time.monotonic() - locked)))
        finished_first = runner.poll() is not None
        if not finished_first:
            runner.send_signal(sig)
        try:
            _, err = runner.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            runner.kill()
            pytest.fail(f"{sig.name}: the runner did not stop within 60 s")
        assert "Traceback" not in err, err
        if finished_first or runner.returncode == 0:  # the run ended before the signal reached it
            assert runner.returncode == 0, err
            counts[sig.name]["finished first"] += 1
        else:
            assert runner.returncode == EXIT[sig], err
            counts[sig.name]["killed"] += 1
        check_consistent(reports, temp, stopped_pid=None if sig == signal.SIGKILL else runner.pid)

    after = _report(project, temp)
    assert after.returncode == 0, after.stderr
    check_consistent(reports, temp)
    assert not list(temp.iterdir()) and not list((reports / "runs").glob(".*"))
    seconds = time.monotonic() - soak_started
    print(f"\nsoak: window {window:.1f}s, {len(plan)} signals in {seconds:.0f}s: {counts}")
    killed = sum(c["killed"] for c in counts.values())
    assert killed >= 0.8 * len(plan), f"most signals must land mid-run: {counts}"
