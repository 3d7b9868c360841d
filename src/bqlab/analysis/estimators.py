"""The models params may name, per task, and the settings each accepts, known without scikit-learn.

Params are validated on every `make report` that is not a no-op, often when no model is trained
(one evaluation setting changed): importing scikit-learn there costs about a second. So the
models are named here as ``module:class`` text, and the constructor arguments of each, read once
from scikit-learn, are kept per installed scikit-learn version in ``$XDG_CACHE_HOME/bqlab``.
"""

import importlib
import inspect
from importlib import metadata
from typing import Any

from bqlab.project import read_cached, write_cached

ESTIMATORS = {
    "classification": {
        "logistic_regression": "sklearn.linear_model:LogisticRegression",
        "random_forest": "sklearn.ensemble:RandomForestClassifier",
        "gradient_boosting": "sklearn.ensemble:GradientBoostingClassifier",
    },
    "regression": {
        "ridge": "sklearn.linear_model:Ridge",
        "random_forest": "sklearn.ensemble:RandomForestRegressor",
        "gradient_boosting": "sklearn.ensemble:GradientBoostingRegressor",
    },
}


def estimator_class(task: str, model: str) -> Any:
    """The scikit-learn class of ``model`` for ``task`` (imports scikit-learn)."""
    module, _, name = ESTIMATORS[task][model].partition(":")
    return getattr(importlib.import_module(module), name)


def _tasks(task: str) -> list[str]:
    return list(ESTIMATORS) if task == "auto" else [task]


def model_problem(model: str, task: str) -> str | None:
    """Say why ``model`` cannot serve ``task`` ("auto": either task), or return None."""
    if any(model in ESTIMATORS[t] for t in _tasks(task)):
        return None
    other = next(t for t in ESTIMATORS if model in ESTIMATORS[t])
    return f"model {model!r} is for {other}, and the task is {task}: use one of {', '.join(ESTIMATORS[task])}"


def _all_arguments() -> dict[str, dict[str, list[str]]]:
    """Every model's constructor arguments, per task, for the installed scikit-learn (cached)."""
    name = f"estimator-arguments-{metadata.version('scikit-learn')}.json"
    cached = read_cached(name)
    if isinstance(cached, dict):
        return cached
    found = {
        task: {model: sorted(inspect.signature(estimator_class(task, model)).parameters) for model in models}
        for task, models in ESTIMATORS.items()
    }
    write_cached(name, found)
    return found


def hyperparameter_names(model: str, task: str = "auto") -> set[str]:
    """Return the constructor arguments ``model`` accepts for ``task`` ("auto": for either task)."""
    arguments = _all_arguments()
    names: set[str] = set()
    for t in _tasks(task):
        names |= set(arguments[t].get(model, []))
    return names - {"random_state"}
