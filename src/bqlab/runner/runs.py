"""Run folders under ``reports/``: records, the lock, reuse of earlier outputs, publishing.

Layout::

    reports/index.html            every run, newest first
    reports/latest -> runs/<id>   the newest finished run
    reports/runs/<id>/            run.json, <stem>.ipynb, <stem>.html (with code),
                                  <stem>.findings.html (without), figures/<stem>/, artifacts/<stage>/
    reports/runs/.store/<sha256>  one copy of each output of 16 KiB or more; run folders hold hard
                                  links to it (bqlab.runner.blobs), so identical outputs are kept once
    reports/runs/.<id>.partial/   a run in progress (renamed to runs/<id> when it ends)
    reports/runs/.<id>.removing/  a run being pruned (renamed away first, so it is never half-listed)
    reports/.lock                 held (flock) while a run writes

A run ends in an order that leaves a consistent folder wherever it is killed: the finished run
is renamed into place, the index is rewritten (listing it, and leaving out the runs about to be
pruned but the one ``latest`` still points at), ``latest`` is moved to it, the index is
rewritten without that one if it is pruned too, and only then are old runs removed. What a killed run leaves
(its ``.partial`` folder, a half-removed run, a half-written index, its kernels' temporary
folders) is removed by the next run before it starts.
"""

import fcntl
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from bqlab.errors import PipelineError
from bqlab.project import write_atomically
from bqlab.runner import blobs

# A stage that ran to its end: "check" ran too, with scores the result check questions
# (bqlab.analysis.result_check); its outputs are as reusable as an "ok" stage's.
REUSABLE = {"ok", "check", "reused"}
DONE = {"ok", "check"}  # a run that finished: its reports are complete


@dataclass
class StageResult:
    """What one notebook produced in a run."""

    stage: str
    notebook: str
    status: str = "not run"  # ok | check | reused | failed | not run
    seconds: float = 0.0
    peak_memory_mb: float | None = None  # the kernel's peak resident memory while it ran
    # Of ``seconds``, the wait for its kernel to start and import (hidden behind the checks of a large table).
    kernel_wait_seconds: float = 0.0
    # Started beside an earlier notebook of the run, which had the cores first (execution.LOW_PRIORITY).
    low_priority: bool = False
    html: str | None = None
    findings_html: str | None = None
    fingerprint: str | None = None
    reused_from: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass
class RunRecord:
    """One run of the pipeline, saved as ``run.json`` and listed in the index."""

    run_id: str
    started: str
    profile: str | None
    quick_key: str | None
    provenance: dict[str, Any] = field(default_factory=dict)
    status: str = "running"  # running | ok | check | failed
    check_reason: str = ""  # why the run is "check": the result check's reason
    ended: str | None = None
    seconds: float = 0.0
    size_bytes: int = 0  # the run folder's files when it was published
    new_bytes: int = 0  # of those, the bytes no earlier run shared (what it added to the disk)
    stages: list[StageResult] = field(default_factory=list)
    sweep: dict[str, Any] | None = None  # a sweep's point: the sweep's name, the point's number and values
    compared_with: str | None = None  # the run its compare.html compares it with

    def finish(self, failed: bool) -> None:
        """Set the status from the stages: failed, else check (with the reason) when a result check questions them."""
        checked = [s.metrics for s in self.stages if s.metrics.get("result_check") == "check"]
        self.status = "failed" if failed else "check" if checked else "ok"
        self.check_reason = "; ".join(m.get("result_check_reason", "") for m in checked)

    def save(self, folder: Path) -> None:
        """Write ``run.json`` into ``folder`` (atomically)."""
        tmp = folder / ".run.json.tmp"
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, folder / "run.json")


def prepare_reports_dir(reports_dir: Path) -> Path:
    """Create ``reports/runs`` if needed and prove it is writable.

    Raises:
        PipelineError: naming the folder and what to do.
    """
    runs = reports_dir / "runs"
    try:
        runs.mkdir(parents=True, exist_ok=True)
        probe = runs / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise PipelineError(
            f"cannot write reports to {reports_dir}: {err.strerror or err}; make it a writable folder "
            "or choose another one with REPORTS=<folder>"
        ) from None
    return runs


class ReportsLock:
    """An exclusive lock on a reports folder, released by the OS if the holder dies."""

    def __init__(self, reports_dir: Path, purpose: str = "") -> None:
        self.path = reports_dir / ".lock"
        self.purpose = purpose  # what the holder does, if not writing a run (the message another process reads)
        self._handle: IO[str] | None = None

    def __enter__(self) -> "ReportsLock":
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held until __exit__
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            if holder.endswith("publishing"):
                raise PipelineError(
                    f"a publish of {self.path.parent} is under way ({holder}); wait for it to end"
                ) from None
            raise PipelineError(
                f"another run is already writing to {self.path.parent} ({holder}); wait for it to end, "
                "or use another folder with REPORTS=<folder>"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}" + (f", {self.purpose}" if self.purpose else ""))
        handle.flush()
        self._handle = handle
        return self

    def __exit__(self, *exc) -> None:
        if self._handle:
            self._handle.truncate(0)
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


# What the index and reuse read from a run record, and from each of its stages.
_RUN_KEYS: dict[str, type | tuple[type, ...]] = {
    "run_id": str,
    "started": str,
    "status": str,
    "seconds": (int, float),
    "stages": list,
}
_STAGE_KEYS: dict[str, type | tuple[type, ...]] = {
    "stage": str,
    "notebook": str,
    "status": str,
    "seconds": (int, float),
    "metrics": dict,
}


def _check_record(record: Any) -> None:
    """Raise ValueError naming the first key a run record lacks or holds with the wrong type."""
    if not isinstance(record, dict):
        raise ValueError("not a run record")
    for key, kind in _RUN_KEYS.items():
        if not isinstance(record.get(key), kind):
            raise ValueError(f"no valid {key!r}")
    for stage in record["stages"]:
        for key, kind in _STAGE_KEYS.items():
            if not isinstance(stage, dict) or not isinstance(stage.get(key), kind):
                raise ValueError(f"a stage without a valid {key!r}")


def load_runs(reports_dir: Path, warn=None) -> list[dict[str, Any]]:
    """Return every finished run's record, newest first; unreadable or incomplete records are skipped.

    ``warn`` is told of each one skipped (stderr by default; ``warn=False`` says nothing).
    """
    if warn is None:
        warn = lambda message: print(message, file=sys.stderr)  # noqa: E731
    runs = []
    for path in (reports_dir / "runs").glob("[!.]*/run.json"):  # not a run in progress or being removed
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            _check_record(record)
            runs.append(record)
        except (OSError, ValueError) as err:
            if warn:
                warn(f"warning: ignoring unreadable run record {path} ({err}); its stages will not be reused")
    return sorted(runs, key=lambda r: str(r["run_id"]), reverse=True)


def stage_outputs(run_dir: Path, stage: dict) -> list[Path]:
    """Return the files a stage (as recorded in run.json) leaves in its run folder."""
    stem = Path(stage["notebook"]).stem
    names = [
        stage["notebook"],
        f"{stem}.html",
        f"{stem}.findings.html",
        f"figures/{stem}",
        f"artifacts/{stage['stage']}",
    ]
    return [run_dir / name for name in names]


def find_reusable(runs: list[dict[str, Any]], reports_dir: Path, stage: str, fingerprint: str):
    """Return (run folder, stage record) of the newest run whose ``stage`` had this fingerprint."""
    for run in runs:
        for record in run.get("stages", []):
            if (
                record.get("stage") == stage
                and record.get("status") in REUSABLE
                and record.get("fingerprint") == fingerprint
            ):
                run_dir = reports_dir / "runs" / run["run_id"]
                if all(p.exists() for p in stage_outputs(run_dir, record)):
                    return run_dir, record
    return None


def copy_stage(source_dir: Path, target_dir: Path, record: dict) -> None:
    """Copy a stage's outputs from an earlier run (hard links where the file system allows)."""
    for source in stage_outputs(source_dir, record):
        target = target_dir / source.relative_to(source_dir)
        if source.is_dir():
            shutil.copytree(source, target, copy_function=_link_or_copy, dirs_exist_ok=True)
        else:
            _link_or_copy(source, target)


def _link_or_copy(source, target) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def publish(partial: Path, final: Path) -> None:
    """Rename a finished run into place (atomic); the index and ``latest`` follow (see the module docstring)."""
    os.replace(partial, final)


def point_latest(reports_dir: Path, run_dir: Path, warn=None) -> None:
    """Point ``reports/latest`` at ``run_dir`` by renaming a new link over the old one.

    A real folder named ``latest`` (reports unpacked from an archive without links) is moved
    aside to ``latest.folder-<time>``, with a warning, rather than stopping the run.
    """
    link, tmp = reports_dir / "latest", reports_dir / ".latest.tmp"
    if link.is_dir() and not link.is_symlink():
        aside = reports_dir / f"latest.folder-{time.strftime('%Y%m%dT%H%M%S')}"
        os.replace(link, aside)
        (warn or (lambda m: print(m, file=sys.stderr)))(
            f"warning: {link} was a folder, not a link to the newest run: moved it to {aside}"
        )
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(run_dir.relative_to(reports_dir), target_is_directory=True)
    os.replace(tmp, link)


def runs_to_prune(reports_dir: Path, keep: int, latest: str | None = None, keep_bytes: int | None = None) -> list[str]:
    """Return the ids of finished runs that may be removed.

    Those beyond the ``keep`` newest, then the oldest of the rest while the runs take more than
    ``keep_bytes`` on disk (a file shared by runs counted once). Never the latest run (``latest``,
    a run about to become latest, or else the one ``latest`` points at), nor a run whose outputs a
    kept run reuses (its record names it in ``reused_from``), nor the run tagged as the baseline, nor
    a run a sweep's leaderboard lists (``swept_runs``).
    """
    runs = load_runs(reports_dir, warn=False)
    if latest is None:
        latest = latest_run(reports_dir)
    always = {latest, baseline_run(reports_dir), *swept_runs(reports_dir)}
    held = [run for n, run in enumerate(runs) if n < keep or run["run_id"] in always]
    protected = always | {s.get("reused_from") for run in held for s in run["stages"]}
    pruned = [run["run_id"] for run in runs[keep:] if run["run_id"] not in protected]
    if keep_bytes is None:
        return pruned
    kept = [run for run in runs if run["run_id"] not in pruned]
    files = blobs.run_files(reports_dir, [run["run_id"] for run in kept])
    removed = True
    while removed and blobs.total_bytes(files) > keep_bytes:  # again: a run reused only by one removed
        removed = False
        for run in reversed(kept):  # the oldest first
            if run["run_id"] not in files or blobs.total_bytes(files) <= keep_bytes:
                continue
            reused = {s.get("reused_from") for other in kept if other["run_id"] in files for s in other["stages"]}
            if run["run_id"] in always | reused:
                continue
            pruned.append(run["run_id"])
            del files[run["run_id"]]
            removed = True
    return pruned


def swept_runs(reports_dir: Path) -> set[str]:
    """The runs the sweeps' leaderboards list (``reports/sweeps/<name>.json``): kept while a page links to them.

    Removing a sweep's page and results file (``reports/sweeps/<name>.*``) lets retention remove its runs.
    """
    listed: set[str] = set()
    for path in sorted((Path(reports_dir) / "sweeps").glob("*.json")):
        try:
            points = json.loads(path.read_text(encoding="utf-8")).get("points", [])
            listed |= {p["run_id"] for p in points if isinstance(p, dict) and p.get("run_id")}
        except (OSError, ValueError, AttributeError):  # a results file being written or not ours: protects nothing
            continue
    return listed


BASELINE_FILE = "baseline"  # reports/baseline: the id of the run tagged as the gate's baseline


def baseline_run(reports_dir: Path) -> str | None:
    """The id of the run tagged as the baseline (``make baseline``), if it is still kept."""
    try:
        run_id = (Path(reports_dir) / BASELINE_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return run_id if run_id and (Path(reports_dir) / "runs" / run_id / "run.json").is_file() else None


def tag_baseline(reports_dir: Path, run_id: str) -> None:
    """Tag ``run_id`` as the baseline: the gate's default, and kept whatever keep_runs and keep_bytes say."""
    write_atomically(Path(reports_dir) / BASELINE_FILE, run_id + "\n")


def latest_run(reports_dir: Path) -> str | None:
    """The id of the run ``reports/latest`` points at (None if it is missing or not a link)."""
    latest = reports_dir / "latest"
    return latest.resolve().name if latest.is_symlink() else None


def remove_runs(reports_dir: Path, run_ids: list[str]) -> int:
    """Remove runs (each renamed out of the listing first) and the stored copies only they held; return the bytes freed.

    Bytes freed count each file once, and only files no remaining run links (a reused stage's
    files, or a model identical to a kept run's, stay with the runs that share them).
    """
    everyone = [p.name for p in (reports_dir / "runs").glob("[!.]*") if p.is_dir()]
    files = blobs.run_files(reports_dir, everyone)
    before = blobs.total_bytes(files)
    for run_id in run_ids:
        folder = reports_dir / "runs" / run_id
        files.pop(run_id, None)
        hidden = folder.with_name(f".{run_id}.removing")
        os.replace(folder, hidden)
        shutil.rmtree(hidden, ignore_errors=True)
    blobs.collect(blobs.store_dir(reports_dir))
    return before - blobs.total_bytes(files)


def discard_partials(reports_dir: Path) -> list[Path]:
    """Remove what killed processes left in a reports folder; return the unfinished runs removed.

    Also removes runs half-removed by a killed prune and temporary files of a killed write
    (``.index.html.tmp``, ``.latest.tmp``).
    """
    removed = []
    for leftover in [*(reports_dir / "runs").glob(".*.partial"), *(reports_dir / "runs").glob(".*.removing")]:
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)
        else:  # a file or a link under a run's name: not a run, but in its place
            leftover.unlink(missing_ok=True)
        if leftover.suffix == ".partial":
            removed.append(leftover)
    for tmp in reports_dir.glob(".*.tmp"):
        tmp.unlink(missing_ok=True)
    return removed


# Temporary folders a run's processes make, named <prefix><pid of the maker>-<random>: the
# kernels' sockets and connection files (which hold the kernel's key), DuckDB's spill folder.
TEMP_PREFIXES = ("bqlab-kernel-", "bqlab-duckdb-")


def discard_stale_temp(folder: str | None = None) -> int:
    """Remove our temporary folders whose maker process has ended (killed); return how many.

    A folder of a process still alive (another run, a notebook open in JupyterLab) is kept.
    """
    removed = 0
    roots = {Path(folder)} if folder else {Path(tempfile.gettempdir()), Path("/tmp")}  # see kernel_temp_dir
    for root, prefix in ((root, prefix) for root in roots for prefix in TEMP_PREFIXES):
        for path in root.glob(f"{prefix}*"):
            pid = path.name[len(prefix) :].split("-")[0]
            if not pid.isdigit() or _alive(int(pid)) or not path.is_dir() or path.stat().st_uid != os.getuid():
                continue
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
