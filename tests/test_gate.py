"""The regression gate: the newest run's scores against a baseline run's, within a tolerance from the CV spread."""

import math

import pytest

from bqlab.config import RunnerParams
from bqlab.errors import ParamsError
from bqlab.report import gate

from .conftest import run_cli, write_yaml


def run(run_id, started, accuracy, cv, cv_std, table="t", task="classification"):
    data = {"table": table, "label": "y", "task": task}
    train = {"task": task, "cv_accuracy_mean": cv, "cv_accuracy_std": cv_std}
    evaluate = {"task": task, "accuracy": accuracy}
    return {
        "run_id": run_id,
        "started": started,
        "status": "ok",
        "provenance": {"data": data},
        "stages": [{"stage": "train", "metrics": train}, {"stage": "evaluate", "metrics": evaluate}],
    }


def test_a_score_worse_by_more_than_twice_the_cv_spread_is_a_regression():
    base, new = run("a", "1", 0.90, 0.90, 0.01), run("b", "2", 0.87, 0.885, 0.02)
    scores = {s.key: s for s in gate.gated_scores(base, new)}
    assert scores["accuracy"].tolerance == pytest.approx(2 * math.sqrt(0.01**2 + 0.02**2))  # of the difference
    assert not scores["accuracy"].regressed and not scores["cv_accuracy_mean"].regressed
    worse = {s.key: s for s in gate.gated_scores(base, run("b", "2", 0.85, 0.80, 0.02))}
    assert worse["accuracy"].regressed and worse["cv_accuracy_mean"].regressed
    assert "WORSE: evaluate accuracy 0.900 → 0.850" in worse["accuracy"].line()
    better = {s.key: s for s in gate.gated_scores(base, run("b", "2", 0.99, 0.99, 0.0))}
    assert not any(s.regressed for s in better.values())


def test_an_accuracy_on_few_test_rows_is_at_least_as_uncertain_as_a_share_of_them():
    base, new = run("a", "1", 1.0, 0.98, 0.001), run("b", "2", 0.965, 0.98, 0.001)
    for r in (base, new):
        r["stages"][1]["metrics"]["test_rows"] = 86
    (accuracy,) = [s for s in gate.gated_scores(base, new) if s.key == "accuracy"]
    binomial = math.sqrt(0.98 * 0.02 / 86)  # larger than the folds' 0.001
    assert accuracy.tolerance == pytest.approx(2 * math.sqrt(2) * binomial)
    assert not accuracy.regressed  # 3 more errors in 86 rows: within noise
    worse = run("b", "2", 0.90, 0.98, 0.001)
    worse["stages"][1]["metrics"]["test_rows"] = 86
    assert [s for s in gate.gated_scores(base, worse) if s.key == "accuracy"][0].regressed


def test_a_tolerance_in_params_replaces_the_spread_for_that_score():
    base, new = run("a", "1", 0.90, 0.90, 0.01), run("b", "2", 0.87, 0.885, 0.02)
    scores = {s.key: s for s in gate.gated_scores(base, new, {"accuracy": 0.01})}
    assert scores["accuracy"].regressed and scores["accuracy"].tolerance == 0.01
    assert "gate_tolerances.accuracy" in scores["accuracy"].why
    scores = {s.key: s for s in gate.gated_scores(base, new, {"cv_accuracy_mean": 0.0})}
    assert scores["cv_accuracy_mean"].regressed and not scores["accuracy"].regressed


def test_an_error_that_grows_is_a_regression():
    def reg(run_id, rmse, cv_std):
        data = {"table": "t", "label": "y", "task": "regression"}
        train = {"task": "regression", "cv_rmse_mean": rmse, "cv_rmse_std": cv_std}
        stages = [{"stage": "train", "metrics": train}, {"stage": "evaluate", "metrics": {"rmse": rmse}}]
        return {"run_id": run_id, "started": run_id, "status": "ok", "provenance": {"data": data}, "stages": stages}

    scores = {s.key: s for s in gate.gated_scores(reg("1", 10.0, 0.5), reg("2", 11.5, 0.5))}
    assert scores["rmse"].regressed and not scores["rmse"].higher_is_better
    assert not any(s.regressed for s in gate.gated_scores(reg("1", 10.0, 0.5), reg("2", 9.0, 0.5)))


def test_the_baseline_is_the_previous_comparable_run_or_the_one_named():
    runs = [run("c", "3", 0.9, 0.9, 0.01), run("b", "2", 0.9, 0.9, 0.01, table="other"), run("a", "1", 0.9, 0.9, 0.01)]
    assert [r["run_id"] for r in gate.pick_baseline(runs)] == ["a", "c"]
    with pytest.raises(ParamsError, match="differ in table, label or task"):
        gate.pick_baseline(runs, "b")
    with pytest.raises(ParamsError, match="BASE='z' names no run"):
        gate.pick_baseline(runs, "z")
    with pytest.raises(ParamsError, match="no earlier run of the same table"):
        gate.pick_baseline(runs[:1])
    runs.append(run("0", "0", 0.9, 0.9, 0.01))
    assert [r["run_id"] for r in gate.pick_baseline(runs, tagged="0")] == ["0", "c"], "the tagged baseline first"
    assert [r["run_id"] for r in gate.pick_baseline(runs, "a", tagged="0")] == ["a", "c"], "a named run over the tag"
    # A tag on another table, or on the newest run itself, leaves the previous comparable run.
    assert [r["run_id"] for r in gate.pick_baseline(runs, tagged="b")] == ["a", "c"]
    assert [r["run_id"] for r in gate.pick_baseline(runs, tagged="c")] == ["a", "c"]


def test_sweep_points_are_neither_the_newest_run_nor_the_default_baseline():
    points = [run(f"p{i}", f"5{i}", 0.5, 0.5, 0.01) | {"sweep": {"name": "s", "point": i}} for i in (2, 1)]
    runs = [*points, run("c", "3", 0.9, 0.9, 0.01), run("a", "1", 0.9, 0.9, 0.01)]
    assert [r["run_id"] for r in gate.pick_baseline(runs)] == ["a", "c"], "a sweep after make report changes nothing"
    assert [r["run_id"] for r in gate.pick_baseline(runs, "p1")] == ["p1", "c"], "a point counts when named"
    with pytest.raises(ParamsError, match="the finished runs are sweep points"):
        gate.pick_baseline(points)


def test_gate_tolerances_must_name_scores():
    assert RunnerParams(gate_tolerances={"accuracy": 0.02, "cv_rmse_mean": 1}).gate_tolerances["accuracy"] == 0.02
    with pytest.raises(ValueError, match=r"\['acuracy'\] are not scores"):
        RunnerParams(gate_tolerances={"acuracy": 0.02})
    with pytest.raises(ValueError):
        RunnerParams(gate_tolerances={"accuracy": -1})


@pytest.mark.slow
def test_the_gate_fails_a_worse_profile_and_passes_a_rerun_with_another_seed(project, capsys):
    assert run_cli(project, "report", "--profile", "ci", "--quiet") == 0
    write_yaml(
        project / "params" / "profiles" / "worse.yaml",
        "train:\n  model: random_forest\n  cv_folds: 3\n  hyperparameters: {n_estimators: 1, max_depth: 1}\n"
        "evaluate:\n  permutation_repeats: 2\n",
    )
    assert run_cli(project, "report", "--profile", "worse", "--quiet") == 0
    capsys.readouterr()
    assert run_cli(project, "compare", "--fail-on-regression") == 1
    out = capsys.readouterr().out
    assert "WORSE: evaluate accuracy" in out and "gate FAILED" in out
    baseline = sorted((project / "reports" / "runs").glob("2*"))[0].name
    write_yaml(
        project / "params" / "profiles" / "seed.yaml",
        "common:\n  seed: 7\n" + (project / "params" / "profiles" / "ci.yaml").read_text(),
    )
    assert run_cli(project, "report", "--profile", "seed", "--quiet") == 0
    capsys.readouterr()
    assert run_cli(project, "compare", "--fail-on-regression", "--a", baseline) == 0
    out = capsys.readouterr().out
    assert f"against {baseline} (named)" in out and "gate passed: 4 scores within their tolerance" in out
    # Tagged as the baseline, the first run is the gate's default (not the worse run just before).
    assert run_cli(project, "baseline", baseline[:15]) == 0
    assert f"baseline: run {baseline};" in capsys.readouterr().out
    assert run_cli(project, "compare", "--fail-on-regression") == 0
    assert f"against {baseline} (the tagged baseline)" in capsys.readouterr().out
    assert run_cli(project, "baseline", "1999") == 2
    assert "baseline: '1999' names 0 finished runs; the newest: " in capsys.readouterr().err
