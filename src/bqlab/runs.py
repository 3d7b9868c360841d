"""Run folders under ``reports/``: records, the lock, reuse of earlier outputs, publishing.

Layout::

    reports/index.html            every run, newest first
    reports/latest -> runs/<id>   the newest finished run
    reports/runs/<id>/            run.json, <stem>.ipynb, <stem>.html (with code),
                                  <stem>.findings.html (without), figures/<stem>/, artifacts/<stage>/
    reports/runs/.<id>.partial/   a run in progress (renamed to runs/<id> when it ends)
    reports/.lock                 held (flock) while a run writes
"""

import fcntl
import json
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bqlab.errors import PipelineError

REUSABLE = {"ok", "reused"}


@dataclass
class StageResult:
    """What one notebook produced in a run."""

    stage: str
    notebook: str
    status: str = "not run"  # ok | reused | failed | not run
    seconds: float = 0.0
    peak_memory_mb: float | None = None  # the kernel's peak resident memory while it ran
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
    quick_key: str
    provenance: dict[str, Any] = field(default_factory=dict)
    status: str = "running"
    ended: str | None = None
    seconds: float = 0.0
    stages: list[StageResult] = field(default_factory=list)

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

    def __init__(self, reports_dir: Path) -> None:
        self.path = reports_dir / ".lock"
        self._handle = None

    def __enter__(self) -> "ReportsLock":
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held until __exit__
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise PipelineError(
                f"another run is already writing to {self.path.parent} ({holder}); wait for it to end, "
                "or use another folder with REPORTS=<folder>"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
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
_RUN_KEYS = {"run_id": str, "started": str, "status": str, "seconds": (int, float), "stages": list}
_STAGE_KEYS = {"stage": str, "notebook": str, "status": str, "seconds": (int, float), "metrics": dict}


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
    for path in (reports_dir / "runs").glob("*/run.json"):
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


def publish(partial: Path, final: Path, reports_dir: Path, warn=None) -> None:
    """Rename a finished run into place and point ``reports/latest`` at it (both atomic)."""
    os.replace(partial, final)
    point_latest(reports_dir, final, warn)


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


def prune_runs(reports_dir: Path, keep: int) -> list[tuple[str, int]]:
    """Remove finished runs beyond the ``keep`` newest; return (run id, bytes freed) of each removed.

    Never removes the run ``latest`` points at, nor a run whose outputs a kept run reuses (its
    record names it in ``reused_from``). Bytes freed count files with no other hard link.
    """
    runs = load_runs(reports_dir, warn=False)
    latest = reports_dir / "latest"
    protected = {latest.resolve().name} if latest.is_symlink() else set()
    protected |= {s.get("reused_from") for run in runs[:keep] for s in run["stages"] if s.get("reused_from")}
    removed = []
    for run in runs[keep:]:
        if run["run_id"] in protected:
            continue
        folder = reports_dir / "runs" / run["run_id"]
        freed = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and p.stat().st_nlink == 1)
        shutil.rmtree(folder, ignore_errors=True)
        removed.append((run["run_id"], freed))
    return removed


def discard_partials(reports_dir: Path) -> list[Path]:
    """Remove folders of runs that were killed before they ended; return what was removed."""
    removed = []
    for partial in (reports_dir / "runs").glob(".*.partial"):
        if partial.is_dir() and not partial.is_symlink():
            shutil.rmtree(partial, ignore_errors=True)
        else:  # a file or a link under a partial run's name: not a run, but in its place
            partial.unlink(missing_ok=True)
        removed.append(partial)
    return removed
