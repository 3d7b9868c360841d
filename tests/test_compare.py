import base64
import json
import re

import pytest

from bqlab import cli
from bqlab.errors import ParamsError
from bqlab.report import compare as cmp
from bqlab.report.render import write_index
from bqlab.report.trends import sparkline, trends
from bqlab.runner.runs import load_runs
from bqlab.stages import key_metrics

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)

STAGE = {"status": "ok", "seconds": 4.0, "html": None, "findings_html": None, "error": None}


def _run(run_id, started, *, accuracy=0.95, rmse=None, table="p.d.t", task="classification", trees=300, rows=344):
    params = {"table": table, "label": "y", "hyperparameters": {"n_estimators": trees}, "features": ["a", "b"]}
    evaluate = {"accuracy": accuracy, "macro_f1": accuracy - 0.01, "test_rows": 69, "per_class": {"x": {"f1": 0.9}}}
    if rmse is not None:
        evaluate = {"rmse": rmse, "r2": 0.9, "test_rows": 69}
    return {
        "run_id": run_id,
        "started": started,
        "status": "ok",
        "seconds": 12.0,
        "profile": None,
        "provenance": {
            "git": {"commit": "abc", "dirty": False},
            "data": {"table": table, "label": "y", "task": task, "rows": rows, "content_sha256": "f" * 64},
            "params": {"train": params, "evaluate": {k: v for k, v in params.items() if k != "hyperparameters"}},
        },
        "stages": [
            {**STAGE, "stage": "eda", "notebook": "01-eda.ipynb", "metrics": {"rows": rows, "missing_cells": 3}},
            {**STAGE, "stage": "evaluate", "notebook": "03-evaluate.ipynb", "metrics": evaluate},
        ],
    }


def test_a_comparison_names_the_params_that_differ_and_which_scores_got_better_or_worse():
    a, b = _run("r1", "2026-01-01", accuracy=0.95), _run("r2", "2026-01-02", accuracy=0.97, trees=50, rows=400)
    c = cmp.compare(a, b)
    assert c.params == [("hyperparameters.n_estimators", "300", "50")], "nested params flattened, equal ones left out"
    verdicts = {(m.stage, m.key): m.verdict for m in c.metrics}
    assert verdicts[("evaluate", "accuracy")] == "better"
    assert verdicts[("evaluate", "per_class.x.f1")] == "same"
    assert verdicts[("eda", "rows")] == "changed", "a count has no better or worse"
    assert [m.key for m in c.key_changes()] == ["accuracy", "macro_f1"]
    assert ("rows", "344", "400", True) in c.facts() and ("table", "p.d.t", "p.d.t", False) in c.facts()
    lines = cmp.text_diff(c)
    assert lines[0] == "A r1  →  B r2"
    assert "  param hyperparameters.n_estimators: 300 → 50" in lines
    assert "  evaluate accuracy: 0.950 → 0.970 (+0.020, better)" in lines, "scores to three decimals"


@pytest.mark.parametrize(
    "key, sign",
    [
        ("accuracy", 1),
        ("cv_macro_f1_mean", 1),
        ("rmse", -1),
        ("cv_mae_mean", -1),
        ("rows", 0),
        ("roc_auc.Adelie", 1),
        ("per_class.recall.f1", 1),
        ("class_counts.a", 0),
        ("per_class.f1.support", 0),
    ],
)
def test_direction_of_each_kind_of_metric(key, sign):
    assert cmp.direction(key) == sign


def test_a_lower_error_is_better_and_a_metric_in_one_run_only_is_named():
    a, b = _run("r1", "1", rmse=10.0, task="regression"), _run("r2", "2", rmse=8.0, task="regression")
    b["stages"][1]["metrics"]["mae"] = 5.0
    verdicts = {m.key: m.verdict for m in cmp.compare(a, b).metrics}
    assert verdicts["rmse"] == "better" and verdicts["mae"] == "only in B"


def test_a_change_below_the_shown_precision_is_the_same_and_an_emptied_mapping_is_no_param_change():
    a, b = _run("r1", "1", accuracy=0.5961), _run("r2", "2", accuracy=0.5958)
    a["provenance"]["params"]["train"]["column_types"] = {}
    b["provenance"]["params"]["train"]["column_types"] = {"spend": "FLOAT64"}
    c = cmp.compare(a, b)
    verdicts = {m.key: m.verdict for m in c.metrics}
    assert verdicts["accuracy"] == "same", "0.596 and 0.596 read the same: neither better nor worse"
    assert c.key_changes() == []
    assert c.params == [("column_types.spend", "(not set)", "FLOAT64")], "not also column_types: (none) → (not set)"


def test_runs_of_other_tables_are_compared_with_a_warning_and_never_linked_as_previous():
    a, b = _run("r1", "1", table="p.d.other"), _run("r2", "2")
    c = cmp.compare(a, b)
    assert not c.comparable and "not comparable" in cmp.text_diff(c)[1]
    assert cmp.previous_comparable([b, a], b) is None
    older = _run("r0", "0")
    assert cmp.previous_comparable([b, a, older], b)["run_id"] == "r0"


def test_runs_are_picked_newest_by_default_or_by_id_or_a_unique_start_of_it():
    runs = [_run("20260103-c", "3"), _run("20260102-b", "2"), _run("20260101-a", "1")]
    assert [r["run_id"] for r in cmp.pick_runs(runs)] == ["20260102-b", "20260103-c"]
    assert [r["run_id"] for r in cmp.pick_runs(runs, "20260103", "20260101")] == ["20260101-a", "20260103-c"]
    with pytest.raises(ParamsError, match=r"run id 'nope' names no run; the newest runs: 20260103-c, 20260102-b"):
        cmp.pick_runs(runs, "nope")
    with pytest.raises(ParamsError, match="matches 3 runs"):
        cmp.pick_runs(runs, "2026")
    with pytest.raises(ParamsError, match="the same run"):
        cmp.pick_runs(runs, "20260101-a", "20260101-a")
    with pytest.raises(ParamsError, match="compare needs two runs and reports/ has 1"):
        cmp.pick_runs(runs[:1])


def _reports(tmp_path, *runs, figure=lambda run_id: PNG):
    for run in runs:
        folder = tmp_path / "runs" / run["run_id"]
        (folder / "figures" / "01-eda").mkdir(parents=True)
        (folder / "figures" / "01-eda" / "01-label.png").write_bytes(PNG)
        (folder / "figures" / "01-eda" / "02-pair-plot.png").write_bytes(figure(run["run_id"]))
        (folder / "run.json").write_text(json.dumps(run))
    return tmp_path


def test_the_compare_page_is_self_contained_with_figures_side_by_side_or_once_when_identical(tmp_path, capsys):
    a, b = _run("r1", "2026-01-01", accuracy=0.95), _run("r2", "2026-01-02", accuracy=0.90, trees=50)
    reports = _reports(tmp_path, a, b, figure=lambda run_id: PNG + run_id.encode())
    assert cli.main(["compare", "--reports-dir", str(reports)]) == 0
    out = capsys.readouterr().out
    assert "  evaluate accuracy: 0.950 → 0.900 (-0.050, worse)" in out
    page_path = reports / "compare" / "r1-vs-r2.html"
    assert f"comparison: {page_path}" in out
    page = page_path.read_text(encoding="utf-8")
    assert not re.search(r'(src|href)="(https?:)?//', page), "nothing loads from the network"
    assert page.count("data:image/png;base64,") == 3, "label figure once (identical), pair plot from each run"
    assert "1 figure the same in both runs: label" in page and "A: pair plot" in page and "B: pair plot" in page
    assert "<code>hyperparameters.n_estimators</code></td><td>300</td><td>50</td>" in page
    assert 'class="worse">worse</td>' in page


def test_compare_with_an_unknown_run_is_a_clear_error(tmp_path, capsys):
    reports = _reports(tmp_path, _run("r1", "1"), _run("r2", "2"))
    assert cli.main(["compare", "--reports-dir", str(reports), "--a", "r9"]) == 2
    assert "error: run id 'r9' names no run; the newest runs: r2, r1" in capsys.readouterr().err
    assert not (reports / "compare").exists(), "nothing written"


def test_the_index_shows_each_key_metric_over_the_comparable_runs_and_links_comparisons(tmp_path):
    runs = [_run("r1", "1", accuracy=0.90), _run("r2", "2", accuracy=0.95), _run("r3", "3", table="p.d.other")]
    reports = _reports(tmp_path, *runs)
    (reports / "runs" / "r2" / cmp.COMPARE_PAGE).write_text("<html></html>")
    groups = trends(list(reversed(runs)), key_metrics())
    assert [(g["table"], g["runs"]) for g in groups] == [("p.d.t", 2)], "a lone run of another table has no trend"
    accuracy = next(line for line in groups[0]["lines"] if line["title"] == "test accuracy")
    assert (accuracy["first"], accuracy["last"], accuracy["range"]) == ("0.900", "0.950", "0.900 to 0.950")
    assert "<title>test accuracy over 2 runs: 0.900, 0.950</title>" in accuracy["svg"]
    index = write_index(reports, load_runs(reports)).read_text(encoding="utf-8")
    assert '<a href="runs/r2/compare.html">compared with r1</a>' in index
    assert "runs/r1/compare.html" not in index and "runs/r3/compare.html" not in index
    assert index.count('<svg class="spark"') == len(groups[0]["lines"])


def test_a_sparkline_rises_with_its_values():
    svg = sparkline([1.0, 2.0, 3.0], "t")
    points = [tuple(map(float, p.split(","))) for p in re.search(r'points="([^"]+)"', svg).group(1).split()]
    assert points[0][1] > points[1][1] > points[2][1], "higher values are drawn higher (smaller y)"
    assert sparkline([5.0, 5.0], "flat").count("NaN") == 0
