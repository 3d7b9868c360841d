import operator

import numpy as np
import pandas as pd
import pytest
from sklearn.base import is_regressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from bqlab import models
from bqlab.analysis import modeling
from bqlab.errors import PipelineError
from bqlab.tasks import REGRESSION


@pytest.fixture
def xy():
    rng = np.random.default_rng(0)
    y = pd.Series(rng.choice(["a", "b"], 120))
    x = pd.DataFrame({"num": rng.normal(size=120) + (y == "a") * 3, "cat": rng.choice(["u", "v"], 120)})
    return x, y


@pytest.mark.parametrize("model", models.task_models("classification"))
def test_every_classifier_builds_fits_and_is_seeded(model, xy):
    x, y = xy
    pipeline = modeling.build_pipeline(model, {}, 5, ["num"], ["cat"]).fit(x, y)
    assert (pipeline.predict(x) == y).mean() > 0.8
    estimator = pipeline.named_steps["model"]
    if "random_state" in estimator.get_params():
        assert estimator.random_state == 5


@pytest.mark.parametrize("model", models.task_models("regression"))
def test_every_regressor_builds_fits_and_is_seeded(model, xy):
    x, _ = xy
    y = 2.0 * x["num"] + (x["cat"] == "u") * 1.5
    pipeline = modeling.build_pipeline(model, {}, 5, ["num"], ["cat"], REGRESSION).fit(x, y)
    assert np.corrcoef(pipeline.predict(x), y)[0, 1] > 0.95
    assert is_regressor(pipeline.named_steps["model"])
    estimator = pipeline.named_steps["model"]
    if "random_state" in estimator.get_params():
        assert estimator.random_state == 5


def test_a_model_of_the_other_task_is_refused_with_the_choices():
    assert models.model_problem("logistic_regression", "regression") == (
        "model 'logistic_regression' is for classification, and the task is regression: "
        "use one of ridge, random_forest, gradient_boosting, hist_gradient_boosting or auto"
    )
    assert models.model_problem("ridge", "auto") is None
    assert models.model_problem("random_forest", "regression") is None


def test_hyperparameters_are_checked_against_the_tasks_estimator():
    assert "class_weight" in models.hyperparameter_names("random_forest", "classification")
    assert "class_weight" not in models.hyperparameter_names("random_forest", "regression")
    assert "class_weight" in models.hyperparameter_names("random_forest", "auto")


def test_hyperparameters_reach_the_estimator():
    pipeline = modeling.build_pipeline("random_forest", {"n_estimators": 7, "max_depth": 3}, 0, ["num"], [])
    assert (pipeline.named_steps["model"].n_estimators, pipeline.named_steps["model"].max_depth) == (7, 3)


def test_hyperparameter_names_exclude_the_seed():
    names = models.hyperparameter_names("logistic_regression")
    assert "C" in names and "max_iter" in names and "random_state" not in names


def test_cross_validation_returns_one_row_per_fold(xy):
    x, y = xy
    scores = modeling.cross_validate_pipeline(
        modeling.build_pipeline("logistic_regression", {}, 0, ["num"], ["cat"]), x, y, 4, 0
    )
    assert list(scores.columns) == ["fold", "accuracy", "macro_f1"]
    assert len(scores) == 4 and scores["accuracy"].between(0, 1).all()


def test_regression_cross_validation_reports_rmse_mae_and_r2_as_readable_numbers(xy):
    x, _ = xy
    y = 10.0 * x["num"]
    pipeline = modeling.build_pipeline("ridge", {}, 0, ["num"], ["cat"], REGRESSION)
    scores = modeling.cross_validate_pipeline(pipeline, x, y, 3, 0, REGRESSION)
    assert list(scores.columns) == ["fold", "rmse", "mae", "r2"]
    assert (scores["rmse"] > 0).all() and (scores["rmse"] >= scores["mae"]).all(), "errors are positive, RMSE >= MAE"
    assert (scores["r2"] > 0.99).all()


def test_save_and_load_round_trip_predicts_the_same(tmp_path, xy):
    x, y = xy
    pipeline = modeling.build_pipeline("gradient_boosting", {"n_estimators": 20}, 0, ["num"], ["cat"]).fit(x, y)
    path = modeling.save_model(pipeline, tmp_path / "sub" / "model.skops")
    loaded = modeling.load_model(path)
    assert (loaded.predict(x) == pipeline.predict(x)).all()
    assert not path.read_bytes().startswith(b"\x80")  # not a pickle stream


def test_load_refuses_types_outside_sklearn_and_numpy(tmp_path, xy):
    x, y = xy
    pipeline = make_pipeline(
        FunctionTransformer(operator.neg), models.estimator_class("classification", "logistic_regression")()
    )
    pipeline.fit(x[["num"]], y)
    path = modeling.save_model(pipeline, tmp_path / "model.skops")
    with pytest.raises(PipelineError, match="not trusted"):
        modeling.load_model(path)


def test_load_of_a_missing_file_says_to_train_first(tmp_path):
    with pytest.raises(PipelineError, match="run the training notebook first"):
        modeling.load_model(tmp_path / "model.skops")


def test_params_are_validated_without_importing_scikit_learn_or_pandas(tmp_path):
    import subprocess
    import sys

    from .conftest import ROOT

    code = (
        "import sys\nfrom bqlab.config import load_params\nload_params(sys.argv[1])\n"
        "print(sorted(m for m in ('sklearn', 'pandas') if m in sys.modules))"
    )
    env = {"XDG_CACHE_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    runs = [
        subprocess.run([sys.executable, "-c", code, str(ROOT / "params")], capture_output=True, text=True, env=env)
        for _ in range(2)
    ]
    assert all(r.returncode == 0 for r in runs), runs[0].stderr
    assert runs[0].stdout.strip() == "[]", "the first time, scikit-learn is read in a short process of its own"
    assert runs[1].stdout.strip() == "[]", "once the estimators' arguments are cached, no scikit-learn, no pandas"
    assert list(tmp_path.glob("bqlab/estimator-arguments-*.json")), "kept per scikit-learn version"


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_the_cached_arguments_are_the_estimators_own(task):
    import inspect

    for model in models.task_models(task):
        cls = models.estimator_class(task, model)
        assert models.hyperparameter_names(model, task) == set(inspect.signature(cls).parameters) - {"random_state"}


def test_the_same_model_trained_twice_is_the_same_file_and_compressed(tmp_path, xy):
    import skops.io as sio

    x, y = xy
    paths = [
        modeling.save_model(
            modeling.build_pipeline("random_forest", {"n_estimators": 20}, 3, ["num"], ["cat"]).fit(x, y),
            tmp_path / f"{i}" / "model.skops",
        )
        for i in range(2)
    ]
    first, second = (p.read_bytes() for p in paths)
    assert first == second, "skops names entries by memory address and dates them: both are made fixed"
    fitted = modeling.load_model(paths[0])
    assert (fitted.predict(x) == modeling.load_model(paths[1]).predict(x)).all()
    assert len(first) < len(sio.dumps(fitted)) / 2, "deflated"
