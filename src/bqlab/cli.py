"""``python -m bqlab``: the entry point the Makefile calls.

Commands:
    report   bring the HTML reports up to date: run the notebooks whose inputs changed
    check    validate params and check the table only (nothing runs, nothing is written)
    doctor   check the set-up (Python, kernel, container engine, params, credentials, table access)
    prune    remove runs beyond keep_runs (params/runner.yaml), never latest or a reused one
    compare  compare two runs (the two newest, or --a/--b): an HTML page and a short text diff
    compare --fail-on-regression (make gate): exit 1 when the newest run's scores got worse than a baseline's
    sweep    run every point of params/sweeps/<NAME>.yaml, each an ordinary run; print the points' scores
    publish  copy the reports to gs://<bucket>/<folder> or a shared folder (--to, or publish.to in runner.yaml)

Exit codes: 0 done, 1 a notebook failed, 2 bad input, an unusable reports folder or a full disk,
130 interrupted (Ctrl-C), 143 terminated (SIGTERM).
"""

import argparse
import errno
import json
import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

from bqlab import __version__
from bqlab.errors import BqlabError, NotebookFailed, ParamsError, Terminated
from bqlab.project import Project


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bqlab", description="Run the bqlab notebooks and write HTML reports.")
    commands = ["report", "check", "doctor", "prune", "compare", "sweep", "baseline", "publish"]
    parser.add_argument("command", choices=commands, help="what to do")
    parser.add_argument(
        "name",
        nargs="?",
        default=None,
        help="sweep: the sweep file's name (params/sweeps/NAME.yaml); baseline: the run to tag (default: latest)",
    )
    parser.add_argument("--version", action="version", version=f"bqlab {__version__}")
    parser.add_argument("--profile", default=None, help="overlay params/profiles/<PROFILE>.yaml (e.g. ci)")
    parser.add_argument("--params-dir", type=Path, default=Path("params"), help="folder of the YAML params")
    parser.add_argument("--notebooks-dir", type=Path, default=Path("notebooks"), help="folder of the notebooks")
    parser.add_argument(
        "--reports-dir",
        default="reports",
        help="where reports are written: a folder, or a run store gs://<bucket>/<folder>",
    )
    parser.add_argument("--force", action="store_true", help="re-run every notebook even if its inputs are unchanged")
    parser.add_argument("--quiet", action="store_true", help="print only errors and the final line (for CI)")
    parser.add_argument("--a", default=None, help="compare: the baseline run id (default: the second newest)")
    parser.add_argument("--b", default=None, help="compare: the run to compare with it (default: the newest)")
    parser.add_argument("--yes", action="store_true", help="sweep: run a sweep of more points than its max_points")
    parser.add_argument(
        "--forecast", action="store_true", help="sweep: check every point and print the BigQuery cost forecast only"
    )
    parser.add_argument(
        "--point",
        default=None,
        help="sweep: run only point N (1 to the number of points), or 'task': the point of this cloud task's index "
        "($JOB_COMPLETION_INDEX on Kubernetes, $CLOUD_RUN_TASK_INDEX on Cloud Run; from 0)",
    )
    parser.add_argument(
        "--emit",
        choices=["k8s", "cloud-run"],
        default=None,
        help="sweep: print the cloud job that runs each point as a task into the run store --reports-dir gs://...",
    )
    parser.add_argument(
        "--collect",
        action="store_true",
        help="sweep: the leaderboard from the runs the points made (in a run store gs://..., on every machine)",
    )
    parser.add_argument("--to", default=None, help="publish: gs://<bucket>/<folder> or a folder (default: publish.to)")
    parser.add_argument(
        "--audience",
        choices=["team", "readers"],
        default=None,
        help="publish: readers gets the findings, comparisons, figures and index only (default: publish.audience)",
    )
    parser.add_argument(
        "--fail-on-regression",
        action="store_true",
        help="compare: the newest run against --a (default: the previous comparable run); exit 1 if a score got worse",
    )
    return parser


class CellProgress:
    """One live status line on a terminal: per running notebook, stage i/N, cell j/M, elapsed time."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.running: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, daemon=True)
        self._ticker.start()

    def update(self, i: int, n: int, j: int, m: int, stem: str) -> None:
        """Show that code cell j of m of notebook i of n has started (m == 0: the notebook ended)."""
        with self._lock:
            if m == 0:
                self.running.pop(stem, None)
            else:
                since = self.running.get(stem, ("", time.monotonic()))[1]
                self.running[stem] = (f"[{i}/{n}] {stem}: cell {j}/{m}", since)
        self._draw()

    def clear(self) -> None:
        """Erase the line (before ordinary output is printed)."""
        with self._lock:
            self.stream.write("\r\033[K")
            self.stream.flush()

    def close(self) -> None:
        """Stop refreshing and erase the line."""
        self._stop.set()
        self.clear()

    def _draw(self) -> None:
        with self._lock:
            now = time.monotonic()
            text = " | ".join(f"{label} {now - since:5.1f}s" for label, since in self.running.values())
            if text:
                self.stream.write(f"\r\033[K{text}")
                self.stream.flush()

    def _tick(self) -> None:
        while not self._stop.wait(0.5):
            self._draw()


def _summary(record: dict, reports_dir: Path) -> str:
    lines = [f"{'stage':<10} {'status':<8} {'time':>7} {'memory':>9}  report"]
    for stage in record["stages"]:
        name = stage.get("findings_html") or stage["html"]
        report = reports_dir / "runs" / record["run_id"] / name if name else "-"
        note = f"  (from {stage['reused_from']})" if stage.get("reused_from") else ""
        memory = f"{stage['peak_memory_mb']:.0f} MiB" if stage.get("peak_memory_mb") else "-"
        lines.append(f"{stage['stage']:<10} {stage['status']:<8} {stage['seconds']:>6.1f}s {memory:>9}  {report}{note}")
    return "\n".join(lines)


def _disk_full(err: OSError, reports_dir: Path) -> str:
    """Say the disk is full, where, how much is free and how much a run took, and what to do."""
    where = Path(err.filename) if err.filename else reports_dir
    free = shutil.disk_usage(reports_dir if reports_dir.exists() else Path.cwd()).free / 1024**2
    latest = reports_dir / "latest"
    size = sum(p.stat().st_size for p in latest.resolve().rglob("*") if p.is_file()) if latest.is_dir() else 0
    needed = f"; the last complete run took {size / 1024**2:.1f} MB" if size else ""
    return (
        f"the disk is full: {err.strerror or 'no space left on device'} while writing under {where} "
        f"({free:.1f} MB free there{needed}): free some space (make prune removes old runs beyond keep_runs "
        "in params/runner.yaml) and run again; the unfinished run was discarded and earlier runs are untouched"
    )


def _prune(args) -> int:
    # lazy, as every import of a command here: pydantic (about 0.14 s), the renderer with jinja2
    # (about 70 ms) and the runs (about 18 ms) would triple `bqlab --version`
    from bqlab.config import load_params
    from bqlab.report.render import write_index
    from bqlab.runner import blobs
    from bqlab.runner.runs import ReportsLock, latest_run, load_runs, remove_runs, runs_to_prune

    runner = load_params(args.project, args.profile).runner
    keep, keep_bytes = runner.keep_runs, int(runner.keep_bytes)
    if not (args.reports_dir / "runs").is_dir():
        print(f"nothing to prune: no runs in {args.reports_dir}")
        return 0
    with ReportsLock(args.reports_dir):
        runs = [run["run_id"] for run in load_runs(args.reports_dir, warn=False)]
        sizes = blobs.sizes(blobs.run_files(args.reports_dir, runs))
        removed = runs_to_prune(args.reports_dir, keep, keep_bytes=keep_bytes)
        latest = latest_run(args.reports_dir)
        print("runs, newest first: size (own: what removing it frees)")
        for run_id in runs:
            mark = "  removed" if run_id in removed else "  latest" if run_id == latest else ""
            size = sizes[run_id]
            print(f"  {run_id}  {blobs.megabytes(size.bytes):>10} (own {blobs.megabytes(size.own)}){mark}")
        freed = 0
        if removed:
            write_index(args.reports_dir, load_runs(args.reports_dir, warn=False), removed)  # first: no dead link
            freed = remove_runs(args.reports_dir, removed)
        left = [r for r in runs if r not in removed]
        on_disk = blobs.total_bytes(blobs.run_files(args.reports_dir, left))
    limit, freed_text = runner.keep_bytes.human_readable(decimal=True), blobs.megabytes(freed)
    print(
        f"removed {len(removed)} run(s) beyond keep_runs={keep} or keep_bytes={limit} ({freed_text} freed); "
        f"{len(left)} run(s) kept, {blobs.megabytes(on_disk)} on disk"
    )
    return 0


def _publish(args, echo) -> int:
    # lazy: pydantic, jinja2 and, for a bucket, the Cloud Storage client (about 0.3 s)
    from bqlab.config import load_params
    from bqlab.runner.publish import publish, publish_settings, summary

    settings = load_params(args.project, args.profile).runner
    to, audience = publish_settings(settings, args.to, args.audience)
    done = publish(
        args.reports_dir, to, args.project.root, audience, settings.publish.api_endpoint, echo, settings.keep_runs
    )
    for line in summary(done):
        print(line)
    return 0


def _terminate(_signum, _frame) -> None:
    Terminated.received = True
    raise Terminated()


def _raise_on_sigterm():
    """Make SIGTERM unwind like Ctrl-C; return the handler it replaced (None off the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _terminate)


def _command(args, echo, progress) -> int:
    """Run a command other than doctor on ``args.reports_dir`` (a folder)."""
    if args.command == "prune":
        return _prune(args)
    if args.command == "compare" and args.fail_on_regression:
        return _gate(args)
    if args.command == "compare":
        # lazy: jinja2 and the compare page, about 70 ms that only compare needs
        from bqlab.report.compare import compare_page
        from bqlab.runner.runs import load_runs

        page, lines = compare_page(args.reports_dir, load_runs(args.reports_dir), args.a, args.b)
        print("\n".join(lines))
        print(f"comparison: {page}")
        return 0
    if args.command == "check":
        # lazy: pydantic and the runner, about 0.2 s that --version and compare never need
        from bqlab.config import load_params
        from bqlab.runner.pipeline import preflight

        params = load_params(args.project, args.profile)
        table = preflight(params, args.notebooks_dir)
        print(f"params and table OK ({table['rows']:,} rows): {', '.join(str(f) for f in params.files)}")
        print(f"task: {table['task']} ({table['task_reason']})")
        return 0
    if args.command == "sweep":
        return _sweep(args, echo, progress)
    if args.command == "baseline":
        return _baseline(args)
    if args.command == "publish":
        return _publish(args, echo)
    # lazy: the runner costs about 65 ms that --version and compare never need
    from bqlab.runner.pipeline import as_dict, run_report

    outcome = run_report(
        args.project,
        args.notebooks_dir,
        args.reports_dir,
        profile=args.profile,
        force=args.force,
        echo=echo,
        on_cell=progress.update if progress else None,
    )
    args.finished, args.noop = True, outcome.noop
    _report_done(as_dict(outcome.record), outcome.noop, args.reports_dir, echo)
    return 0


# The commands after which a run store gets the local copy's runs and pages.
PUSHING = ("report", "sweep", "baseline", "compare", "prune")


def _in_store(store: str, args, echo, progress) -> int:
    """Run a command on the local copy of the run store ``store``; then publish it there (``bqlab.runner.remote``).

    Published: the runs the store lacks (made by this command, a failed one too, or left by a push
    that failed) and the pages this command wrote; after prune, the store's retention. A push that
    fails after the command's own error, or after the gate's verdict, is a warning.
    """
    # lazy: pydantic, jinja2 and the Cloud Storage client, for a run store only
    from bqlab.config import load_params
    from bqlab.runner.remote import page_states, pull, push, unsent, written_pages

    settings = load_params(args.project, args.profile).runner
    endpoint, root = settings.publish.api_endpoint, args.project.root
    args.reports_dir, in_store = pull(store, root, endpoint, echo)
    copy = args.reports_dir
    before = page_states(copy)  # what the command writes from now on is its own to send

    def pushed(required: bool) -> None:
        written = written_pages(copy, before)
        if args.command != "prune" and not written and not unsent(copy, in_store):
            return  # nothing new here: the store is as this command found it
        try:
            push(store, copy, root, endpoint, settings.keep_runs, echo, pages=written)
        except BqlabError as err:
            message = f"{err}; what this command made is kept in {copy}: run it again to send it to {store}"
            if required:
                raise type(err)(message) from None
            print(f"warning: {message}", file=sys.stderr)

    try:
        code = _command(args, echo, progress)
    except BqlabError:
        if args.command in ("report", "sweep"):
            pushed(required=False)  # a failed run, published for whoever looks at the store
        raise
    if args.command in PUSHING and not args.forecast:
        pushed(required=not (args.command == "compare" and args.fail_on_regression))  # the gate's verdict stands
    return code


def main(argv: list[str] | None = None) -> int:
    """Run a command and return the process exit code."""
    args = _parser().parse_args(argv)
    args.project = Project.of(args.params_dir)  # the root and params folder every command reads
    given = [f"--{flag}" for flag in ("emit", "point", "collect") if getattr(args, flag)]
    if given and args.command != "sweep":
        print(f"error: {' and '.join(given)} go with sweep: bqlab sweep NAME {given[0]} ...", file=sys.stderr)
        return 2
    store = args.store = args.reports_dir if args.reports_dir.startswith("gs://") else None
    if not store and ("://" in args.reports_dir or args.reports_dir.lower().startswith("gs:")):
        print(f"error: --reports-dir {args.reports_dir!r}: write a folder, or gs://<bucket>/<folder>", file=sys.stderr)
        return 2
    args.reports_dir = Path(args.reports_dir)
    progress = CellProgress(sys.stderr) if not args.quiet and sys.stderr.isatty() else None

    def echo(message: str) -> None:
        if progress:
            progress.clear()
        if not args.quiet or message.startswith("warning"):
            print(message, flush=True)

    if args.command == "doctor":
        # lazy: the doctor's checks import pydantic, jupyter_client and the sources (about 0.6 s)
        from bqlab.runner.doctor import run_doctor

        failures = run_doctor(args.project, args.notebooks_dir, args.profile)
        print("all checks passed" if not failures else f"{failures} check(s) failed: fix them as shown above")
        return 0 if not failures else 2
    previous = _raise_on_sigterm()
    try:
        if store and not args.emit and args.command != "check":  # neither reads the store's runs
            return _in_store(store, args, echo, progress)
        return _command(args, echo, progress)
    except BqlabError as err:
        print(f"error: {err}", file=sys.stderr)
        if isinstance(err, NotebookFailed) and err.report:
            print(f"index: {args.reports_dir / 'index.html'}", file=sys.stderr)
        return err.exit_code
    except OSError as err:
        if err.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        print(f"error: {_disk_full(err, args.reports_dir)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        how = "terminated (SIGTERM)" if isinstance(err, Terminated) else "interrupted"
        if getattr(args, "finished", False):  # while printing the summary
            print(f"{how} after the run had finished: its reports are complete", file=sys.stderr)
        elif args.command == "publish":
            print(
                f"{how}: the publish stopped; what was published stays whole (its index links only complete runs), "
                "and make publish sends the rest",
                file=sys.stderr,
            )
        elif args.command == "sweep":
            print(
                f"{how}: the points' unfinished runs were discarded and the finished ones are kept; "
                f"make sweep NAME={args.name} runs the others",
                file=sys.stderr,
            )
        else:
            print(f"{how}: the unfinished run was discarded; earlier reports are untouched", file=sys.stderr)
        return 143 if isinstance(err, Terminated) else 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if progress:
            progress.close()


def _gate(args) -> int:
    # lazy: the params and the gate (pydantic, about 0.1 s) only this command needs
    from bqlab.config import load_params
    from bqlab.report import gate
    from bqlab.runner.runs import BASELINE_FILE, baseline_run, load_runs

    tolerances = load_params(args.project, args.profile).runner.gate_tolerances
    tagged = baseline_run(args.reports_dir)
    if tagged is None and (args.reports_dir / BASELINE_FILE).is_file():
        print(f"warning: {args.reports_dir / BASELINE_FILE} names a run that is gone: make baseline RUN=<run id>")
    baseline, newest = gate.pick_baseline(load_runs(args.reports_dir), args.a, tagged)
    scores = gate.gated_scores(baseline, newest, tolerances)
    why = "the previous comparable run" if baseline["run_id"] != tagged else "the tagged baseline"
    why = "named" if args.a else why
    print(f"gate: run {newest['run_id']} against {baseline['run_id']} ({why})")
    print("\n".join(s.line() for s in scores))
    worse = [s for s in scores if s.regressed]
    if worse:
        print(f"gate FAILED: {len(worse)} of {len(scores)} scores got worse by more than their tolerance")
        return 1
    print(f"gate passed: {len(scores)} scores within their tolerance")
    return 0


def _baseline(args) -> int:
    # lazy: the runs' records, off the no-op report path
    from bqlab.report.compare import named_runs
    from bqlab.runner.runs import DONE, ReportsLock, latest_run, load_runs, tag_baseline

    runs = [r for r in load_runs(args.reports_dir) if r.get("status") in DONE]
    wanted = args.name or latest_run(args.reports_dir)
    hits = named_runs(runs, wanted) if wanted else []
    if len(hits) != 1:
        why = f"{wanted!r} names {len(hits)} finished runs" if runs else "no finished run yet: run `make report` first"
        ids = ", ".join(r["run_id"] for r in runs[:5])
        raise ParamsError(f"baseline: {why}" + (f"; the newest: {ids} (make baseline RUN=<run id>)" if runs else ""))
    run_id = hits[0]["run_id"]
    with ReportsLock(args.reports_dir):  # not while a run is pruning the reports
        if not (args.reports_dir / "runs" / run_id / "run.json").is_file():
            raise ParamsError(f"baseline: run {run_id} was removed meanwhile; name another")
        tag_baseline(args.reports_dir, run_id)
    print(f"baseline: run {run_id}; make gate compares the newest comparable run with it, and retention keeps it")
    return 0


def _sweep(args, echo, progress) -> int:
    # lazy: the sweeps read params and run the runner (pydantic and the runner, about 0.2 s)
    from bqlab.runner import sweeps

    if not args.name:
        known = sorted(p.stem for p in sweeps.sweeps_dir(args.project).glob("*.yaml"))
        raise ParamsError(f"name the sweep: make sweep NAME=<name> (known sweeps: {known or 'none'})")
    started = time.monotonic()
    sweep = sweeps.with_profile(sweeps.read_sweep(args.project, args.name), args.profile)
    if args.forecast:
        checked = sweeps.check_sweep(sweep, args.project, args.yes)
        planned = sweeps.cost_forecast(checked, args.notebooks_dir, args.reports_dir, force=args.force)
        points = f"{len(checked)} point{'' if len(checked) == 1 else 's'} checked"
        print(f"sweep {sweep.name}: {points}; " + (planned.line() if planned else "the embedded engine bills nothing"))
        return 0
    if args.emit:
        # lazy: pydantic and yaml (the params), for --emit only
        from bqlab.config import load_params
        from bqlab.runner.fanout import how_to_run, manifest

        sweeps.check_sweep(sweep, args.project, yes=args.yes)  # every point and the size, before the job exists
        fanout = load_params(args.project, sweep.profile).runner.fanout
        print(manifest(args.emit, sweep, args.store or str(args.reports_dir), fanout), end="")
        print("\n".join(how_to_run(args.emit, sweep, args.store)), file=sys.stderr)
        return 0
    if args.collect:
        results = sweeps.collect(sweep, args.project, args.reports_dir)
        print("\n".join(sweeps.summary_lines(sweep, results)))
        saved = sweeps.results_file(args.reports_dir, sweep.name)
        print(json.loads(saved.read_text(encoding="utf-8"))["verdict"])
        done = sum(r.status != "not run" for r in results)
        print(f"sweep {sweep.name}: {done} of {len(results)} point(s) have a run: {saved.with_suffix('.html')}")
        missing = [str(r.point) for r in results if r.status == "not run"]
        if missing:
            print(f"without a run: point(s) {', '.join(missing)}: run each with --point N, or run the job again")
        return 0 if done == len(results) and not any(r.status == "failed" for r in results) else 1
    only = _point_index(args.point, sweep.name) if args.point else None
    results = sweeps.run_sweep(
        sweep,
        args.project,
        args.notebooks_dir,
        args.reports_dir,
        yes=args.yes,
        force=args.force,
        echo=echo,
        on_cell=progress.update if progress else None,
        only=only,
    )
    if progress:
        progress.clear()
    if only is not None:
        (result,) = results
        print(f"sweep {sweep.name}: point {result.point}: run {result.run_id}: {result.status}")
        echo(f"once every point has a run: bqlab sweep {sweep.name} --collect (the leaderboard)")
        return 1 if result.status == "failed" else 0
    print("\n".join(sweeps.summary_lines(sweep, results)))
    saved = sweeps.results_file(args.reports_dir, sweep.name)
    print(json.loads(saved.read_text(encoding="utf-8"))["verdict"])
    ran = sum(not r.reused for r in results)
    failed = sum(r.status == "failed" for r in results)
    took = time.monotonic() - started
    points = f"{len(results)} point{'' if len(results) == 1 else 's'}"
    print(
        f"sweep {sweep.name}: {points} ({ran} ran, {len(results) - ran} unchanged, {failed} failed) "
        f"in {took:.1f}s: {saved.with_suffix('.html')}"
    )
    return 1 if failed else 0


TASK_INDEX_VARIABLES = ("JOB_COMPLETION_INDEX", "CLOUD_RUN_TASK_INDEX")  # Kubernetes Indexed Job, Cloud Run job


def _point_index(point: str, name: str) -> int:
    """The point (from 0) ``--point`` names: a number from 1, or ``task``: this cloud task's index (from 0)."""
    if point == "task":
        found = [(v, os.environ[v]) for v in TASK_INDEX_VARIABLES if os.environ.get(v)]
        if not found:
            raise ParamsError(
                f"sweep {name}: --point task reads the task's index from ${' or $'.join(TASK_INDEX_VARIABLES)}, "
                "and neither is set: run it as a task of the job bqlab sweep --emit writes, or name one: --point N"
            )
        variable, value = found[0]
        if not value.isdigit():
            raise ParamsError(f"sweep {name}: ${variable}={value!r} is not a task index (0, 1, 2, ...)")
        return int(value)
    if not point.isdigit() or int(point) < 1:
        raise ParamsError(f"sweep {name}: --point {point!r}: write a point's number (1, 2, ...) or task")
    return int(point) - 1


def _report_done(record: dict, noop: bool, reports_dir: Path, echo) -> None:
    if noop:
        print(
            f"up to date: nothing changed since run {record['run_id']} ({record['ended']}); "
            f"reports: {reports_dir / 'index.html'} (FORCE=1 re-runs everything)"
        )
        return
    echo(_summary(record, reports_dir))
    reused = sum(s["status"] == "reused" for s in record["stages"])
    ran = len(record["stages"]) - reused
    done = f"in {record['seconds']:.1f}s ({ran} ran, {reused} reused): {reports_dir / 'index.html'}"
    if record.get("status") == "check":  # complete, but the scores are in doubt: not a failure (exit 0)
        print(f"report done, status CHECK {done}\n  check: {record.get('check_reason', '')}")
        return
    print(f"report OK {done}")


def run(argv: list[str] | None = None) -> None:
    """The command's entry point (``bqlab``, ``python -m bqlab``): ``main``, then exit with its code.

    An interrupted or terminated run exits at once, after its own clean-up (the unfinished run
    discarded, kernels stopped, the lock released): interpreter shutdown would then finalise
    the event loops jupyter_client left in the kernel threads, which can print an "Exception
    ignored" traceback after the one-line message.
    """
    code = main(argv)
    if code in (130, 143):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    run()
