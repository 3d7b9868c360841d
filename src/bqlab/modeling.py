"""Models named in params: build, cross-validate, save and load (skops, never pickle)."""

import inspect
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_validate
from sklearn.pipeline import Pipeline

from bqlab.errors import PipelineError
from bqlab.features import build_preprocessor

MODELS: dict[str, type[BaseEstimator]] = {
    "logistic_regression": LogisticRegression,
    "random_forest": RandomForestClassifier,
    "gradient_boosting": GradientBoostingClassifier,
}

# Types a saved model may contain; anything else in a file is refused on load.
_TRUSTED_PREFIXES = ("sklearn.", "numpy.", "builtins.", "collections.")


def hyperparameter_names(model: str) -> set[str]:
    """Return the constructor arguments a model accepts as hyperparameters."""
    return set(inspect.signature(MODELS[model]).parameters) - {"random_state"}


def build_pipeline(
    model: str, hyperparameters: Mapping[str, Any], seed: int, numeric: Sequence[str], categorical: Sequence[str]
) -> Pipeline:
    """Return the unfitted pipeline: preprocessing, then the model seeded from params."""
    estimator = MODELS[model](**hyperparameters)
    if "random_state" in estimator.get_params():
        estimator.set_params(random_state=seed)
    return Pipeline([("preprocess", build_preprocessor(numeric, categorical)), ("model", estimator)])


def cross_validate_pipeline(pipeline: Pipeline, x: pd.DataFrame, y: pd.Series, folds: int, seed: int) -> pd.DataFrame:
    """Return accuracy and macro F1 of each stratified fold."""
    smallest = int(y.value_counts().min())
    if smallest < folds:
        raise PipelineError(
            f"cv_folds={folds} but the rarest class has only {smallest} training rows: "
            "lower cv_folds in params/02-train.yaml"
        )
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    scores = cross_validate(pipeline, x, y, cv=splitter, scoring=["accuracy", "f1_macro"])
    return pd.DataFrame(
        {"fold": range(1, folds + 1), "accuracy": scores["test_accuracy"], "macro_f1": scores["test_f1_macro"]}
    )


def save_model(pipeline: Pipeline, path: str | Path) -> Path:
    """Write the fitted pipeline in skops format (no code runs when it is read back)."""
    import skops.io as sio  # imported here: it costs seconds, and params validation needs only MODELS

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sio.dump(pipeline, path)
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
