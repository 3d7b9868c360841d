"""The model registry (bqlab.models): the one list of models, auto's pick, settings per model."""

import ast
import re
import sys

import pytest

from bqlab import models
from bqlab.config import TrainParams

from .conftest import ROOT


def test_auto_picks_the_forest_below_the_row_bound_and_histogram_boosting_from_it():
    small = models.choose("auto", "regression", models.AUTO_ROWS - 1)
    large = models.choose("auto", "classification", models.AUTO_ROWS)
    assert (small.name, large.name) == ("random_forest", "hist_gradient_boosting")
    assert f"{models.AUTO_ROWS - 1:,} training rows are fewer than {models.AUTO_ROWS:,}" in small.reason
    assert f"{models.AUTO_ROWS:,} training rows are {models.AUTO_ROWS:,} or more" in large.reason
    assert models.choose("ridge", "regression", 10**6) == models.Choice("ridge", "named in params (model)")


def test_what_auto_may_pick_serves_both_tasks():
    for name in models.candidates("auto"):
        assert set(models.MODELS[name].classes) == set(models.TASKS)


def test_an_unknown_model_is_refused_with_the_closest_name_and_the_list():
    problem = models.model_problem("hist_gradient_bosting", "auto")
    assert problem.startswith("unknown model 'hist_gradient_bosting' (did you mean 'hist_gradient_boosting'?)")
    assert "auto, logistic_regression, ridge, random_forest" in problem
    with pytest.raises(ValueError, match="did you mean 'random_forest'"):
        TrainParams(table="my-project.lab.t", label="y", features=["a"], model="random_forrest")


def test_hyperparameters_per_model_apply_to_that_model_only():
    given = {"random_forest": {"n_estimators": 30}, "hist_gradient_boosting": {"max_iter": 50}}
    assert models.per_model(given) and not models.per_model({"n_estimators": 30})
    assert models.settings_of("hist_gradient_boosting", given) == {"max_iter": 50}
    assert models.settings_of("ridge", given) == {}
    assert models.settings_of("random_forest", {"n_estimators": 30}) == {"n_estimators": 30}


def test_auto_with_flat_hyperparameters_is_refused_and_per_model_ones_are_checked():
    common = {"table": "my-project.lab.t", "label": "y", "features": ["a"]}
    with pytest.raises(ValueError, match=r"with model: auto, give hyperparameters per model \({random_forest: "):
        TrainParams(**common, model="auto", hyperparameters={"n_estimators": 30})
    with pytest.raises(ValueError, match="unknown hyperparameter 'n_estimators' for model 'hist_gradient_boosting'"):
        TrainParams(**common, model="auto", hyperparameters={"hist_gradient_boosting": {"n_estimators": 30}})
    params = TrainParams(**common, model="auto", hyperparameters={"hist_gradient_boosting": {"max_iter": 40}})
    assert params.settings_for("hist_gradient_boosting") == {"max_iter": 40}
    assert params.settings_for("random_forest") == {}


def test_values_scikit_learn_refuses_are_named_once_asked_and_then_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delitem(sys.modules, "sklearn", raising=False)  # asked in a process of its own, as the runner does
    asked = [
        ("random_forest", ["classification"], {"max_depth": "deep"}),
        ("random_forest", ["classification"], {"max_depth": 3, "criterion": "entropy"}),
        ("random_forest", ["classification", "regression"], {"criterion": "entropy"}),  # the classifier takes it
        ("random_forest", ["regression"], {"criterion": "entropy"}),
        ("hist_gradient_boosting", ["regression"], {"learning_rate": -1}),
        ("random_forest", ["classification", "regression"], {"max_depth": "deep"}),  # either task: the model's name
    ]
    problems = models.value_problems(asked)
    assert "'max_depth' parameter of RandomForestClassifier must be" in problems[0] and "Got 'deep'" in problems[0]
    assert problems[1:3] == ["", ""]
    assert "'criterion' parameter of RandomForestRegressor" in problems[3]
    assert "'learning_rate' parameter of HistGradientBoostingRegressor" in problems[4]
    assert "'max_depth' parameter of random_forest must be" in problems[5] and "Classifier" not in problems[5]

    def no_process(*args, **kwargs):
        raise AssertionError("a value asked before is not asked again")

    monkeypatch.setattr(models.subprocess, "run", no_process)
    assert models.value_problems(asked) == problems


def test_a_cold_cache_asks_scikit_learn_once_for_the_names_and_the_values(tmp_path, monkeypatch):
    """A new machine: the process that reads the argument names also checks the values params give."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delitem(sys.modules, "sklearn", raising=False)  # asked in a process of its own, as the runner does
    started, run = [], models.subprocess.run

    def counted(*args, **kwargs):
        started.append(args[0])
        return run(*args, **kwargs)

    monkeypatch.setattr(models.subprocess, "run", counted)
    common = {"table": "my-project.lab.t", "label": "y", "features": ["a"]}
    hyperparameters = {"random_forest": {"n_estimators": 30, "max_depth": "deep"}}
    params = TrainParams(**common, model="auto", hyperparameters=hyperparameters)
    assert len(started) == 1, "the names, read once"
    # What the runner's table check asks once the task is known: each model auto may train.
    for task in ("classification", "regression"):
        checks = [(m, [task], params.settings_for(m)) for m in models.candidates(params.model)]
        problems = models.value_problems(checks)
        assert "'max_depth' parameter of RandomForest" in problems[0] and "Got 'deep'" in problems[0]
        assert problems[1] == ""
    assert len(started) == 1, "the values were checked in the same process as the names"
    TrainParams(**common, model="hist_gradient_boosting", hyperparameters={"max_iter": 40})
    assert models.value_problems([("hist_gradient_boosting", ["regression"], {"max_iter": 40})]) == [""]
    assert len(started) == 2, "a value not asked before: one more process (the names are kept)"


def test_the_docs_table_is_the_registry():
    text = (ROOT / "docs" / "params.md").read_text(encoding="utf-8")
    table = re.search(r"<!-- models table: begin -->\n(.*?)\n<!-- models table: end -->", text, re.S)
    assert table and table.group(1) == models.docs_table()
    assert all(f"`{name}`" in table.group(1) for name in models.NAMES)


def test_no_module_but_the_registry_names_a_model():
    """A model's name is written once: in bqlab.models (the default params may name them too)."""
    names = set(models.MODELS)
    found = []
    for path in sorted((ROOT / "src" / "bqlab").rglob("*.py")):
        if path.name == "models.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names:
                found.append((path.name, node.value))
    assert not found, found
