"""Sweeps: a file of params points, each validated before anything runs and run as an ordinary run."""

import contextlib
import io
import json
import re
import shutil
import time
from pathlib import Path

import pytest

from bqlab.config import load_params, point_sections
from bqlab.errors import DataError, ParamsError
from bqlab.runner import sweeps
from bqlab.runner.pipeline import stage_inputs

from .conftest import ROOT, run_cli, write_yaml


def sweep_file(project, text: str, name: str = "s"):
    write_yaml(project / "params" / "sweeps" / f"{name}.yaml", text)
    return sweeps.read_sweep(project / "params", name)


def test_a_grid_is_every_combination_in_the_order_written(project):
    sweep = sweep_file(project, "grid: {model: [random_forest, gradient_boosting], cv_folds: [3, 4, 5]}")
    assert len(sweep.points) == 6
    assert sweep.points[0] == {"model": "random_forest", "cv_folds": 3}
    assert sweep.points[1] == {"model": "random_forest", "cv_folds": 4}
    assert sweep.points[5] == {"model": "gradient_boosting", "cv_folds": 5}
    assert sweep.varying == ["model", "cv_folds"]


def test_listed_points_vary_only_in_the_keys_that_differ(project):
    text = "profile: ci\npoints:\n  - {model: random_forest, seed: 1}\n  - {model: random_forest, seed: 2}"
    sweep = sweep_file(project, text)
    assert sweep.profile == "ci"
    assert sweep.varying == ["seed"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("gird: {model: [a]}", r"unknown key 'gird'; did you mean 'grid'\?"),
        ("grid: {model: [a]}\npoints: [{model: a}]", "either grid: .* or points: .*not both or neither"),
        ("profile: ci", "either grid:"),
        ("grid: {model: random_forest}", r"grid key .model.: a non-empty list .*\(a single value: \[\"random_forest"),
        ("grid: {model: []}", "grid key 'model': a non-empty list"),
        ("points: [model]", "point 1: a mapping of keys to values"),
        ("grid: {model: [a]}\nmax_points: 0", "max_points': a positive whole number"),
    ],
)
def test_a_malformed_sweep_file_is_refused_naming_the_key(project, text, message):
    with pytest.raises(ParamsError, match=message):
        sweep_file(project, text)


def test_a_missing_sweep_lists_the_known_ones(project):
    sweep_file(project, "grid: {seed: [1, 2]}", name="seeds")
    with pytest.raises(ParamsError, match=r"sweep 'sedes' not found at .*; known sweeps: \['models', 'seeds'\]"):
        sweeps.read_sweep(project / "params", "sedes")


def test_a_points_keys_go_to_the_section_that_owns_them():
    sections = point_sections(
        {"model": "random_forest", "hyperparameters.max_depth": 3, "features": ["a"], "permutation_repeats": 2},
        "here",
    )
    assert sections == {
        "train": {"model": "random_forest", "hyperparameters": {"max_depth": 3}},
        "common": {"features": ["a"]},
        "evaluate": {"permutation_repeats": 2},
    }


def test_a_point_overrides_the_params_and_the_base_files_hyperparameters_of_another_model(project):
    point = {"model": "hist_gradient_boosting", "hyperparameters.max_depth": 3, "cv_folds": 4}
    params = load_params(project / "params", "ci", point, "the point")
    train = params.stages["train"]
    assert (train.model, train.cv_folds) == ("hist_gradient_boosting", 4)
    assert train.settings_for("hist_gradient_boosting")["max_depth"] == 3
    assert load_params(project / "params", "ci").stages["train"].cv_folds == 3  # the files are untouched
    # A setting of the point's model joins that model's settings in the files (ci: 30 trees), not replaces them.
    forest = load_params(project / "params", "ci", {"model": "random_forest", "hyperparameters.max_depth": 3}, "p")
    assert forest.stages["train"].settings_for("random_forest").items() >= {"n_estimators": 30, "max_depth": 3}.items()


def test_a_wrong_setting_in_a_point_is_named_as_the_points():
    with pytest.raises(ParamsError, match=r"^the point: key 'hyperparameters'"):
        load_params(
            ROOT / "params", "ci", {"model": "logistic_regression", "hyperparameters.max_depth": 3}, "the point"
        )
    with pytest.raises(ParamsError, match=r"the point: unknown key 'lable'; did you mean 'label'\?"):
        load_params(ROOT / "params", None, {"lable": "x"}, "the point")


def test_the_verdict_compares_with_the_current_params_run_of_the_same_table():
    def record(run_id, table, cv, std, sweep=None):
        train = {"task": "classification", "cv_accuracy_mean": cv, "cv_accuracy_std": std}
        data = {"table": table, "label": "y", "task": "classification"}
        return {
            "run_id": run_id,
            "status": "ok",
            "profile": None,
            "sweep": sweep,
            "provenance": {"data": data},
            "stages": [{"stage": "train", "metrics": train}],
        }

    runs = [
        record("p1", "mine", 0.70, 0.01, sweep={"name": "s"}),
        record("other", "penguins", 0.97, 0.01),
        record("cur", "mine", 0.80, 0.02),
    ]
    best = sweeps.PointResult(1, {}, "p1", "ok", scores=sweeps.point_scores(runs[0]))
    verdict = sweeps.versus_current(best, runs, None)
    assert "run cur" in verdict and "worse than the current params" in verdict and "keep the current params" in verdict
    assert "within noise" in sweeps.versus_current(best, [runs[0], record("cur", "mine", 0.71, 0.02)], None)
    assert "beats" in sweeps.versus_current(best, [runs[0], record("cur", "mine", 0.60, 0.02)], None)
    assert "no run of the current params" in sweeps.versus_current(best, runs[:2], None)


def test_every_point_is_checked_before_anything_runs_naming_the_point_and_the_key(project):
    sweep = sweep_file(project, "profile: ci\npoints:\n  - {cv_folds: 3}\n  - {cv_folds: 4, lable: x}")
    with pytest.raises(ParamsError, match=r"s\.yaml point 2/2 \(cv_folds=4, lable=\"x\"\): unknown key 'lable'"):
        sweeps.check_sweep(sweep, project / "params")
    sweep = sweep_file(project, "points:\n  - {cv_folds: 3}\n  - {model: random_forrest}")
    with pytest.raises(ParamsError, match=r"s\.yaml point 2/2 \(model=\"random_forrest\"\): key 'model'"):
        sweeps.check_sweep(sweep, project / "params")
    # A check across keys (the label among the features) names the point too, not only the params file.
    sweep = sweep_file(project, "points:\n  - {cv_folds: 3}\n  - {label: island}")
    with pytest.raises(ParamsError, match=r"s\.yaml point 2/2 \(label=\"island\"\): .*island"):
        sweeps.check_sweep(sweep, project / "params")
    assert not (project / "reports").exists()


def test_a_value_scikit_learn_refuses_stops_the_sweep_before_anything_runs(project):
    point = "{model: random_forest, hyperparameters.max_depth: deep}"
    sweep = sweep_file(project, f"profile: ci\npoints:\n  - {{cv_folds: 3}}\n  - {point}")
    with pytest.raises(ParamsError) as caught:
        sweeps.check_sweep(sweep, project / "params")
    message = str(caught.value)
    assert 's.yaml point 2/2 (model="random_forest", hyperparameters.max_depth="deep")' in message
    assert "key 'hyperparameters' (random_forest)" in message and "'max_depth' parameter" in message
    assert "Got 'deep' instead" in message and message.count("point 2/2") == 1
    # A value one task's class takes is left to the check against the table (task: auto, criterion of a forest).
    point = "{model: random_forest, hyperparameters.criterion: entropy}"
    fine = sweep_file(project, f"profile: ci\npoints:\n  - {point}\n  - {{seed: 2}}")
    assert len(sweeps.check_sweep(fine, project / "params")) == 2
    assert not (project / "reports").exists()


def test_another_models_hyperparameter_makes_no_other_run_and_shows_as_not_applying(project):
    grid = (
        "grid:\n  model: [random_forest, hist_gradient_boosting]\n  hyperparameters.random_forest.max_depth: [2, 3]\n"
    )
    sweep = sweep_file(project, f"profile: ci\n{grid}")
    checked = sweeps.check_sweep(sweep, project / "params")
    trains = [stage_inputs(p, project / "notebooks", "same table")[1]["train"] for p in checked]
    assert trains[0] != trains[1], "the forest's depth changes the forest"
    assert trains[2] == trains[3], "but not the boosting model: one training for both points"
    assert checked[2].stages["train"].hyperparameters == checked[3].stages["train"].hyperparameters == {}
    key = "hyperparameters.random_forest.max_depth"
    assert [sweeps.applies(p, key) for p in checked] == [True, True, False, False]
    assert sweeps.applies(checked[2], "cv_folds") and sweeps.applies(checked[2], "hyperparameters.max_iter")
    auto = load_params(project / "params", "ci", {key: 2}, "p")
    assert sweeps.applies(auto, key), "model: auto may train the forest"
    # A key no file sets is the model's default, shown as such; one set to null is shown as null.
    assert sweeps.resolved(checked[0], "hyperparameters.l1_ratio") == sweeps.NOT_SET
    assert sweeps.resolved(checked[0], key) == 2 and sweeps.resolved(checked[0], "split_group") is None


def test_a_point_that_names_a_column_the_table_lacks_stops_the_sweep_before_anything_runs(project):
    sweep = sweep_file(project, "profile: ci\ngrid:\n  features: [[island, body_mass_g], [island, wingspan]]\n")
    folders = [project / f for f in ("params", "notebooks", "reports")]
    with pytest.raises(DataError, match=r"s\.yaml point 2/2 \(features=\[.*wingspan.*\]\): .*wingspan") as caught:
        sweeps.run_sweep(sweep, *folders)
    assert str(caught.value).count("point 2/2") == 1, "the point is named once"
    assert not (project / "reports" / "runs").exists() or not list((project / "reports" / "runs").glob("2*"))


def test_a_sweep_of_more_points_than_its_bound_asks_for_yes(project):
    sweep = sweep_file(project, "grid: {seed: [1, 2, 3], cv_folds: [3, 4, 5, 6, 7]}")
    with pytest.raises(ParamsError, match=r"15 points, more than 12: run it with --yes .* or set max_points: 15"):
        sweeps.check_sweep(sweep, project / "params")
    assert len(sweeps.check_sweep(sweep, project / "params", yes=True)) == 15
    bounded = sweep_file(project, "grid: {seed: [1, 2]}\nmax_points: 1")
    assert len(sweeps.check_sweep(bounded, project / "params", yes=True)) == 2


def test_the_same_point_twice_is_refused(project):
    sweep = sweep_file(project, "points: [{seed: 1}, {seed: 2}, {seed: 1}]")
    with pytest.raises(ParamsError, match="point 3/3 .*the same values as point 1"):
        sweeps.check_sweep(sweep, project / "params")


def test_the_best_point_is_the_best_cross_validated_score_in_the_tasks_direction():
    def result(point, cv, higher=True):
        scores = {"score": "s", "higher_is_better": higher, "cv_mean": cv, "cv_std": 0.0, "test": 0, "baseline": 0}
        return sweeps.PointResult(point, {}, f"run{point}", "ok", scores=scores)

    assert sweeps.best_point([result(1, 0.8), result(2, 0.9), result(3, 0.85)]).point == 2
    assert sweeps.best_point([result(1, 0.8, False), result(2, 0.9, False)]).point == 1
    failed = sweeps.PointResult(4, {}, None, "failed")
    assert sweeps.best_point([failed]) is None


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """A 2x2 sweep on penguins with the ci profile, after one `make report` of the current params."""
    project = tmp_path_factory.mktemp("sweep")
    for folder in ("params", "notebooks"):
        shutil.copytree(ROOT / folder, project / folder)
    write_yaml(
        project / "params" / "sweeps" / "grid.yaml",
        "profile: ci\ngrid:\n  model: [random_forest, hist_gradient_boosting]\n  cv_folds: [3, 4]\n",
    )
    assert run_cli(project, "report", "--profile", "ci", "--quiet") == 0
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = run_cli(project, "sweep", "grid", "--quiet")
    return project, code, out.getvalue()


def sweep_runs(project):
    """The sweep's runs, by point: points run side by side, so their run ids need not be in order."""
    runs = [json.loads(p.read_text()) for p in (project / "reports" / "runs").glob("2*/run.json")]
    return sorted((r for r in runs if r.get("sweep")), key=lambda r: r["sweep"]["point"])


@pytest.mark.slow
def test_a_two_by_two_sweep_runs_the_data_analysis_once_and_a_second_sweep_does_nothing(swept, capsys):
    project, code, out = swept
    assert code == 0
    runs = sweep_runs(project)
    assert len(runs) == 4
    statuses = [{s["stage"]: s["status"] for s in r["stages"]} for r in runs]
    assert [s["eda"] for s in statuses] == ["reused"] * 4  # the current params' run made it
    assert all(s["train"] == "ok" and s["evaluate"] == "ok" for s in statuses)
    assert [r["sweep"]["point"] for r in runs] == [1, 2, 3, 4]
    assert runs[3]["sweep"]["values"] == {"model": "hist_gradient_boosting", "cv_folds": 4}
    assert [r["provenance"]["params"]["train"]["cv_folds"] for r in runs] == [3, 4, 3, 4]
    # The summary shows only what varies, the scores as the runs recorded them, and the best point.
    header = out.splitlines()[0].split()
    assert header[:3] == ["#", "model", "cv_folds"] and "seed" not in header
    saved = json.loads((project / "reports" / "sweeps" / "grid.json").read_text())
    cv = [p["scores"]["cv_mean"] for p in saved["points"]]
    assert cv == [r["stages"][1]["metrics"]["cv_accuracy_mean"] for r in runs]
    best = max(range(4), key=lambda i: cv[i])
    assert f"Best: point {best + 1} (run {runs[best]['run_id']})" in out
    assert saved["best"] == best + 1
    assert "4 points (4 ran, 0 unchanged, 0 failed)" in out
    # The verdict compares the best point with the run of the current params (model: auto), against the spread.
    every = [json.loads(p.read_text()) for p in (project / "reports" / "runs").glob("2*/run.json")]
    (current,) = [r for r in every if not r.get("sweep")]
    mine = sweeps.point_scores(current)
    ours = saved["points"][best]["scores"]
    gain, spread = cv[best] - mine["cv_mean"], max(ours["cv_std"], mine["cv_std"])
    words = "more than the CV spread" if gain > spread else "within noise of the current params"
    assert words in out and current["run_id"] in saved["verdict"] and saved["verdict"] in out
    # Again: every point had run with the same inputs, so nothing runs and no run is added.
    assert run_cli(project, "sweep", "grid", "--quiet") == 0
    assert "4 points (0 ran, 4 unchanged, 0 failed)" in capsys.readouterr().out
    assert len(sweep_runs(project)) == 4
    # Once more: the results are the same, so the page and the index are not written again.
    written = {p: p.stat().st_mtime_ns for p in (project / "reports" / "sweeps").iterdir()}
    written[project / "reports" / "index.html"] = (project / "reports" / "index.html").stat().st_mtime_ns
    assert run_cli(project, "sweep", "grid", "--quiet") == 0
    assert {p: p.stat().st_mtime_ns for p in written} == written
    # The sweep's runs are the newest, but the current params have not changed: make report does nothing
    # and latest/ is their run again.
    assert run_cli(project, "report", "--profile", "ci", "--quiet") == 0
    assert f"up to date: nothing changed since run {current['run_id']}" in capsys.readouterr().out
    assert (project / "reports" / "latest").resolve().name == current["run_id"]


@pytest.mark.slow
def test_the_leaderboard_shows_the_varying_params_marks_the_best_and_links_what_exists(swept):
    project, _, _ = swept
    page = (project / "reports" / "sweeps" / "grid.html").read_text()
    saved = json.loads((project / "reports" / "sweeps" / "grid.json").read_text())
    head = page[page.index("<thead>") : page.index("</thead>")]
    assert "<th>model</th>" in head and '<th data-type="number">cv_folds</th>' in head and "seed" not in head
    assert page.count("★ best") == 1 and page.count('class="best"') == 1
    links = re.findall(r'href="([^"]+)"', page)
    assert len(links) == 4 + 3  # each point's findings, and three comparisons with the best
    best = saved["points"][saved["best"] - 1]["run_id"]
    others = [p["run_id"] for p in saved["points"] if p["run_id"] != best]
    compared = sorted(link for link in links if "compare/" in link)
    assert compared == sorted(f"../compare/{best}-vs-{o}.html" for o in others)  # the best is A, each time
    for link in links:
        assert (project / "reports" / "sweeps" / link).resolve().is_file(), link
    assert page.count("<svg") == 2  # the score against model and against cv_folds
    assert "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    index = (project / "reports" / "index.html").read_text()
    assert 'href="sweeps/grid.html"' in index and saved["verdict"][:40] in index


@pytest.mark.slow
def test_the_leaderboard_sorts_by_a_column_offline_in_a_browser(swept, browser):
    project, _, _ = swept
    saved = json.loads((project / "reports" / "sweeps" / "grid.json").read_text())
    context = browser.new_context(offline=True)
    page = context.new_page()
    problems = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("request", lambda r: r.url.startswith("file://") or problems.append(r.url))
    page.goto((project / "reports" / "sweeps" / "grid.html").as_uri())

    def first_column():
        return [int(t.split()[0]) for t in page.locator("#points tbody tr td:first-child").all_inner_texts()]

    assert first_column() == [1, 2, 3, 4]
    page.locator("#points th", has_text="cv accuracy").click()
    by_cv = sorted(saved["points"], key=lambda p: p["scores"]["cv_mean"])
    assert first_column() == [p["point"] for p in by_cv]
    page.locator("#points th", has_text="cv accuracy").click()
    # Descending, and points with the same score keep their order (a stable sort, not a reversal).
    assert first_column() == [p["point"] for p in sorted(saved["points"], key=lambda p: -p["scores"]["cv_mean"])]
    page.locator("#points th", has_text="cv_folds").click()  # numbers as numbers
    folds = [int(t) for t in page.locator("#points tbody tr td:nth-child(3)").all_inner_texts()]
    assert folds == sorted(folds)
    page.locator("#points th", has_text="model").click()
    models = page.locator("#points tbody tr td:nth-child(2)").all_inner_texts()
    assert models == sorted(models)
    context.close()
    assert not problems, problems


@pytest.mark.slow
def test_a_sweep_stopped_during_a_point_resumes_with_the_points_it_had_not_finished(project):
    write_yaml(project / "params" / "sweeps" / "seeds.yaml", "profile: ci\ngrid:\n  seed: [1, 2, 3]\n")
    sweep = sweeps.read_sweep(project / "params", "seeds")
    folders = [project / f for f in ("params", "notebooks", "reports")]

    def stop_in_the_third(message: str) -> None:
        if message.startswith("point 3/3") and "02-train: running" in message:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sweeps.run_sweep(sweep, *folders, echo=stop_in_the_third)
    runs = sorted((project / "reports" / "runs").glob("2*/run.json"))
    finished = {json.loads(p.read_text())["sweep"]["point"] for p in runs}
    assert finished and finished <= {1, 2}, "the third point's run, and any other unfinished one, is discarded"
    assert all(json.loads(p.read_text())["status"] == "ok" for p in runs)
    assert not list((project / "reports" / "runs").glob(".*.partial"))  # the stopped runs are discarded
    messages: list[str] = []
    results = sweeps.run_sweep(sweep, *folders, echo=messages.append)
    assert [r.reused for r in results] == [p in finished for p in (1, 2, 3)]
    assert [r.status for r in results] == ["ok", "ok", "ok"]
    assert len(list((project / "reports" / "runs").glob("2*/run.json"))) == 3
    ran = {int(m.split()[1].split("/")[0]) for m in messages if " · [" in m and ": running" in m}
    assert ran == {1, 2, 3} - finished, "only the unfinished points ran a notebook"


@pytest.mark.slow
def test_points_run_side_by_side_and_a_stage_they_share_runs_once(project):
    # No earlier run: both points need the data analysis, which one of them makes for both.
    sweep = sweep_file(project, "profile: ci\ngrid:\n  cv_folds: [3, 4]\n")
    messages: list[str] = []
    results = sweeps.run_sweep(sweep, *(project / f for f in ("params", "notebooks", "reports")), echo=messages.append)
    assert [r.status for r in results] == ["ok", "ok"]
    runs = sweep_runs(project)
    eda = [r["stages"][0] for r in runs]
    assert sorted(s["status"] for s in eda) == ["ok", "reused"], "the data analysis ran once"
    (made,) = [r["run_id"] for r, s in zip(runs, eda, strict=True) if s["status"] == "ok"]
    (reused,) = [s for s in eda if s["status"] == "reused"]
    assert reused["reused_from"] == made and reused["fingerprint"] == runs[0]["stages"][0]["fingerprint"]
    for run in runs:  # the reused stage's files are all there, as in any run
        folder = project / "reports" / "runs" / run["run_id"]
        assert (folder / "01-eda.html").is_file() and (folder / "artifacts" / "eda" / "metrics.json").is_file()
    # Side by side: the second point's training started before the first point's run ended.
    started = [
        next(i for i, m in enumerate(messages) if m.startswith(f"point {p}/2 · [2/3] 02-train: running"))
        for p in (1, 2)
    ]
    ended = [next(i for i, m in enumerate(messages) if m.startswith(f"point {p}/2 · run ")) for p in (1, 2)]
    assert started[1] < ended[0] and started[0] < ended[1], messages
    assert [r["provenance"]["params"]["train"]["cv_folds"] for r in runs] == [3, 4]
    # FORCE runs every stage again, and still once for both points: one makes it, the other reuses it.
    sweeps.run_sweep(sweep, *(project / f for f in ("params", "notebooks", "reports")), force=True, echo=print)
    forced = [r for r in sweep_runs(project) if r["run_id"] not in {run["run_id"] for run in runs}]
    assert len(forced) == 2 and sorted(r["stages"][0]["status"] for r in forced) == ["ok", "reused"]
    assert {r["stages"][0].get("reused_from") for r in forced} - {None} <= {r["run_id"] for r in forced}
    # The index names the run each compare.html compares with (points publish in any order).
    index = (project / "reports" / "index.html").read_text()
    assert all(r.get("compared_with") for r in forced), "both compared with the first sweep's runs"
    for run in [*runs, *forced]:
        if run.get("compared_with"):
            page = (project / "reports" / "runs" / run["run_id"] / "compare.html").read_text()
            assert run["compared_with"] in page and f"compared with {run['compared_with']}" in index


def test_a_profile_on_the_command_line_is_the_sweeps_unless_its_file_names_another(project):
    plain = sweep_file(project, "grid: {cv_folds: [3, 4]}")
    assert plain.profile is None and sweeps.with_profile(plain, "ci").profile == "ci"
    named = sweep_file(project, "profile: ci\ngrid: {cv_folds: [3, 4]}")
    assert sweeps.with_profile(named, "ci") == named and sweeps.with_profile(named, None) == named
    with pytest.raises(ParamsError, match="key 'profile' names profile 'ci', and PROFILE=bigquery was given"):
        sweeps.with_profile(named, "bigquery")


def test_a_failed_points_error_is_cut_to_one_readable_line():
    long = "ValueError: All the 5 fits failed. Traceback (most recent call last): " + "File x " * 200
    short = sweeps._shortened(long)
    assert len(short) == sweeps.ERROR_CHARACTERS and short.endswith("…") and short.startswith("ValueError: All")
    assert sweeps._shortened("ValueError: bad") == "ValueError: bad"


def test_a_point_is_compared_with_the_one_started_before_it_in_the_same_second():
    from bqlab.report.compare import previous_comparable

    data = {"data": {"table": "p.d.t", "label": "y", "task": "classification"}}
    first, second = (
        {"run_id": f"20261206T080000Z-{n}", "started": "2026-12-06T08:00:00+00:00", "provenance": data}
        | {"stages": [{"metrics": {"accuracy": 0.9}}]}
        for n in ("0a1b2c", "0f0000")
    )
    assert previous_comparable([second, first], second) is first
    assert previous_comparable([second, first], first) is None


def test_run_ids_sort_in_the_order_the_runs_started():
    from bqlab.runner.pipeline import new_run_id

    ids = []
    for _ in range(50):  # a millisecond apart: many in the same second
        ids.append(new_run_id())
        time.sleep(0.001)
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{6}", ids[0])


def test_a_failed_run_gives_the_stages_it_claimed_but_never_ran_back_to_the_other_points(tmp_path):
    from types import SimpleNamespace

    from bqlab.runner.pipeline import RunContext, _schedule
    from bqlab.runner.runs import StageResult
    from bqlab.runner.shared import Shared

    shared = Shared(slots=2, memory_mb=1000)
    assert shared.take_slot(600)  # another point's notebook is running
    kernels = SimpleNamespace(take=lambda: SimpleNamespace(pid=None), top_up=lambda: None)
    params = SimpleNamespace(runner=SimpleNamespace(parallel_notebooks=2))
    peaks = [{"stage": "eda", "peak_memory_mb": 2000}, {"stage": "train", "peak_memory_mb": 100}]
    folder = tmp_path / ".r1.partial"
    ctx = RunContext(params, {}, [{"run_id": "r0", "stages": peaks}], "r1", folder, tmp_path, tmp_path, kernels, print)
    ctx.shared = shared
    stages = [StageResult(s, f"{s}.ipynb", fingerprint=f"fp-{s}") for s in ("eda", "train", "evaluate")]

    def fails(result, kernel, behind, freed):
        result.status = "failed"

    # The data analysis is claimed but waits (2000 MB would pass the bound); the training runs and fails.
    failed = _schedule(ctx, stages, fails, {s.stage: s.stage for s in stages})
    assert failed is stages[1] and stages[0].status == "not run"
    assert shared.claim("fp-eda"), "the data analysis it never ran is the other points' to make (they waited for it)"
    assert shared.claim("fp-train") and shared.made("fp-train") is None


def test_the_shared_slots_bound_notebooks_by_count_and_memory():
    from bqlab.runner.shared import Made, Shared

    shared = Shared(slots=2, memory_mb=1000)
    assert shared.take_slot(800), "one notebook may always start"
    assert not shared.take_slot(300), "800 + 300 MB would pass the bound"
    assert shared.take_slot(200)
    assert not shared.take_slot(1), "two slots"
    shared.give_slot(800)
    assert shared.take_slot(700) and not shared.take_slot(1)
    alone = Shared(slots=2, memory_mb=100)
    assert alone.take_slot(5000), "however large, a notebook with nothing beside it starts"
    # A stage in flight is claimed once; once made, every other point takes it; a discarded run gives it back.
    assert shared.claim("f") and not shared.claim("f") and shared.made("f") is None
    made = Made(Path("p"), Path("f"), {"stage": "eda"}, "run-1")
    shared.finished("f", made)
    assert shared.made("f") == made and not shared.claim("f")
    shared.discarded("run-1")
    assert shared.made("f") is None and shared.claim("f")
    shared.finished("f", None)  # failed: the next point computes it itself
    assert shared.claim("f")


def test_a_points_check_status_carries_its_reason_to_the_terminal_and_the_page(project, monkeypatch):
    from bqlab.runner.pipeline import Outcome

    def fake_run(params_dir, notebooks_dir, reports_dir, **kwargs):
        point = kwargs["sweep"]["point"]
        status, reason = ("check", "no better than predicting always 'Adelie'") if point == 2 else ("ok", "")
        record = {"run_id": f"r{point}", "status": status, "check_reason": reason, "stages": []}
        return Outcome(record, reports_dir)

    monkeypatch.setattr(sweeps, "run_report", fake_run)
    monkeypatch.setattr(sweeps, "publish_results", lambda *args: None)
    sweep = sweep_file(project, "profile: ci\ngrid: {cv_folds: [3, 4]}")
    said = []
    results = sweeps.run_sweep(sweep, *(project / f for f in ("params", "notebooks", "reports")), echo=said.append)
    assert [r.error for r in results] == ["", "no better than predicting always 'Adelie'"]
    assert said[-1].endswith("run r2: check (no better than predicting always 'Adelie')") and said[-2].endswith(": ok")
    assert sweeps.results_body(sweep, results)["points"][1]["error"] == results[1].error, "the page shows it"
