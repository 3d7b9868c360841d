"""The task objects: one per task, the only place a task's name is compared or its scores are listed."""

import ast
import json
import re

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score, get_scorer, mean_absolute_error, r2_score
from sklearn.metrics import root_mean_squared_error as rmse

from bqlab import tasks
from bqlab.analysis import evaluation, metrics, modeling
from bqlab.tasks import CLASSIFICATION, REGRESSION

from .conftest import ROOT


def _code_strings(tree: ast.AST) -> list[str]:
    """The string constants of ``tree`` that are not docstrings."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


def test_no_module_but_the_task_objects_names_a_task():
    """A task's name is written once (bqlab.tasks): modules and notebooks read what differs from the object."""
    found = []
    for path in sorted((ROOT / "src" / "bqlab").rglob("*.py")):
        if path.name != "tasks.py":
            found += [
                (path.name, s) for s in _code_strings(ast.parse(path.read_text(encoding="utf-8"))) if s in tasks.NAMES
            ]
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] == "code":
                code = "".join(cell["source"])
                found += [(path.name, n) for n in tasks.NAMES if re.search(rf"['\"]{n}['\"]", code)]
    assert not found, found


@pytest.mark.parametrize("task", tasks.TASKS.values(), ids=str)
def test_each_task_names_real_scorers_and_scores_it_computes(task):
    assert {task.main, task.checked, task.importance} <= {s.name for s in task.scores}
    for score in task.scores:
        get_scorer(score.scorer)  # scikit-learn knows it
        assert score.name in evaluation.SCORE_FUNCTIONS
    fields = metrics.EvaluateMetrics.model_fields
    for name in (*(s.name for s in task.scores), task.baseline):
        assert fields[name].json_schema_extra == {"only": task.name}, f"{name} is an evaluation field of {task}"


def test_the_scores_agree_with_scikit_learn_on_the_same_rows():
    rng = np.random.default_rng(3)
    y = pd.Series(rng.choice(["a", "b", "c"], 200))
    p = np.where(rng.random(200) < 0.7, y, rng.choice(["a", "b", "c"], 200))
    got = evaluation.headline_metrics(y, p, CLASSIFICATION)
    assert got == {"accuracy": round(accuracy_score(y, p), 4), "macro_f1": round(f1_score(y, p, average="macro"), 4)}
    v = pd.Series(rng.normal(10, 3, 200))
    q = v + rng.normal(0, 1, 200)
    got = evaluation.headline_metrics(v, q, REGRESSION)
    assert got == {
        "rmse": round(rmse(v, q), 4),
        "mae": round(mean_absolute_error(v, q), 4),
        "r2": round(r2_score(v, q), 4),
    }


def test_cross_validated_scores_are_the_scorers_values_made_readable():
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"num": rng.normal(size=120), "cat": rng.choice(["u", "v"], 120)})
    y = pd.Series(3 * x["num"] + rng.normal(0, 0.5, 120))
    pipeline = modeling.build_pipeline("ridge", {}, 0, ["num"], ["cat"], REGRESSION)
    scores = modeling.cross_validate_pipeline(pipeline, x, y, 3, 0, REGRESSION)
    assert list(scores.columns) == ["fold", "rmse", "mae", "r2"]
    assert (scores["rmse"] > 0).all() and (scores["mae"] > 0).all() and (scores["r2"] > 0.9).all(), "errors positive"


@pytest.mark.parametrize(
    "task, scores, better",
    [
        (CLASSIFICATION, {"accuracy": 0.8, "baseline_accuracy": 0.7}, True),
        (CLASSIFICATION, {"accuracy": 0.7, "baseline_accuracy": 0.7}, False),
        (REGRESSION, {"rmse": 2.0, "baseline_rmse": 3.0}, True),
        (REGRESSION, {"rmse": 3.5, "baseline_rmse": 3.0}, False),
        (REGRESSION, {"rmse": 3.5}, None),
    ],
)
def test_beating_the_baseline_follows_the_main_scores_direction(task, scores, better):
    assert task.beats_baseline(scores) is better


def test_a_task_is_found_by_name_and_a_misspelt_one_is_refused_with_the_closest():
    assert tasks.named("regression") is REGRESSION and tasks.named(CLASSIFICATION) is CLASSIFICATION
    decided = REGRESSION.with_reason("why")
    assert decided.reason == "why" and decided.name == REGRESSION.name and str(decided) == "regression"
    with pytest.raises(ValueError, match=r"unknown task 'clasification' \(did you mean 'classification'\?\)"):
        tasks.named("clasification")
