"""The report pipeline: check everything that can be checked, then run each notebook.

Each run writes into a hidden ``reports/runs/.<id>.partial`` folder that is renamed to
``reports/runs/<id>`` when the run ends, so an interrupted run never touches earlier
runs; ``reports/latest`` and ``reports/index.html`` are replaced atomically afterwards.
"""

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bqlab.config import STAGES, PipelineParams
from bqlab.data import named_query, open_source
from bqlab.errors import DataError, PipelineError
from bqlab.identifiers import quote_table
from bqlab.render import render_html, write_index

KERNEL_NAME = "bqlab"
ARTIFACTS = "artifacts"
MODEL_FILE = f"{ARTIFACTS}/model.skops"


@dataclass
class StageResult:
    """What one notebook produced."""

    stage: str
    notebook: str
    status: str = "not run"  # ok | failed | not run
    seconds: float = 0.0
    html: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass
class RunRecord:
    """One run of the pipeline, as saved in ``run.json`` and listed in the index."""

    run_id: str
    started: str
    profile: str | None
    git: dict[str, Any]
    status: str = "running"
    ended: str | None = None
    seconds: float = 0.0
    stages: list[StageResult] = field(default_factory=list)


def runner_parameters(stage: str) -> dict[str, str]:
    """Parameters the runner passes besides the params files: where outputs go and come from."""
    extra = {"output_dir": ARTIFACTS}
    if stage == "evaluate":
        extra["model_path"] = MODEL_FILE
    return extra


def preflight(params: PipelineParams, notebooks_dir: Path) -> None:
    """Fail before any kernel starts if the kernel, a notebook, the table or a column is missing.

    Raises:
        PipelineError: the kernel or a notebook is missing.
        DataError: the table is unreachable or empty, or a column named in params is not in it.
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(KERNEL_NAME)
    except NoSuchKernel:
        raise PipelineError(
            f"Jupyter kernel {KERNEL_NAME!r} is not registered: run `make setup` (or "
            f"`python -m ipykernel install --sys-prefix --name {KERNEL_NAME}` in this environment)"
        ) from None
    for stem, _ in STAGES.values():
        if not (notebooks_dir / f"{stem}.ipynb").is_file():
            raise PipelineError(f"notebook not found: {notebooks_dir / f'{stem}.ipynb'}")
    common = params.common
    engine = open_source(common.source, common.local_tables)
    schema = engine.schema(common.table)
    for stage, stage_params in params.stages.items():
        for column in stage_params.columns:
            if column not in schema:
                role = (
                    "label" if column == common.label else "features" if column in common.features else "slice_columns"
                )
                raise DataError(
                    f"column {column!r} (params key {role!r}, used by {stage}) is not in table "
                    f"{common.table!r}; its columns are: {', '.join(schema)}"
                )
    rows = int(engine.query(named_query("row_count", table=quote_table(common.table)))["row_count"].iloc[0])
    if rows == 0:
        raise DataError(f"table {common.table!r} has no rows: point 'table' in params/common.yaml at a table with data")


def _git_state(root: Path) -> dict[str, Any]:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
        return done.stdout.strip() if done.returncode == 0 else ""

    try:
        return {"commit": git("rev-parse", "--short=12", "HEAD") or None, "dirty": bool(git("status", "--porcelain"))}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _execute(notebook: Path, output: Path, parameters: dict[str, Any], cwd: Path) -> None:
    import papermill
    from traitlets.config import Config

    papermill.execute_notebook(
        str(notebook),
        str(output),
        parameters=parameters,
        kernel_name=KERNEL_NAME,
        language="python",
        cwd=str(cwd),
        progress_bar=False,
        log_output=False,
        # Saving after every cell re-serialises the notebook each time (quadratic cost).
        request_save_on_cell_execute=False,
        autosave_cell_every=0,
        # Kernel sockets as local files, not unencrypted TCP ports other local users could reach.
        config=Config({"KernelManager": {"transport": "ipc"}}),
    )


def _describe_failure(stem: str, err: Exception) -> str:
    from papermill.exceptions import PapermillExecutionError

    if isinstance(err, PapermillExecutionError):
        return f"notebook {stem} failed at cell {err.cell_index + 1} (In [{err.exec_count}]): {err.ename}: {err.evalue}"
    return f"notebook {stem} failed: {type(err).__name__}: {err}"


def run_pipeline(
    params: PipelineParams,
    *,
    notebooks_dir: Path,
    reports_dir: Path,
    echo: Callable[[str], None] = print,
) -> RunRecord:
    """Run every stage in order and write the run folder, ``latest`` and the index.

    Raises:
        PipelineError: a notebook failed; its HTML report and the index are written first.
    """
    preflight(params, notebooks_dir)
    started = time.monotonic()
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]
    runs_dir = reports_dir / "runs"
    partial = runs_dir / f".{run_id}.partial"
    (partial / ARTIFACTS).mkdir(parents=True)
    record = RunRecord(
        run_id=run_id, started=_now(), profile=params.profile, git=_git_state(notebooks_dir.resolve().parent)
    )
    record.stages = [StageResult(stage=stage, notebook=f"{stem}.ipynb") for stage, (stem, _) in STAGES.items()]
    try:
        failed = _run_stages(params, record, notebooks_dir, partial, echo)
    except BaseException:  # Ctrl-C or a crash of the runner itself: drop the half-written run
        shutil.rmtree(partial, ignore_errors=True)
        raise
    record.status = "failed" if failed else "ok"
    record.ended, record.seconds = _now(), round(time.monotonic() - started, 2)
    (partial / "run.json").write_text(json.dumps(asdict(record), indent=2) + "\n", encoding="utf-8")
    final = runs_dir / run_id
    os.replace(partial, final)
    _point_latest(reports_dir, final)
    write_index(reports_dir)
    if failed:
        report = final / failed.html if failed.html else final
        raise PipelineError(f"{failed.error}\n  report of the failed notebook: {report}")
    return record


def _run_stages(
    params: PipelineParams, record: RunRecord, notebooks_dir: Path, partial: Path, echo: Callable[[str], None]
) -> StageResult | None:
    """Execute and render each stage into ``partial``; return the failed stage, if any."""
    failed: StageResult | None = None
    for index, result in enumerate(record.stages, start=1):
        stem = Path(result.notebook).stem
        if failed:
            echo(f"[{index}/{len(record.stages)}] {stem}: not run (an earlier notebook failed)")
            continue
        echo(f"[{index}/{len(record.stages)}] {stem}: running ...")
        output = partial / result.notebook
        parameters = {**params.stages[result.stage].model_dump(mode="json"), **runner_parameters(result.stage)}
        stage_start = time.monotonic()
        try:
            _execute(notebooks_dir / result.notebook, output, parameters, partial)
            result.status = "ok"
        except Exception as err:  # noqa: BLE001 - any failure is reported, rendered and re-raised below
            result.status, result.error = "failed", _describe_failure(stem, err)
            failed = result
        result.seconds = round(time.monotonic() - stage_start, 2)
        if output.is_file():
            result.html = render_html(output, partial / f"{stem}.html").name
        metrics_file = partial / ARTIFACTS / f"{result.stage}_metrics.json"
        if result.status == "ok" and metrics_file.is_file():
            result.metrics = json.loads(metrics_file.read_text(encoding="utf-8"))
        echo(f"[{index}/{len(record.stages)}] {stem}: {result.status} in {result.seconds:.1f}s")
    return failed


def _point_latest(reports_dir: Path, run_dir: Path) -> None:
    link, tmp = reports_dir / "latest", reports_dir / ".latest.tmp"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(run_dir.relative_to(reports_dir), target_is_directory=True)
    os.replace(tmp, link)
