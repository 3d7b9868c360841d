"""Sweeps: many params points, each an ordinary run, sharing the stages they have in common.

A sweep file ``params/sweeps/<name>.yaml`` names what varies, as a ``grid:`` (every
combination, in the order written) or a list of ``points:``, over the usual params (dotted keys:
``model``, ``hyperparameters.max_depth``, ``train.cv_folds``), with an optional ``profile:`` and
``max_points:``. Every point is validated through the params reader before anything runs
(``bqlab.config.load_params`` with the point merged last, so messages name the point and the
key). Each point is then a run of ``run_report``: its own folder, provenance and index entry;
a stage whose inputs a point leaves unchanged is reused from the run that made it, and a point
with the same inputs as a finished run is not run again, so a sweep run twice does nothing and
an interrupted one resumes. Points run side by side (``parallel_notebooks`` notebooks at once
over all of them, within a memory bound; ``bqlab.runner.shared``), a stage two points share
runs once. What each point gave is kept in ``reports/sweeps/<name>.json``.
"""

import itertools
import json
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bqlab import models, tasks
from bqlab.config import load_params, point_sections
from bqlab.errors import BqlabError, NotebookFailed, ParamsError
from bqlab.layers import check_keys, read_yaml
from bqlab.project import Project, write_atomically
from bqlab.report.compare import COMPARE_DIR, comparable, compare_page
from bqlab.report.leaderboard import shown_value, write_leaderboard
from bqlab.report.render import write_index
from bqlab.runner.pipeline import as_dict, preflight, prune_runs, reports_opened, run_report
from bqlab.runner.runs import DONE, load_runs
from bqlab.runner.shared import Shared
from bqlab.sources import kinds

# A sweep of more points than this asks for --yes, or a max_points key in its file.
MAX_POINTS = 12
KEYS = ("grid", "points", "profile", "max_points")


@dataclass(frozen=True)
class Sweep:
    """A sweep file, read: its points (dotted keys to values), in the order they run."""

    name: str
    path: Path
    points: tuple[dict[str, Any], ...]
    profile: str | None = None
    max_points: int = MAX_POINTS

    @property
    def varying(self) -> list[str]:
        """The keys whose value differs between points, in the order they first appear."""
        keys = dict.fromkeys(k for p in self.points for k in p)
        return [k for k in keys if len({json.dumps(p.get(k), sort_keys=True) for p in self.points}) > 1]

    def label(self, index: int) -> str:
        """How messages name point ``index`` (from 0): the file, its number and its values."""
        values = ", ".join(f"{k}={json.dumps(v)}" for k, v in self.points[index].items())
        return f"{self.path} point {index + 1}/{len(self.points)} ({values})"


def with_profile(sweep: Sweep, profile: str | None) -> Sweep:
    """``sweep`` with the profile given on the command line (``make sweep PROFILE=ci``), if any.

    Raises:
        ParamsError: the sweep file names another profile.
    """
    if not profile or profile == sweep.profile:
        return sweep
    if sweep.profile:
        raise ParamsError(
            f"{sweep.path}: key 'profile' names profile {sweep.profile!r}, and PROFILE={profile} was given: "
            "remove one of them"
        )
    return replace(sweep, profile=profile)


def sweeps_dir(project: Project | Path) -> Path:
    """Where the sweep files are: ``<params>/sweeps``."""
    return Project.of(project).params_dir / "sweeps"


def read_sweep(project: Project | Path, name: str) -> Sweep:
    """Read ``<params>/sweeps/<name>.yaml`` and expand it into points.

    Raises:
        ParamsError: the file is missing or malformed, naming the key and how to fix it.
    """
    path = sweeps_dir(project) / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in sweeps_dir(project).glob("*.yaml"))
        raise ParamsError(f"sweep {name!r} not found at {path}; known sweeps: {known or 'none'}")
    data = read_yaml(path)  # the params files' messages: the line and column of a YAML mistake
    check_keys(data, KEYS, str(path))
    if ("grid" in data) == ("points" in data):
        raise ParamsError(
            f"{path}: give either grid: (a list of values per key: every combination runs) or points: "
            "(a list of mappings of keys to values), not both or neither"
        )
    if "grid" in data:
        points = _grid_points(data["grid"], path)
    else:
        points = _listed_points(data["points"], path)
    profile = data.get("profile")
    if profile is not None and not isinstance(profile, str):
        raise ParamsError(f"{path}: key 'profile': the name of a file in params/profiles/, got {profile!r}")
    limit = data.get("max_points", MAX_POINTS)
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise ParamsError(f"{path}: key 'max_points': a positive whole number, got {limit!r}")
    return Sweep(name, path, tuple(points), profile, limit)


def _grid_points(grid: Any, path: Path) -> list[dict[str, Any]]:
    if not isinstance(grid, dict) or not grid:
        raise ParamsError(f"{path}: key 'grid': a mapping of keys to lists of values, e.g. model: [a, b]")
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            hint = "" if values == [] else f" (a single value: [{json.dumps(values)}])"
            raise ParamsError(f"{path}: grid key {key!r}: a non-empty list of the values to try, got {values!r}{hint}")
    keys = list(grid)
    return [dict(zip(keys, combination, strict=True)) for combination in itertools.product(*grid.values())]


def _listed_points(points: Any, path: Path) -> list[dict[str, Any]]:
    if not isinstance(points, list) or not points:
        raise ParamsError(f"{path}: key 'points': a non-empty list of mappings of keys to values")
    for number, point in enumerate(points, start=1):
        if not isinstance(point, dict) or not point:
            raise ParamsError(f"{path}: point {number}: a mapping of keys to values, got {point!r}")
    return [dict(p) for p in points]


def check_sweep(sweep: Sweep, project: Project | Path, yes: bool = False) -> list[Any]:
    """Validate every point before anything runs; return each point's params (``PipelineParams``).

    Raises:
        ParamsError: too many points without --yes, or a point's params are wrong (naming the
            point and the key, with the same messages as ``make report``).
    """
    if len(sweep.points) > sweep.max_points and not yes:
        raise ParamsError(
            f"{sweep.path}: {len(sweep.points)} points, more than {sweep.max_points}: run it with --yes "
            f"(make sweep NAME={sweep.name} YES=1), or set max_points: {len(sweep.points)} in the file"
        )
    seen: dict[str, int] = {}
    checked = []
    for index, point in enumerate(sweep.points):
        twin = seen.setdefault(json.dumps(point, sort_keys=True), index)
        if twin != index:
            raise ParamsError(f"{sweep.label(index)}: the same values as point {twin + 1}: remove one")
        try:
            checked.append(load_params(project, sweep.profile, point, sweep.label(index)))
        except ParamsError as err:  # a check across keys names the params file only: name the point too
            raise _naming(err, sweep.label(index)) from None
    _check_values(sweep, checked)
    return checked


def _check_values(sweep: Sweep, checked: Sequence[Any]) -> None:
    """Refuse a point whose hyperparameters' values scikit-learn refuses (``max_depth: deep``), all points at once."""
    asked = []
    for index, params in enumerate(checked):
        train = params.stages["train"]
        for model in models.candidates(train.model):
            asked.append((index, model, (model, models.served_tasks(model, train.task), train.settings_for(model))))
    for (index, model, _), problem in zip(asked, models.value_problems([a for *_, a in asked]), strict=True):
        if problem:
            where = checked[index].where("train", "hyperparameters")
            raise _naming(ParamsError(f"{where}: key 'hyperparameters' ({model}): {problem}"), sweep.label(index))


def _naming(err: BqlabError, label: str) -> BqlabError:
    """``err`` with the point's label in front, unless its message names the point already."""
    return err if label in str(err) else type(err)(f"{label}: {err}")


def resolved(params: Any, dotted: str) -> Any:
    """The value params (``PipelineParams``) give the dotted key ``dotted``, as a sweep point names it.

    A nested key that no file sets (a hyperparameter left to the model's default) is ``NOT_SET``.
    """
    ((section, values),) = point_sections({dotted: None}, dotted).items()
    value: Any = params.runner.model_dump(mode="json") if section == "runner" else None
    if value is None:
        stage = next(iter(params.stages)) if section == "common" else section
        value = params.stages[stage].model_dump(mode="json")
    while isinstance(values, dict) and isinstance(value, dict):
        ((key, values),) = values.items()
        value = value.get(key, NOT_SET)
    return value


# How the leaderboard shows a key that does nothing in a point (another model's hyperparameter),
# and a key that neither the point nor the files set (the model's own default), unlike a null set.
NOT_APPLYING = NOT_SET = "—"


def applies(params: Any, dotted: str) -> bool:
    """Whether the key a point sets does anything: not another model's hyperparameter when the model is named."""
    parts = dotted.removeprefix("train.").split(".")
    model = params.stages["train"].model
    other = len(parts) > 2 and parts[0] == "hyperparameters" and parts[1] in models.MODELS and parts[1] != model
    return not (other and model != models.AUTO)


@dataclass
class PointResult:
    """What one point gave: its run (or why it has none) and its scores."""

    point: int
    values: dict[str, Any]
    run_id: str | None = None
    status: str = "not run"
    reused: bool = False  # the point had run before with the same inputs: nothing ran
    scores: dict[str, Any] = field(default_factory=dict)
    error: str = ""  # why it failed, or why its run is "check"


def point_scores(record: Mapping[str, Any]) -> dict[str, Any]:
    """A run's headline: the task's main score cross-validated (mean, spread), on the test rows, and the baseline's."""
    metrics = {s["stage"]: s.get("metrics") or {} for s in record.get("stages", [])}
    task_name = metrics.get("train", {}).get("task") or metrics.get("evaluate", {}).get("task")
    if task_name not in tasks.TASKS:
        return {}
    task = tasks.named(task_name)
    train, evaluate = metrics.get("train", {}), metrics.get("evaluate", {})
    return {
        "score": task.main,
        "higher_is_better": task.score(task.main).higher_is_better,
        "cv_mean": train.get(f"cv_{task.main}_mean"),
        "cv_std": train.get(f"cv_{task.main}_std"),
        "test": evaluate.get(task.main),
        "baseline": evaluate.get(task.baseline),
    }


def cost_forecast(checked: Sequence[Any], notebooks_dir: Path, reports_dir: Path, *, force: bool = False):
    """The BigQuery cost forecast of the checked points (``runner.costs.Forecast``); None if none is on BigQuery.

    Raises:
        DataError: the sweep, or one of its statements, is over its cap; nothing was sent.
    """
    if all(kinds.kind(p.common.source).local for p in checked):
        return None
    # lazy: google-cloud-bigquery (about 0.5 s), for a sweep on BigQuery only
    from bqlab.runner.costs import forecast_sweep

    runs = load_runs(Path(reports_dir), warn=False)
    return forecast_sweep(checked, Path(notebooks_dir), Path(reports_dir), runs, force=force)


def run_sweep(
    sweep: Sweep,
    project: Project | Path,
    notebooks_dir: Path,
    reports_dir: Path,
    *,
    yes: bool = False,
    force: bool = False,
    echo: Callable[[str], None] = print,
    on_cell: Callable[[int, int, int, int, str], None] | None = None,
    only: int | None = None,
) -> list[PointResult]:
    """Run every point of ``sweep`` (after checking them all), several side by side; return what each gave.

    A point whose notebook fails is recorded as failed and the sweep goes on; Ctrl-C or SIGTERM
    stops every point and discards their unfinished runs (the finished points are kept, and a
    second call resumes with the others). ``only``: the one point (from 0) a cloud task runs; the
    leaderboard is then left to ``collect``, once every task is done.
    """
    project = Project.of(project)
    checked = check_sweep(sweep, project, yes)
    if only is not None and not 0 <= only < len(sweep.points):
        raise ParamsError(
            f"sweep {sweep.name!r} has {len(sweep.points)} point(s): there is no point {only + 1}; name one "
            f"from 1 to {len(sweep.points)} (a cloud task's index, from 0, must be below the number of points: "
            "the job's task count comes from the sweep file it was written from)"
        )
    planned = cost_forecast(checked, notebooks_dir, reports_dir, force=force)  # before the first billed byte
    if planned:
        echo(planned.line())
    total = len(sweep.points)
    # A point that changes the table's side (label, features, casts, table) is checked against the
    # table now: the first point's run checks the files' own, and a later point must not find out late.
    tables_checked: set[str] = set()
    for index, (params, point) in enumerate(zip(checked, sweep.points, strict=True)):
        if "common" not in point_sections(point, sweep.label(index)):
            continue
        common = json.dumps(params.common.model_dump(mode="json"), sort_keys=True, default=str)
        if common in tables_checked:
            continue
        tables_checked.add(common)
        try:
            preflight(params, Path(notebooks_dir))
        except BqlabError as err:
            raise _naming(err, sweep.label(index)) from None
    results = [PointResult(i + 1, values) for i, values in enumerate(shown_values(sweep, checked))]
    runner = checked[0].runner
    shared = Shared(runner.parallel_notebooks)

    def run_point(index: int) -> None:
        result, prefix = results[index], f"point {index + 1}/{total}"
        if shared.stop.is_set():
            return

        def tagged(message: str) -> None:
            echo(message if message.startswith("warning") else f"{prefix} · {message}")

        progress = None
        if on_cell:

            def progress(i, n, j, m, stem):
                on_cell(i, n, j, m, f"{prefix} · {stem}")

        label = sweep.label(index)
        info = {"name": sweep.name, "point": index + 1, "label": label, "values": sweep.points[index]}
        try:
            outcome = run_report(
                project,
                notebooks_dir,
                reports_dir,
                profile=sweep.profile,
                force=force,
                echo=tagged,
                on_cell=progress,
                sweep=info,
                shared=shared,
            )
        except NotebookFailed as err:
            result.status, result.error = "failed", _shortened(str(err).splitlines()[0])
            result.run_id = Path(err.report).parent.name if err.report else None
            echo(f"{prefix} · failed: {result.error}" + (f"; report: {err.report}" if err.report else ""))
            return
        except BqlabError as err:  # the table or the reports folder: every other point would fail too
            raise _naming(err, label) from None
        record = as_dict(outcome.record)
        result.run_id, result.status, result.reused = record["run_id"], record.get("status", "?"), outcome.noop
        result.scores = point_scores(record)
        if result.status == "check":  # why, on the page and here, as make report says it
            result.error = record.get("check_reason") or ""
        why = f" ({result.error})" if result.error else ""
        echo(f"{prefix} · {'unchanged, run ' if outcome.noop else 'run '}{result.run_id}: {result.status}{why}")

    reports_dir = Path(reports_dir).resolve()
    with reports_opened(reports_dir, echo):  # for the whole sweep: its points publish one at a time under it
        # As many points at once as notebooks may run: a point waiting for a slot holds a warm kernel.
        indices = range(total) if only is None else [only]
        with ThreadPoolExecutor(max_workers=min(len(indices), shared.slots)) as pool:
            futures = [pool.submit(run_point, index) for index in indices]
            try:
                pending = set(futures)
                while pending:  # a timeout, so that Ctrl-C and SIGTERM reach this thread at once
                    finished, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                    for future in finished:
                        future.result()
            except BaseException:
                shared.stop.set()  # every point stops its notebooks and discards its unfinished run
                for future in futures:
                    future.cancel()
                wait(futures)
                raise
        if only is None:
            publish_results(sweep, results, reports_dir)
        else:
            write_index(reports_dir, load_runs(reports_dir, warn=False))
        prune_runs(reports_dir, runner, echo)  # after the leaderboard lists the sweep's runs, which it keeps
    return results if only is None else [results[only]]


def shown_values(sweep: Sweep, checked: Sequence[Any]) -> list[dict[str, Any]]:
    """Each point with the value every varying key has in it: set by the point, or else by the params files."""
    return [
        {k: resolved(params, k) for k in sweep.varying} | p | {k: NOT_APPLYING for k in p if not applies(params, k)}
        for params, p in zip(checked, sweep.points, strict=True)
    ]


def collect(sweep: Sweep, project: Project | Path, reports_dir: Path) -> list[PointResult]:
    """The sweep's results from the runs its points made (on any machine: a run store), and its leaderboard.

    Each point's newest run made for this sweep with these values; a point without one is "not run".
    """
    checked = check_sweep(sweep, Project.of(project), yes=True)
    results = [PointResult(i + 1, values) for i, values in enumerate(shown_values(sweep, checked))]
    reports_dir = Path(reports_dir).resolve()
    with reports_opened(reports_dir, lambda _line: None):
        runs = load_runs(reports_dir, warn=False)  # newest first
        for index, result in enumerate(results):
            wanted = {"name": sweep.name, "values": sweep.points[index]}
            made = next(
                (
                    r
                    for r in runs
                    if {k: (r.get("sweep") or {}).get(k) for k in wanted} == wanted
                    and r.get("profile") == sweep.profile
                ),
                None,
            )
            if made:
                result.run_id, result.status, result.scores = (
                    made["run_id"],
                    made.get("status", "?"),
                    point_scores(made),
                )
                errors = [s["error"] for s in made.get("stages", []) if s.get("error")]
                reason = made.get("check_reason") if result.status == "check" else (errors or [""])[0]
                result.error = _shortened(reason or "")
        publish_results(sweep, results, reports_dir)
    return results


ERROR_CHARACTERS = 240  # of a failed point's error, in its terminal line and on the page (the report has it all)


def _shortened(error: str) -> str:
    """A notebook's error cut to ``ERROR_CHARACTERS`` (scikit-learn's can hold whole tracebacks)."""
    return error if len(error) <= ERROR_CHARACTERS else error[: ERROR_CHARACTERS - 1].rstrip() + "…"


def versus_current(best: PointResult | None, runs: Sequence[Mapping[str, Any]], profile: str | None) -> str:
    """Whether the best point beats the current params' newest run by more than the CV spread.

    The current params' run is the newest finished run that is no sweep's point, with the sweep's
    profile and the best point's table, label and task; the spread is the larger of the two runs'
    standard deviations over folds.
    """
    if best is None:
        return "No point finished with a cross-validated score."
    s = best.scores
    made = next((r for r in runs if r["run_id"] == best.run_id), None)
    same = comparable(made) if made else None  # the same table, label and task
    mine = (
        r
        for r in runs
        if not r.get("sweep") and r.get("status") in DONE and r.get("profile") == profile and comparable(r) == same
    )
    current = next(mine, None)
    head = f"Best: point {best.point} (run {best.run_id}), cross-validated {s['score']} "
    head += f"{s['cv_mean']:.4f} ± {s['cv_std']:.4f}"
    c = point_scores(current) if current else {}
    if current is None or c.get("cv_mean") is None or c.get("score") != s["score"]:
        run = "make report" + (f" PROFILE={profile}" if profile else "")
        return f"{head}; no run of the current params to compare it with ({run} makes one)."
    sign = 1 if s["higher_is_better"] else -1
    gain, noise = sign * (s["cv_mean"] - c["cv_mean"]), max(s["cv_std"] or 0, c["cv_std"] or 0)
    versus = f"the current params (run {current['run_id']}: {c['cv_mean']:.4f} ± {c['cv_std']:.4f})"
    if gain > noise:
        return f"{head}: beats {versus} by {gain:.4f}, more than the CV spread ({noise:.4f})."
    if -gain > noise:
        spread = f"more than the CV spread ({noise:.4f})"
        return f"{head}: worse than {versus} by {-gain:.4f}, {spread}: keep the current params."
    return f"{head}: within noise of {versus} (a difference of {gain:+.4f} against a CV spread of {noise:.4f})."


def publish_results(sweep: Sweep, results: Sequence[PointResult], reports_dir: Path) -> Path:
    """Write the results file, each point's comparison with the best, the leaderboard page and the index."""
    runs = load_runs(reports_dir, warn=False)
    kept = {r["run_id"] for r in runs}
    best = best_point(results)
    body = results_body(sweep, results)
    body["best"] = best.point if best else None
    body["verdict"] = versus_current(best, runs, sweep.profile)
    for point, result in zip(body["points"], results, strict=True):
        point["best"] = result is best
        point["links"] = {}
        if result.run_id in kept:
            folder = reports_dir / "runs" / str(result.run_id)
            pages = ("03-evaluate.findings.html", "02-train.findings.html", "01-eda.findings.html")
            findings = next((p for p in pages if (folder / p).is_file()), None)  # a failed run has fewer
            if findings:
                point["links"]["findings"] = f"../runs/{result.run_id}/{findings}"
            if best and result is not best:
                # A is the best point, B this one, whichever is older; runs never change: made once stays right
                page = reports_dir / COMPARE_DIR / f"{best.run_id}-vs-{result.run_id}.html"
                if not page.is_file():
                    page, _ = compare_page(reports_dir, runs, best.run_id, str(result.run_id), as_named=True)
                point["links"]["compare"] = f"../{page.relative_to(reports_dir).as_posix()}"
    path = results_file(reports_dir, sweep.name)
    text = json.dumps(body, indent=2, default=str) + "\n"
    if _published(path, reports_dir) and path.read_text(encoding="utf-8") == text:
        return path  # a sweep that changed nothing: its page and the index are already these
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, text)
    write_leaderboard(path.with_suffix(".html"), body)
    write_index(reports_dir, runs)
    return path


def _published(path: Path, reports_dir: Path) -> bool:
    """Whether the page and the index were written after the results file (a publish cut short was not)."""
    try:
        written = path.stat().st_mtime_ns
        page, index = path.with_suffix(".html").stat().st_mtime_ns, (Path(reports_dir) / "index.html").stat()
    except OSError:
        return False
    return page >= written and index.st_mtime_ns >= written


def results_file(reports_dir: Path, name: str) -> Path:
    """Where a sweep's results are kept: ``reports/sweeps/<name>.json``."""
    return Path(reports_dir) / "sweeps" / f"{name}.json"


def results_body(sweep: Sweep, results: Sequence[PointResult]) -> dict[str, Any]:
    """What ``reports/sweeps/<name>.json`` keeps: the sweep, and each point's values, run, status and scores."""
    return {
        "name": sweep.name,
        "file": str(sweep.path),
        "profile": sweep.profile,
        "varying": sweep.varying or list(sweep.points[0]),
        "points": [dict(vars(r)) for r in results],
    }


def best_point(results: Sequence[PointResult]) -> PointResult | None:
    """The finished point with the best cross-validated main score (the test rows stay for judging it)."""
    scored = [r for r in results if r.status in ("ok", "check") and r.scores.get("cv_mean") is not None]
    if any(r.status == "ok" for r in scored):  # "check": the result check doubts the scores
        scored = [r for r in scored if r.status == "ok"]
    if not scored:
        return None
    sign = 1 if scored[0].scores["higher_is_better"] else -1
    return max(scored, key=lambda r: sign * r.scores["cv_mean"])


def summary_lines(sweep: Sweep, results: Sequence[PointResult]) -> list[str]:
    """A table of the points (only the keys that vary), their scores and status, and the best point."""
    varying = sweep.varying or list(sweep.points[0])
    best = best_point(results)
    score = next((r.scores["score"] for r in results if r.scores), "score")
    header = ["#", *varying, f"cv {score}", f"test {score}", "baseline", "status"]
    rows = []
    for r in results:
        s = r.scores
        cv = f"{s['cv_mean']:.4f} ± {s['cv_std']:.4f}" if s.get("cv_mean") is not None else "-"
        test = f"{s['test']:.4f}" if s.get("test") is not None else "-"
        base = f"{s['baseline']:.4f}" if s.get("baseline") is not None else "-"
        mark = "*" if r is best else ""
        values = (shown_value(r.values.get(k)) for k in varying)
        rows.append([f"{r.point}{mark}", *values, cv, test, base, r.status])
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows, strict=True)]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(line, widths, strict=True)).rstrip() for line in [header, *rows]]
    return lines
