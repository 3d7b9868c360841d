import operator

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from bqlab import modeling
from bqlab.errors import PipelineError


@pytest.fixture
def xy():
    rng = np.random.default_rng(0)
    y = pd.Series(rng.choice(["a", "b"], 120))
    x = pd.DataFrame({"num": rng.normal(size=120) + (y == "a") * 3, "cat": rng.choice(["u", "v"], 120)})
    return x, y


@pytest.mark.parametrize("model", sorted(modeling.MODELS))
def test_every_model_builds_fits_and_is_seeded(model, xy):
    x, y = xy
    pipeline = modeling.build_pipeline(model, {}, 5, ["num"], ["cat"]).fit(x, y)
    assert (pipeline.predict(x) == y).mean() > 0.8
    estimator = pipeline.named_steps["model"]
    if "random_state" in estimator.get_params():
        assert estimator.random_state == 5


def test_hyperparameters_reach_the_estimator():
    pipeline = modeling.build_pipeline("random_forest", {"n_estimators": 7, "max_depth": 3}, 0, ["num"], [])
    assert (pipeline.named_steps["model"].n_estimators, pipeline.named_steps["model"].max_depth) == (7, 3)


def test_hyperparameter_names_exclude_the_seed():
    names = modeling.hyperparameter_names("logistic_regression")
    assert "C" in names and "max_iter" in names and "random_state" not in names


def test_cross_validation_returns_one_row_per_fold(xy):
    x, y = xy
    scores = modeling.cross_validate_pipeline(
        modeling.build_pipeline("logistic_regression", {}, 0, ["num"], ["cat"]), x, y, 4, 0
    )
    assert list(scores.columns) == ["fold", "accuracy", "macro_f1"]
    assert len(scores) == 4 and scores["accuracy"].between(0, 1).all()


def test_too_many_folds_for_the_rarest_class_says_what_to_change(xy):
    x, y = xy
    y = y.copy()
    y.iloc[:3] = "rare"
    y.iloc[3:] = y.iloc[3:].replace("rare", "a")
    with pytest.raises(PipelineError, match="rarest class has only 3 training rows: lower cv_folds"):
        modeling.cross_validate_pipeline(modeling.build_pipeline("random_forest", {}, 0, ["num"], ["cat"]), x, y, 5, 0)


def test_save_and_load_round_trip_predicts_the_same(tmp_path, xy):
    x, y = xy
    pipeline = modeling.build_pipeline("gradient_boosting", {"n_estimators": 20}, 0, ["num"], ["cat"]).fit(x, y)
    path = modeling.save_model(pipeline, tmp_path / "sub" / "model.skops")
    loaded = modeling.load_model(path)
    assert (loaded.predict(x) == pipeline.predict(x)).all()
    assert not path.read_bytes().startswith(b"\x80")  # not a pickle stream


def test_load_refuses_types_outside_sklearn_and_numpy(tmp_path, xy):
    x, y = xy
    pipeline = make_pipeline(FunctionTransformer(operator.neg), modeling.MODELS["logistic_regression"]())
    pipeline.fit(x[["num"]], y)
    path = modeling.save_model(pipeline, tmp_path / "model.skops")
    with pytest.raises(PipelineError, match="not trusted"):
        modeling.load_model(path)


def test_load_of_a_missing_file_says_to_train_first(tmp_path):
    with pytest.raises(PipelineError, match="run the training notebook first"):
        modeling.load_model(tmp_path / "model.skops")
