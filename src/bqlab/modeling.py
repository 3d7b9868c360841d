"""Models named in params: build, cross-validate, save and load (skops, never pickle)."""

import inspect
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import KFold, StratifiedKFold, cross_validate
from sklearn.pipeline import Pipeline

from bqlab.errors import PipelineError
from bqlab.features import build_preprocessor

MODELS: dict[str, dict[str, type[BaseEstimator]]] = {
    "classification": {
        "logistic_regression": LogisticRegression,
        "random_forest": RandomForestClassifier,
        "gradient_boosting": GradientBoostingClassifier,
    },
    "regression": {
        "ridge": Ridge,
        "random_forest": RandomForestRegressor,
        "gradient_boosting": GradientBoostingRegressor,
    },
}

# Types a saved model may contain; anything else in a file is refused on load.
_TRUSTED_PREFIXES = ("sklearn.", "numpy.", "builtins.", "collections.")


def _tasks(task: str) -> list[str]:
    return list(MODELS) if task == "auto" else [task]


def model_problem(model: str, task: str) -> str | None:
    """Say why ``model`` cannot serve ``task`` ("auto": either task), or return None."""
    if any(model in MODELS[t] for t in _tasks(task)):
        return None
    other = next(t for t in MODELS if model in MODELS[t])
    return f"model {model!r} is for {other}, and the task is {task}: use one of {', '.join(MODELS[task])}"


def hyperparameter_names(model: str, task: str = "auto") -> set[str]:
    """Return the constructor arguments ``model`` accepts for ``task`` ("auto": for either task)."""
    names = set()
    for t in _tasks(task):
        if model in MODELS[t]:
            names |= set(inspect.signature(MODELS[t][model]).parameters)
    return names - {"random_state"}


def build_pipeline(
    model: str,
    hyperparameters: Mapping[str, Any],
    seed: int,
    numeric: Sequence[str],
    categorical: Sequence[str],
    task: str = "classification",
) -> Pipeline:
    """Return the unfitted pipeline: preprocessing, then the task's model seeded from params."""
    estimator = MODELS[task][model](**hyperparameters)
    if "random_state" in estimator.get_params():
        estimator.set_params(random_state=seed)
    return Pipeline([("preprocess", build_preprocessor(numeric, categorical)), ("model", estimator)])


# Scores of each task: (column in the results, scikit-learn scorer, sign that makes it readable).
CV_SCORES = {
    "classification": [("accuracy", "accuracy", 1), ("macro_f1", "f1_macro", 1)],
    "regression": [
        ("rmse", "neg_root_mean_squared_error", -1),
        ("mae", "neg_mean_absolute_error", -1),
        ("r2", "r2", 1),
    ],
}


def cross_validate_pipeline(
    pipeline: Pipeline, x: pd.DataFrame, y: pd.Series, folds: int, seed: int, task: str = "classification"
) -> pd.DataFrame:
    """Return the task's scores of each fold: stratified folds for classes, shuffled folds for a number.

    The class counts are checked before this (``bqlab.analysis.targets.check_classes``).
    """
    if task == "classification":
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    else:
        splitter = KFold(n_splits=folds, shuffle=True, random_state=seed)
    scoring = {name: scorer for name, scorer, _ in CV_SCORES[task]}
    scores = cross_validate(pipeline, x, y, cv=splitter, scoring=scoring)
    return pd.DataFrame(
        {"fold": range(1, folds + 1), **{name: sign * scores[f"test_{name}"] for name, _, sign in CV_SCORES[task]}}
    )


def save_model(pipeline: Pipeline, path: str | Path, params=None) -> Path:
    """Write the fitted pipeline in skops format (no code runs when it is read back).

    ``params``, the training params, are saved beside it (``model.params.json``) so that an
    evaluation run by hand finds the model that matches its params.
    """
    import skops.io as sio  # imported here: it costs seconds, and params validation needs only MODELS

    from bqlab.analysis.session import MODEL_PARAMS_FILE, save_training_params

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_name(MODEL_PARAMS_FILE).unlink(missing_ok=True)  # never beside another model
    sio.dump(pipeline, path)
    if params is not None:
        save_training_params(path, params)
    return path


def load_model(path: str | Path) -> Pipeline:
    """Read a pipeline saved by ``save_model``, refusing types outside scikit-learn and numpy."""
    import skops.io as sio

    path = Path(path)
    if not path.is_file():
        raise PipelineError(f"model file not found: {path}; run the training notebook first")
    untrusted = sio.get_untrusted_types(file=path)
    refused = [t for t in untrusted if not t.startswith(_TRUSTED_PREFIXES)]
    if refused:
        raise PipelineError(f"model file {path} contains types that are not trusted: {refused}")
    return sio.load(path, trusted=untrusted)
