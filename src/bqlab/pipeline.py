"""The report pipeline: plan from fingerprints, run what changed, reuse the rest, publish.

Heavy libraries are imported inside the functions that need them, so a run with nothing
to do costs a fraction of a second. Order of work in ``run_report``: the reports folder is
made writable and locked; if the quick key of every input equals the latest run's,
nothing happens at all. Otherwise params are validated, the kernel, notebooks, table and
columns are checked (nothing has run yet), each stage's fingerprint is compared with
earlier runs, and only the stages whose inputs changed are executed; the others' outputs
are copied from the run that made them.
"""

import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bqlab.errors import DataError, PipelineError
from bqlab.execution import KERNEL_NAME, NotebookFailed, execute_notebook
from bqlab.fingerprint import data_digest, quick_key, stage_fingerprint
from bqlab.runs import (
    ReportsLock,
    RunRecord,
    StageResult,
    copy_stage,
    discard_partials,
    find_reusable,
    load_runs,
    point_latest,
    prepare_reports_dir,
    publish,
)

ARTIFACTS = "artifacts"
UPSTREAM = {"eda": [], "train": [], "evaluate": ["train"]}


@dataclass
class Outcome:
    """What ``run_report`` did: a new run, or nothing because nothing changed."""

    record: RunRecord | dict[str, Any]
    reports_dir: Path
    noop: bool = False


def runner_parameters(stage: str) -> dict[str, str]:
    """Parameters the runner passes besides params: where outputs go and where inputs come from."""
    extra = {"output_dir": f"{ARTIFACTS}/{stage}"}
    if stage == "evaluate":
        extra["model_path"] = f"{ARTIFACTS}/train/model.skops"
    return extra


def preflight(params, notebooks_dir: Path) -> dict[str, Any]:
    """Fail before any kernel starts if the kernel, a notebook, the table or a column is missing.

    Returns:
        The table's row count and schema.

    Raises:
        PipelineError: the kernel or a notebook is missing.
        DataError: the table is unreachable or empty, or a column named in params is not in it.
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    from bqlab.config import STAGES
    from bqlab.data import named_query, open_source
    from bqlab.identifiers import quote_table

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
    return {"rows": rows, "schema": schema}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def run_report(
    params_dir: Path,
    notebooks_dir: Path,
    reports_dir: Path,
    *,
    profile: str | None = None,
    force: bool = False,
    echo: Callable[[str], None] = print,
    on_cell: Callable[[int, int, int, str], None] | None = None,
) -> Outcome:
    """Bring the reports up to date with the inputs; see the module docstring.

    Raises:
        ParamsError, DataError: bad input, found before any kernel starts.
        PipelineError: the reports folder is unusable or busy, or a notebook failed (its
            HTML report, the run folder and the index are written first).
    """
    key = quick_key(params_dir, profile, notebooks_dir)
    prepare_reports_dir(reports_dir)
    with ReportsLock(reports_dir):
        for partial in discard_partials(reports_dir):
            echo(f"removed the unfinished run {partial.name} left by an interrupted process")
        runs = load_runs(reports_dir, warn=echo)
        latest = runs[0] if runs else None
        if not force and latest and latest.get("status") == "ok" and latest.get("quick_key") == key:
            run_dir = reports_dir / "runs" / latest["run_id"]
            if run_dir.is_dir():
                if (reports_dir / "latest").resolve() != run_dir.resolve():
                    from bqlab.render import write_index

                    point_latest(reports_dir, run_dir)
                    write_index(reports_dir)
                return Outcome(latest, reports_dir, noop=True)
        from bqlab.config import load_params  # validation imports pydantic and scikit-learn: not on the no-op path

        params = load_params(params_dir, profile)
        table = preflight(params, notebooks_dir)
        record = _run(params, key, table, runs, notebooks_dir, reports_dir, force, echo, on_cell)
    return Outcome(record, reports_dir)


def _run(params, key, table, runs, notebooks_dir, reports_dir, force, echo, on_cell) -> RunRecord:
    from bqlab import provenance
    from bqlab.config import STAGES
    from bqlab.render import finish_notebook, render_html, write_index

    started = time.monotonic()
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]
    partial = reports_dir / "runs" / f".{run_id}.partial"
    partial.mkdir()
    common = params.common
    data = {
        "table": common.table,
        "source": common.source,
        "rows": table["rows"],
        "content_sha256": data_digest(common.table, common.local_tables),
    }
    record = RunRecord(run_id=run_id, started=_now(), profile=params.profile, quick_key=key)
    record.provenance = {
        "run_id": run_id,
        "profile": params.profile,
        "git": provenance.git_state(notebooks_dir.resolve().parent),
        "data": data,
        "software": provenance.software(),
        "image": provenance.container_image(),
        "params_files": [str(f) for f in params.files],
        "params": provenance.redact({s: p.model_dump(mode="json") for s, p in params.stages.items()}),
    }
    record.stages = [StageResult(stage=stage, notebook=f"{stem}.ipynb") for stage, (stem, _) in STAGES.items()]
    fingerprints: dict[str, str] = {}
    failed: StageResult | None = None
    try:
        for index, result in enumerate(record.stages, start=1):
            stem, step = Path(result.notebook).stem, f"[{index}/{len(record.stages)}] {Path(result.notebook).stem}"
            parameters = {**params.stages[result.stage].model_dump(mode="json"), **runner_parameters(result.stage)}
            notebook = notebooks_dir / result.notebook
            result.fingerprint = fingerprints[result.stage] = stage_fingerprint(
                notebook, parameters, data["content_sha256"], [fingerprints[u] for u in UPSTREAM[result.stage]]
            )
            if failed:
                echo(f"{step}: not run (an earlier notebook failed)")
                continue
            reusable = None if force else find_reusable(runs, reports_dir, result.stage, result.fingerprint)
            if reusable:
                source_dir, earlier = reusable
                copy_stage(source_dir, partial, earlier)
                result.status, result.html, result.metrics = "reused", earlier.get("html"), earlier.get("metrics", {})
                result.reused_from = earlier.get("reused_from") or source_dir.name
                echo(f"{step}: reused from run {result.reused_from} (inputs unchanged)")
                continue
            echo(f"{step}: running ...")
            (partial / ARTIFACTS / result.stage).mkdir(parents=True, exist_ok=True)
            output, stage_started, clock = partial / result.notebook, _now(), time.monotonic()
            try:
                execute_notebook(
                    notebook,
                    output,
                    parameters,
                    cwd=partial,
                    cell_timeout=params.runner.cell_timeout_seconds,
                    notebook_timeout=params.runner.notebook_timeout_seconds,
                    on_cell=(lambda j, m, i=index, s=stem: on_cell(i, len(record.stages), j, m, s))
                    if on_cell
                    else None,
                )
                result.status = "ok"
            except NotebookFailed as err:
                result.status, result.error, failed = "failed", str(err), result
            result.seconds = round(time.monotonic() - clock, 2)
            if output.is_file():
                stage_info = {"started": stage_started, "ended": _now()}
                nb = finish_notebook(
                    output, provenance.redact(parameters), provenance.markdown(record.provenance, stage_info)
                )
                result.html = render_html(nb, partial / f"{stem}.html").name
            metrics_file = partial / ARTIFACTS / result.stage / "metrics.json"
            if result.status == "ok" and metrics_file.is_file():
                import json

                result.metrics = json.loads(metrics_file.read_text(encoding="utf-8"))
            echo(f"{step}: {result.status} in {result.seconds:.1f}s")
    except BaseException:  # Ctrl-C or a crash of the runner itself: drop the half-written run
        import shutil

        shutil.rmtree(partial, ignore_errors=True)
        raise
    record.status = "failed" if failed else "ok"
    record.ended, record.seconds = _now(), round(time.monotonic() - started, 2)
    record.save(partial)
    final = reports_dir / "runs" / run_id
    publish(partial, final, reports_dir)
    write_index(reports_dir)
    if failed:
        report = final / failed.html if failed.html else final
        raise PipelineError(f"{failed.error}\n  report of the failed notebook: {report}")
    return record


def as_dict(record: RunRecord | dict[str, Any]) -> dict[str, Any]:
    """Return a run record as plain data, whether it was just made or read from run.json."""
    return record if isinstance(record, dict) else asdict(record)
