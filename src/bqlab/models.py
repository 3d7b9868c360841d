"""The model registry: every model params may name is one entry here, and nothing else lists them.

An entry gives the name params use, the words the reports use, the scikit-learn class of each
task it serves (as ``module:class`` text, so params are validated without importing
scikit-learn) and when to pick it. The params literal (``bqlab.config``), the findings' words,
the docs table (``docs/params.md``) and ``model: auto`` all read it; adding a model is one entry
here plus its tests. The constructor arguments of each class, read once from scikit-learn, are
kept per installed scikit-learn version in ``$XDG_CACHE_HOME/bqlab``: importing scikit-learn
costs about a second, and params are validated on every `make report` that is not a no-op; the
first time, they are read in a short process of their own, so the runner never holds scikit-learn.
"""

import difflib
import importlib
import inspect
import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from bqlab.project import read_cached, write_cached
from bqlab.tasks import AUTO, CLASSIFICATION, REGRESSION, Task
from bqlab.tasks import NAMES as TASKS

C, R = CLASSIFICATION.name, REGRESSION.name


@dataclass(frozen=True)
class Model:
    """One model params may name."""

    name: str
    words: str  # how the reports name it
    classes: Mapping[str, str]  # task name -> "module:Class"
    when: str  # when to pick it, for the docs table


MODELS: dict[str, Model] = {
    m.name: m
    for m in (
        Model(
            "logistic_regression",
            "logistic regression",
            {C: "sklearn.linear_model:LogisticRegression"},
            "a linear baseline whose weights can be read",
        ),
        Model(
            "ridge",
            "ridge regression (linear)",
            {R: "sklearn.linear_model:Ridge"},
            "a linear baseline whose weights can be read",
        ),
        Model(
            "random_forest",
            "random forest",
            {
                C: "sklearn.ensemble:RandomForestClassifier",
                R: "sklearn.ensemble:RandomForestRegressor",
            },
            "small tables; its size and time grow with rows times trees",
        ),
        Model(
            "gradient_boosting",
            "gradient boosting",
            {
                C: "sklearn.ensemble:GradientBoostingClassifier",
                R: "sklearn.ensemble:GradientBoostingRegressor",
            },
            "small tables, one core",
        ),
        Model(
            "hist_gradient_boosting",
            "histogram gradient boosting",
            {
                C: "sklearn.ensemble:HistGradientBoostingClassifier",
                R: "sklearn.ensemble:HistGradientBoostingRegressor",
            },
            "tables of thousands of rows and more: bins each feature, uses every core, stops early",
        ),
    )
}

# model: auto trains AUTO_SMALL below AUTO_ROWS training rows and AUTO_LARGE from there on. Measured on
# the generated 54,000-row table (bqlab.sources.synthetic.gem_table, 2 cores): a 300-tree forest fits
# in 38 s (price) and 13 s (cut) per fold, histogram boosting in 0.4 s and 1.5 s, with R² 0.967
# against 0.962 and accuracy 60.7 % against 59.8 %; at 5,000 rows the two score within a point.
AUTO_SMALL, AUTO_LARGE, AUTO_ROWS = "random_forest", "hist_gradient_boosting", 5_000
NAMES = (AUTO, *MODELS)


@dataclass(frozen=True)
class Choice:
    """The model a run trains, and why (``model: auto`` picks it from the training rows)."""

    name: str
    reason: str

    def __str__(self) -> str:
        return self.name


def choose(model: str, task: "str | Task", train_rows: int) -> Choice:
    """The model to train: the one params name, or for ``auto`` the registry's pick for the row count."""
    if model != AUTO:
        return Choice(model, "named in params (model)")
    if train_rows < AUTO_ROWS:
        return Choice(AUTO_SMALL, f"model: auto, and {train_rows:,} training rows are fewer than {AUTO_ROWS:,}")
    return Choice(
        AUTO_LARGE, f"model: auto, and {train_rows:,} training rows are {AUTO_ROWS:,} or more (fast on many rows)"
    )


def candidates(model: str) -> list[str]:
    """The models ``model`` may turn out to be: itself, or what ``auto`` may pick."""
    return [AUTO_SMALL, AUTO_LARGE] if model == AUTO else [model]


def unknown_model(model: str) -> str | None:
    """Say that ``model`` is not in the registry, with the closest name, or return None."""
    if model in NAMES:
        return None
    close = difflib.get_close_matches(model, NAMES, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown model {model!r}{hint}: use one of {', '.join(NAMES)}"


def estimator_class(task: "str | Task", model: str) -> Any:
    """The scikit-learn class of ``model`` for ``task`` (a task or its name; imports scikit-learn)."""
    module, _, name = MODELS[model].classes[str(task)].partition(":")
    return getattr(importlib.import_module(module), name)


def _tasks(task: "str | Task") -> list[str]:
    return list(TASKS) if str(task) == AUTO else [str(task)]


def served_tasks(model: str, task: "str | Task") -> list[str]:
    """The tasks among ``task`` ("auto": either) that ``model`` serves."""
    return [t for t in _tasks(task) if t in MODELS[model].classes]


def task_models(task: "str | Task") -> list[str]:
    """The models that serve ``task``."""
    return [name for name, m in MODELS.items() if str(task) in m.classes]


def model_problem(model: str, task: "str | Task") -> str | None:
    """Say why ``model`` cannot serve ``task`` ("auto": either task), or return None."""
    unknown = unknown_model(model)
    if unknown or model == AUTO:
        return unknown
    if any(t in MODELS[model].classes for t in _tasks(task)):
        return None
    other = next(iter(MODELS[model].classes))
    return f"model {model!r} is for {other}, and the task is {task}: use one of {', '.join(task_models(task))} or auto"


def _asked(function: str, payload: Any) -> Any:
    """``function(payload)`` of this module: here if scikit-learn is imported already, else in one short process.

    The runner then does not hold scikit-learn's memory (about 80 MB) for the rest of the run.
    Returns None when that process fails (the answer is then worked out where the model is made).
    """
    if "sklearn" in sys.modules:
        return globals()[function](payload)
    code = f"import json, sys; from bqlab.models import {function} as f; print(json.dumps(f(json.load(sys.stdin))))"
    done = subprocess.run([sys.executable, "-c", code], input=json.dumps(payload), capture_output=True, text=True)
    return None if done.returncode else json.loads(done.stdout)


def _arguments(_: Any = None) -> dict[str, dict[str, list[str]]]:
    """Every model's constructor arguments, per task, read from scikit-learn."""
    return {
        task: {model: sorted(inspect.signature(estimator_class(task, model)).parameters) for model in task_models(task)}
        for task in TASKS
    }


def _answers(keys: Sequence[str]) -> dict[str, Any]:
    """``_arguments`` and ``_value_problems(keys)``: both answers of a cold cache from one process."""
    return {"arguments": _arguments(), "values": _value_problems(keys)}


def _all_arguments(values: Sequence[str] = ()) -> dict[str, dict[str, list[str]]]:
    """Every model's constructor arguments, per task, for the installed scikit-learn (cached).

    On a cold cache, the process that reads them also checks the ``values`` keys not known yet
    (``_value_key``): a new machine then starts one process that imports scikit-learn, not two.
    """
    name = f"estimator-arguments-{metadata.version('scikit-learn')}-{len(MODELS)}.json"
    cached = read_cached(name)
    if isinstance(cached, dict) and all(m in cached.get(t, {}) for m in MODELS for t in MODELS[m].classes):
        return cached
    known = _known_values()
    missing = sorted(set(values) - set(known))
    answers = _asked("_answers", missing) if missing else None
    if answers:
        write_cached(_values_file(), known | answers["values"])
    found = answers["arguments"] if answers else _asked("_arguments", None) or _arguments()
    write_cached(name, found)
    return found


def hyperparameter_names(model: str, task: "str | Task" = AUTO, ahead: Sequence[str] = ()) -> set[str]:
    """Return the constructor arguments ``model`` accepts for ``task`` ("auto": for either task).

    ``ahead``: values checks (``values_ahead``) to ask along if scikit-learn must be asked.
    """
    arguments = _all_arguments(ahead)
    names: set[str] = set()
    for t in _tasks(task):
        names |= set(arguments[t].get(model, []))
    return names - {"random_state"}


def values_ahead(model: str, hyperparameters: Mapping[str, Any], task: "str | Task" = AUTO) -> list[str]:
    """The values checks ``value_problems`` asks once the table gives the task: each model ``model`` may train."""
    return [_value_key(m, t, settings_of(m, hyperparameters)) for m in candidates(model) for t in served_tasks(m, task)]


def _value_key(model: str, task: str, settings: Mapping[str, Any]) -> str:
    """The cache's key of a values check: ``[model, task, settings]`` as JSON."""
    return json.dumps([model, task, dict(settings)], sort_keys=True, default=str)


def _values_file() -> str:
    return f"estimator-values-{metadata.version('scikit-learn')}.json"


def _known_values() -> dict[str, str]:
    cached = read_cached(_values_file())
    return cached if isinstance(cached, dict) else {}


def _value_problems(keys: Sequence[str]) -> dict[str, str]:
    """``_value_problem`` of each key (``_value_key``)."""
    return {key: _value_problem(*json.loads(key)) for key in keys}


def _value_problem(model: str, task: str, settings: Mapping[str, Any]) -> str:
    """scikit-learn's own check of ``settings``' values for ``model`` on ``task``: its message, or ''."""
    try:
        estimator_class(task, model)(**settings)._validate_params()
    except (TypeError, ValueError) as err:  # InvalidParameterError is both
        return str(err).strip().splitlines()[0]
    return ""


def value_problems(checks: Sequence[tuple[str, Sequence[str], Mapping[str, Any]]]) -> list[str]:
    """For each (model, tasks, settings): why scikit-learn refuses the values for every one of the tasks, or ''.

    scikit-learn's parameter constraints decide (``max_depth: deep`` is refused before any work).
    The answers are kept per scikit-learn version, like the argument names; what is not known yet
    is asked of scikit-learn in one short process (``_asked``).
    """
    known = _known_values()
    keys = [[_value_key(model, task, settings) for task in tasks] for model, tasks, settings in checks]
    missing = sorted({k for row in keys for k in row} - set(known))
    if missing:
        answers = _asked("_value_problems", missing)
        if answers is None:  # the values are then checked where the model is made, as without this check
            return [""] * len(checks)
        known |= answers
        write_cached(_values_file(), known)
    # A value some task's class takes is the task's to check once the task is known (task: auto).
    # One refused by every task's class is named with the model's name, not the first task's class.
    problems = []
    for row, (model, tasks, _) in zip(keys, checks, strict=True):
        problem = "" if any(not known[k] for k in row) else known[row[0]]
        if len(tasks) > 1:
            for task in tasks:
                problem = problem.replace(MODELS[model].classes[task].partition(":")[2], model)
        problems.append(problem)
    return problems


def per_model(hyperparameters: Mapping[str, Any]) -> bool:
    """Whether ``hyperparameters`` are given per model (``{random_forest: {n_estimators: 300}}``)."""
    return bool(hyperparameters) and all(k in MODELS and isinstance(v, Mapping) for k, v in hyperparameters.items())


def settings_of(model: str, hyperparameters: Mapping[str, Any]) -> dict[str, Any]:
    """The hyperparameters that apply to ``model``: its own entry when given per model, else all of them."""
    if per_model(hyperparameters):
        return dict(hyperparameters.get(model, {}))
    return dict(hyperparameters)


def words(model: str) -> str:
    """How the reports name ``model``."""
    return MODELS[model].words if model in MODELS else model.replace("_", " ")


def docs_table() -> str:
    """The models as the Markdown table in ``docs/params.md`` (a test keeps the two equal)."""
    rows = ["| model | tasks | scikit-learn class | pick it for |", "| --- | --- | --- | --- |"]
    rows.append(
        f"| `{AUTO}` | both | {AUTO_SMALL} below {AUTO_ROWS:,} training rows, {AUTO_LARGE} from there on "
        "| the default: the choice and its reason are printed in the training report |"
    )
    for m in MODELS.values():
        classes = ", ".join(f"`{c.partition(':')[2]}`" for c in m.classes.values())
        rows.append(f"| `{m.name}` | {', '.join(m.classes)} | {classes} | {m.when} |")
    return "\n".join(rows)
