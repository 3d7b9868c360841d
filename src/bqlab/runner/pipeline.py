"""The report pipeline: plan from fingerprints, run what changed, reuse the rest, publish.

Heavy libraries are imported inside the functions that need them, so a run with nothing
to do costs a fraction of a second. Order of work in ``run_report``: the reports folder is
made writable and locked; if the quick key of every input equals the latest run's,
nothing happens at all. Otherwise params are validated, the kernel, notebooks, table and
columns are checked (nothing has run yet), each stage's fingerprint is compared with
earlier runs, and only the stages whose inputs changed are executed; the others' outputs
are copied from the run that made them.
"""

import contextlib
import errno
import json
import os
import secrets
import shutil
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bqlab.errors import NotebookFailed, PipelineError
from bqlab.project import ROOT_VARIABLE, Project
from bqlab.report import findings
from bqlab.report.header import details_html, header_html
from bqlab.runner import blobs, provenance
from bqlab.runner.execution import (
    KERNEL_NAME,
    KernelPool,
    WarmKernel,
    execute_notebook,
    thread_limits,
    warm_modules,
)
from bqlab.runner.fingerprint import (
    data_digest,
    digest_json,
    quick_key,
    stage_fingerprint,
)
from bqlab.runner.runs import (
    DONE,
    REUSABLE,
    ReportsLock,
    RunRecord,
    StageResult,
    copy_stage,
    discard_partials,
    discard_stale_temp,
    find_reusable,
    latest_run,
    load_runs,
    point_latest,
    prepare_reports_dir,
    publish,
    remove_runs,
    runs_to_prune,
)
from bqlab.runner.shared import Made, Shared, Stopped, peak_estimate
from bqlab.sources import kinds, open_source
from bqlab.stages import ARTIFACTS, METRICS_FILE, STAGES


@dataclass
class RunContext:
    """What one run works with, from the checks before it to its publishing."""

    params: Any  # bqlab.config.PipelineParams
    table: dict[str, Any]  # preflight's facts: rows, schema, content fingerprint, task
    runs: list[dict[str, Any]]  # earlier runs, newest first
    run_id: str
    partial: Path  # the run's folder while it is written
    notebooks_dir: Path
    reports_dir: Path
    kernels: KernelPool
    echo: Callable[[str], None]
    on_cell: Callable[[int, int, int, int, str], None] | None = None
    quick_key: str | None = None
    force: bool = False
    sweep: dict[str, Any] | None = None  # the sweep and point this run is (bqlab.runner.sweeps)
    shared: Shared | None = None  # what a sweep's points running side by side share
    git: "Future[dict[str, Any]] | None" = None  # provenance.git_state, asked for in the background


@dataclass
class Outcome:
    """What ``run_report`` did: a new run, or nothing because nothing changed."""

    record: RunRecord | dict[str, Any]
    reports_dir: Path
    noop: bool = False


def preflight(params, notebooks_dir: Path) -> dict[str, Any]:
    """Fail before any notebook runs if the kernel, a notebook, the table or a column does not fit params.

    ``check_notebooks`` then ``check_data``; the runner starts its first kernel between the two.

    Returns:
        The table's row count, schema, content fingerprint and the task.

    Raises:
        PipelineError: the kernel or a notebook is missing.
        DataError, ParamsError: naming the params file and key to change.
    """
    check_notebooks(notebooks_dir)
    return check_data(params)


def check_notebooks(notebooks_dir: Path) -> None:
    """Fail if the Jupyter kernel is not registered or a stage's notebook is missing (``PipelineError``)."""
    # lazy: jupyter_client (about 70 ms); a no-op `bqlab report` imports this module and checks nothing
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(KERNEL_NAME)
    except NoSuchKernel:
        raise PipelineError(
            f"Jupyter kernel {KERNEL_NAME!r} is not registered: run `make setup` (or "
            f"`python -m ipykernel install --sys-prefix --name {KERNEL_NAME}` in this environment)"
        ) from None
    for stage in STAGES.values():
        if not (notebooks_dir / stage.notebook).is_file():
            raise PipelineError(f"notebook not found: {notebooks_dir / stage.notebook}")


def check_data(params) -> dict[str, Any]:
    """Fail if the table or a column does not fit params; else return the table's facts (see ``preflight``).

    The checks are ``bqlab.analysis.checks.check_table`` (a notebook run by hand runs them too).
    """
    # lazy: the table checks with pandas and sqlglot (about 0.36 s), off the no-op path
    from bqlab.analysis.checks import check_table

    common = params.common
    engine = open_source(common, "preflight", root=params.root)
    facts = check_table(params.stages, params.where, engine)
    if kinds.kind(common.source).local:
        content = data_digest(common.table, common.local_tables, params.root)
    else:  # the warehouse table's last modification time stands for its content
        content = digest_json(engine.table_version(common.table))
    task = facts.task
    return {
        "rows": facts.rows,
        "schema": facts.schema,
        "content": content,
        "task": task.name,
        "task_reason": task.reason,
    }


@contextlib.contextmanager
def reports_opened(reports_dir: Path, echo: Callable[[str], None]):
    """Hold the reports folder: made writable, locked, and cleared of what interrupted runs left."""
    prepare_reports_dir(reports_dir)
    with ReportsLock(reports_dir):
        for partial in discard_partials(reports_dir):
            echo(f"removed the unfinished run {partial.name} left by an interrupted process")
        discard_stale_temp()  # kernel folders (with their keys) of runs that were killed
        yield


def _publishing(shared: Shared | None):
    """One publisher at a time among a sweep's points (nothing to wait for in a single run)."""
    return shared.publishing if shared else contextlib.nullcontext()


def new_run_id() -> str:
    """A run's id: its start in UTC to the second, then the microsecond and a random digit in hex.

    Ids sort by start (the index lists runs newest first), also for the points of a sweep that
    start in the same second; the random digit tells apart runs started in the same microsecond.
    """
    now = datetime.now(UTC)
    return now.strftime("%Y%m%dT%H%M%SZ") + f"-{now.microsecond:05x}{secrets.randbelow(16):x}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def run_report(
    project: Project | Path,
    notebooks_dir: Path,
    reports_dir: Path,
    *,
    profile: str | None = None,
    force: bool = False,
    echo: Callable[[str], None] = print,
    on_cell: Callable[[int, int, int, int, str], None] | None = None,
    sweep: dict[str, Any] | None = None,
    shared: Shared | None = None,
) -> Outcome:
    """Bring the reports up to date with the inputs; see the module docstring.

    A sweep's point (``sweep``: its name, index, label and ``values``, dotted keys over params)
    is an ordinary run with the point's values merged last; it is a no-op when any finished run
    has the same inputs (not only the latest), and that run is then left where it is. With
    ``shared``, the sweep holds the reports lock and prunes once at its end, and this run takes
    notebook slots and stages in flight from the sweep's other points (``bqlab.runner.shared``).

    Raises:
        ParamsError, DataError: bad input, found before any notebook starts.
        PipelineError: the reports folder is unusable or busy, or a notebook failed (its
            HTML report, the run folder and the index are written first).
    """
    project = Project.of(project).resolved()
    notebooks_dir, reports_dir = (Path(p).resolve() for p in (notebooks_dir, reports_dir))
    point = (sweep or {}).get("values")
    sections = None
    if point:
        # lazy: bqlab.config (pydantic, about 90 ms), for a sweep's point only
        from bqlab.config import point_sections

        # the quick key reads the point by section
        sections = point_sections(point, (sweep or {}).get("label") or "sweep point")
    key = quick_key(project, profile, notebooks_dir, sections)
    with reports_opened(reports_dir, echo) if shared is None else contextlib.nullcontext():  # a sweep holds it
        with _publishing(shared):
            runs = load_runs(reports_dir, warn=echo)
        latest = runs[0] if runs else None
        if not sweep and latest and latest.get("sweep"):  # after a sweep, the current params' own run
            latest = next((r for r in runs if not r.get("sweep")), None)
        same = next((r for r in runs if r.get("status") in DONE and r.get("quick_key") == key), None)
        if sweep and not force and key and same and (reports_dir / "runs" / same["run_id"]).is_dir():
            return Outcome(same, reports_dir, noop=True)
        if not force and key and latest and latest.get("status") in DONE and latest.get("quick_key") == key:
            run_dir = reports_dir / "runs" / latest["run_id"]
            if run_dir.is_dir():
                index = reports_dir / "index.html"
                listed = index.is_file() and f'id="{latest["run_id"]}"' in index.read_text(encoding="utf-8")
                if (reports_dir / "latest").resolve() != run_dir.resolve() or not listed:
                    # Mend what a run killed while publishing left.
                    # lazy: jinja2 and the renderer (about 30 ms) are off the no-op path
                    from bqlab.report.render import write_index

                    write_index(reports_dir, load_runs(reports_dir, warn=False))
                    point_latest(reports_dir, run_dir, echo)
                return Outcome(latest, reports_dir, noop=True)
        # lazy: bqlab.config (pydantic) costs about 90 ms, off the no-op path
        from bqlab.config import load_params

        # Bad input answers at once: the params are checked before any kernel starts, the kernel, the
        # notebooks and the table before any notebook runs. The first kernel starts while they are
        # checked (its imports take seconds, and so does the table's check on a cold cache or against
        # a warehouse); bad input stops it unused, and the run folder is removed.
        params = load_params(project, profile, point, (sweep or {}).get("label"))
        run_id = new_run_id()
        partial = reports_dir / "runs" / f".{run_id}.partial"
        partial.mkdir()
        env = {ROOT_VARIABLE: str(params.root), **thread_limits(params.runner.parallel_notebooks)}
        kernels = KernelPool(partial, warm_modules(notebooks_dir), env=env)
        # The commit and whether the tree is clean: git hashes a notebook changed since its last
        # status through the nbstripout filter, 1.6 s apiece, so it is asked for meanwhile.
        git = _in_background(provenance.git_state, notebooks_dir.parent)
        try:
            check_notebooks(notebooks_dir)
            table = check_data(params)
            echo(f"{params.common.table}: {table['rows']:,} rows; task {table['task']} ({table['task_reason']})")
            context = RunContext(
                params,
                table,
                runs,
                run_id,
                partial,
                notebooks_dir,
                reports_dir,
                kernels,
                echo,
                on_cell,
                key,
                force,
                sweep,
                shared,
                git,
            )
            record = _run(context)
        except BaseException:  # bad input, Ctrl-C or a crash: drop the half-written run
            kernels.close()  # first: a kernel still starting needs its folder
            with _publishing(shared):  # not while a point copies from it
                if shared and not (reports_dir / "runs" / run_id).is_dir():  # a failed run is published
                    shared.discarded(run_id)  # its stages are made again by whoever needs them
                shutil.rmtree(partial, ignore_errors=True)
            raise
        finally:
            kernels.close()
    return Outcome(record, reports_dir)


def _in_background(function: Callable[..., Any], *args: Any) -> "Future[Any]":
    """``function(*args)`` in a daemon thread (an exit never waits for it); its result is the future's."""
    future: Future[Any] = Future()

    def run() -> None:
        try:
            future.set_result(function(*args))
        except BaseException as err:  # noqa: BLE001 - raised where the result is read
            future.set_exception(err)

    threading.Thread(target=run, daemon=True).start()
    return future


def _run(ctx: RunContext) -> RunRecord:
    # lazy: jinja2 and the renderer (about 30 ms), off the no-op path
    from bqlab.report.render import prepare_exporter, write_index

    params, table, run_id, partial, reports_dir, echo = (
        ctx.params,
        ctx.table,
        ctx.run_id,
        ctx.partial,
        ctx.reports_dir,
        ctx.echo,
    )
    started = time.monotonic()
    prepare_exporter()
    common = params.common
    data = {
        "table": common.table,
        "source": common.source,
        "rows": table["rows"],
        "content_sha256": table["content"],
        "label": common.label,
        "task": table["task"],
        "task_reason": table["task_reason"],
    }
    record = RunRecord(run_id=run_id, started=_now(), profile=params.profile, quick_key=ctx.quick_key)
    if ctx.sweep:
        record.sweep = {k: ctx.sweep[k] for k in ("name", "point", "values")}
    record.provenance = {
        "run_id": run_id,
        "profile": params.profile,
        "git": ctx.git.result() if ctx.git else provenance.git_state(ctx.notebooks_dir.parent),
        "data": data,
        "software": provenance.software(),
        "image": provenance.container_image(),
        "params_files": [os.path.relpath(Path(f).resolve(), params.root) for f in params.files],
        "params": provenance.redact({s: p.model_dump(mode="json") for s, p in params.stages.items()}),
    }
    record.stages = [StageResult(stage=stage.name, notebook=stage.notebook) for stage in STAGES.values()]
    parameters, fingerprints = stage_inputs(params, ctx.notebooks_dir, data["content_sha256"])
    for result in record.stages:
        result.fingerprint = fingerprints[result.stage]
    total = len(record.stages)
    label = {r.stage: f"[{i}/{total}] {Path(r.notebook).stem}" for i, r in enumerate(record.stages, start=1)}

    progress = ctx.on_cell

    def execute(result: StageResult, kernel: WarmKernel, behind: bool, freed: Callable[[], None]) -> None:
        result.low_priority = behind
        index, stem = record.stages.index(result) + 1, Path(result.notebook).stem
        (partial / ARTIFACTS / result.stage).mkdir(parents=True, exist_ok=True)
        output, stage_started, clock = partial / result.notebook, _now(), time.monotonic()
        measures: dict[str, Any] = {}
        try:
            execute_notebook(
                ctx.notebooks_dir / result.notebook,
                output,
                parameters[result.stage],
                kernel=kernel,
                cell_timeout=params.runner.cell_timeout_seconds,
                notebook_timeout=params.runner.notebook_timeout_seconds,
                on_cell=(lambda j, m: progress(index, total, j, m, stem)) if progress else None,
                measures=measures,
            )
            result.status = "ok"
            freed()  # its kernel has ended: the next notebook's may warm up while this one's HTML is made
        except NotebookFailed as err:
            result.status, result.error = "failed", str(err)
        finally:
            if progress:
                progress(index, total, 0, 0, stem)  # this notebook's progress line is done
        result.seconds = round(time.monotonic() - clock, 2)
        result.peak_memory_mb = measures.get("peak_memory_mb")
        result.kernel_wait_seconds = measures.get("kernel_wait_seconds", 0.0)
        _publish_stage(result, output, partial, record.provenance, parameters[result.stage], stage_started)
        stopped = ctx.shared and ctx.shared.stop.is_set() and result.status == "failed"  # its kernel was stopped
        echo(f"{label[result.stage]}: {'stopped' if stopped else result.status} in {result.seconds:.1f}s")

    failed = _schedule(ctx, record.stages, execute, label)
    record.finish(bool(failed))
    record.ended, record.seconds = _now(), round(time.monotonic() - started, 2)
    record.save(partial)
    final = reports_dir / "runs" / run_id
    with _publishing(ctx.shared):
        record.compared_with = _compare_with_previous(as_dict(record), ctx)
        _store_outputs(record, partial, reports_dir)
        # In this order a kill at any point leaves the index, latest and every listed run consistent.
        publish(partial, final)
        if ctx.shared:  # the sweep prunes once, after its leaderboard lists its runs
            write_index(reports_dir, load_runs(reports_dir, warn=False))
            point_latest(reports_dir, final, echo)
        else:
            prune_runs(reports_dir, params.runner, echo, latest=final)
    if failed:
        report = final / failed.html if failed.html else final
        raise NotebookFailed(
            f"{failed.error}\n  report of the failed notebook: {report}", notebook=failed.notebook, report=report
        )
    return record


def prune_runs(reports_dir: Path, runner, echo: Callable[[str], None], latest: Path | None = None) -> None:
    """Write the index, point ``latest`` at a new run (if given) and remove runs beyond retention.

    In this order a kill at any point leaves the index, ``latest`` and every listed run consistent.
    With no new run, the index is written only when runs are removed.
    """
    # lazy: jinja2 and the renderer (about 30 ms), off the no-op path
    from bqlab.report.render import write_index

    keep, keep_bytes = runner.keep_runs, int(runner.keep_bytes)
    new = latest.name if latest else None
    pruned, previous = runs_to_prune(reports_dir, keep, latest=new, keep_bytes=keep_bytes), latest_run(reports_dir)
    if latest is None and not pruned:
        return
    write_index(reports_dir, load_runs(reports_dir, warn=False), [r for r in pruned if r != previous])  # latest stays
    if latest:
        point_latest(reports_dir, latest, echo)
    if previous in pruned:
        write_index(reports_dir, load_runs(reports_dir, warn=False), leave_out=pruned)
    if pruned:
        freed = blobs.megabytes(remove_runs(reports_dir, pruned))
        limit = runner.keep_bytes.human_readable(decimal=True)
        echo(f"removed {len(pruned)} old run(s) beyond keep_runs={keep} or keep_bytes={limit} ({freed} freed)")


def stage_inputs(params, notebooks_dir: Path, content: str) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Each stage's injected parameters and fingerprint, for params on a table whose content digest is ``content``."""
    parameters: dict[str, dict[str, Any]] = {}
    fingerprints: dict[str, str] = {}
    for stage in STAGES.values():
        parameters[stage.name] = {**params.stages[stage.name].model_dump(mode="json"), **stage.runner_parameters()}
        upstream = [fingerprints[u] for u in stage.upstream]
        fingerprints[stage.name] = stage_fingerprint(
            notebooks_dir / stage.notebook, parameters[stage.name], content, upstream
        )
    return parameters, fingerprints


def _reuse(result: StageResult, source_dir: Path, earlier: dict[str, Any], partial: Path, run_id: str) -> None:
    """Take a stage's outputs and record from the run ``run_id`` (in ``source_dir``) that made or reused them."""
    copy_stage(source_dir, partial, earlier)
    result.status, result.html = "reused", earlier.get("html")
    result.findings_html = earlier.get("findings_html")
    result.metrics = earlier.get("metrics", {})
    maker = earlier.get("reused_from")
    # The run that made it, unless that run is gone (a sweep's point stopped before it published).
    result.reused_from = maker if maker and (source_dir.parent / maker).is_dir() else run_id


def _schedule(ctx: RunContext, stages, execute, label) -> StageResult | None:
    """Reuse or execute each stage once its upstream stages are done; return the failed stage.

    In a sweep (``ctx.shared``) a notebook also needs one of the sweep's slots, and a stage another
    point is computing is waited for and reused from it (with ``force`` too: made in this sweep).
    """
    echo, kernels, parallel, shared = ctx.echo, ctx.kernels, ctx.params.runner.parallel_notebooks, ctx.shared
    pending, failed = list(stages), None
    running: dict[Any, tuple[StageResult, WarmKernel, float]] = {}
    done: set[str] = set()
    claimed: set[str] = set()  # fingerprints this run computes for the sweep's other points
    order = {name: i for i, name in enumerate(STAGES)}

    def freed() -> None:  # from a notebook's thread, once its notebook ran
        if pending and not failed:
            kernels.top_up()  # a free core warms the kernel of a notebook still waiting

    def ended(result: StageResult, made: bool) -> None:
        if shared and result.fingerprint in claimed:
            claimed.discard(result.fingerprint)
            final = ctx.reports_dir / "runs" / ctx.run_id
            shared.finished(result.fingerprint, Made(ctx.partial, final, asdict(result), ctx.run_id) if made else None)

    with ThreadPoolExecutor(max_workers=parallel) as pool:
        try:
            while pending or running:
                if shared and shared.stop.is_set():
                    raise Stopped(f"the sweep was stopped: run {ctx.run_id} is discarded")
                for result in list(pending):
                    if failed:
                        pending.remove(result)
                        ended(result, made=False)  # claimed for the other points: theirs to make now
                        echo(f"{label[result.stage]}: not run (an earlier notebook failed)")
                        continue
                    if any(u not in done for u in STAGES[result.stage].upstream):
                        continue
                    fingerprint = result.fingerprint
                    reusable = (
                        None if ctx.force else find_reusable(ctx.runs, ctx.reports_dir, result.stage, fingerprint)
                    )
                    if reusable:
                        source_dir, earlier = reusable
                        _reuse(result, source_dir, earlier, ctx.partial, source_dir.name)
                        echo(f"{label[result.stage]}: reused from run {result.reused_from} (inputs unchanged)")
                        pending.remove(result)
                        done.add(result.stage)
                        continue
                    if shared and fingerprint not in claimed:
                        with shared.publishing:  # neither moved nor discarded while it is copied
                            made = shared.made(fingerprint)
                            if made:
                                _reuse(result, made.folder(), made.record, ctx.partial, made.run_id)
                        if made:
                            echo(f"{label[result.stage]}: reused from run {result.reused_from} (inputs unchanged)")
                            pending.remove(result)
                            done.add(result.stage)
                            continue
                        if not shared.claim(fingerprint):
                            continue  # another point is computing it: reused once it is made
                        claimed.add(fingerprint)
                    if len(running) >= parallel:
                        continue
                    estimate = peak_estimate(ctx.runs, result.stage)
                    if shared and not shared.take_slot(estimate):
                        continue
                    # Started beside an earlier notebook of this run: that one has the cores first.
                    behind = any(order[r.stage] < order[result.stage] for r, *_ in running.values())
                    try:
                        echo(f"{label[result.stage]}: running ...")
                        kernel = kernels.take()
                        if behind:
                            kernel.lower_priority()
                    except BaseException:  # a kernel that cannot start: the slot goes back to the others
                        if shared:
                            shared.give_slot(estimate)
                        raise
                    running[pool.submit(execute, result, kernel, behind, freed)] = (result, kernel, estimate)
                    pending.remove(result)
                if pending and not failed and len(running) < parallel:
                    kernels.top_up()  # a free core warms the kernel of a notebook still waiting
                if running:
                    # In a sweep, look up now and then: a slot another point gave back, or a stop.
                    finished, _ = wait(running, timeout=0.5 if shared else None, return_when=FIRST_COMPLETED)
                    for future in finished:
                        result, _kernel, estimate = running.pop(future)
                        if shared:
                            shared.give_slot(estimate)
                        future.result()
                        ended(result, made=result.status in REUSABLE)
                        if result.status == "failed":
                            failed = failed or result
                        else:
                            done.add(result.stage)
                elif pending and shared:
                    shared.wait()  # for a slot, or a stage another point is computing
        except BaseException:
            for _result, kernel, estimate in running.values():  # stop running notebooks so their threads end now
                if kernel.pid:
                    with contextlib.suppress(ProcessLookupError):  # a kernel that already ended
                        os.kill(kernel.pid, signal.SIGKILL)
                if shared:
                    shared.give_slot(estimate)
            raise
        finally:
            for result in stages:  # whatever ended this run: what it claimed and did not make, others make
                ended(result, made=False)
    return failed


def _compare_with_previous(record: dict[str, Any], ctx: RunContext) -> str | None:
    """Write ``compare.html`` in the run's folder: this run against the previous comparable one; return its id."""
    # lazy: jinja2 and the compare page (about 25 ms), off the no-op path
    from bqlab.report.compare import COMPARE_PAGE, compare, previous_comparable, text_diff, write_page

    # A sweep's points publish one at a time: compare with the newest run published before this one.
    runs = load_runs(ctx.reports_dir, warn=False) if ctx.shared else ctx.runs
    previous = previous_comparable(runs, record)
    if previous is None:
        return None
    comparison = compare(previous, record)
    write_page(comparison, (ctx.reports_dir / "runs" / previous["run_id"], ctx.partial), ctx.partial / COMPARE_PAGE)
    moved = text_diff(comparison, limit=3)[1:]
    ctx.echo(f"compared with run {previous['run_id']}:\n" + "\n".join(moved))
    return previous["run_id"]


def _store_outputs(record: RunRecord, partial: Path, reports_dir: Path) -> None:
    """Keep the finished run's outputs once by content, and record its size and what it added."""
    blobs.store_outputs(partial, blobs.store_dir(reports_dir))
    others = [p.name for p in (reports_dir / "runs").glob("[!.]*") if p.is_dir()]
    size = blobs.sizes(blobs.run_files(reports_dir, [partial.name, *others]))[partial.name]
    record.size_bytes, record.new_bytes = size.bytes, size.own
    record.save(partial)


def _publish_stage(result, output, partial, run_provenance, parameters, stage_started) -> None:
    """Read the notebook's metrics; redact and annotate the executed notebook; render both reports."""
    # lazy: jinja2 and the renderer (about 30 ms), off the no-op path
    from bqlab.report.render import finish_notebook, render_reports

    metrics_file = partial / ARTIFACTS / result.stage / METRICS_FILE
    if result.status == "ok" and metrics_file.is_file():
        result.metrics = json.loads(metrics_file.read_text(encoding="utf-8"))
        if result.metrics.get("result_check") == "check":  # the run's scores are in doubt: it says so
            result.status = "check"
    if output.is_file():
        stem = Path(result.notebook).stem
        stage_info = {"started": stage_started, "ended": _now()}
        redacted = provenance.redact(parameters)
        summary = findings.summary(result.stage, result.metrics, result.status, result.error)
        header = header_html(run_provenance, stage_info, result.status, summary, stem)
        details = details_html(run_provenance, stage_info, result.status, redacted)
        try:
            nb = finish_notebook(output, redacted, header, details, task=(result.metrics or {}).get("task"))
        except ValueError:  # nbformat's NotJSONError: papermill's write was cut short
            if shutil.disk_usage(output.parent).free < 1024**2:  # by a full disk: say so, not "not JSON"
                raise OSError(errno.ENOSPC, "No space left on device", str(output)) from None
            raise
        result.html, result.findings_html = render_reports(nb, partial, stem)


def as_dict(record: RunRecord | dict[str, Any]) -> dict[str, Any]:
    """Return a run record as plain data, whether it was just made or read from run.json."""
    return record if isinstance(record, dict) else asdict(record)
