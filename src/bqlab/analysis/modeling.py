"""Models named in params: build, cross-validate, save and load (skops, never pickle).

Which models exist and which settings they take is the model registry, ``bqlab.models``, which
params validation reads without importing scikit-learn.
"""

import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold, cross_validate
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from bqlab import models
from bqlab.analysis.features import build_preprocessor
from bqlab.errors import PipelineError
from bqlab.sources import kinds
from bqlab.stages import MODEL_PARAMS_FILE
from bqlab.tasks import CLASSIFICATION, Task

choose_model = models.choose  # the model a run trains: the one params name, or auto's pick for the rows

# Types a saved model may contain; anything else in a file is refused on load.
_TRUSTED_PREFIXES = ("sklearn.", "numpy.", "builtins.", "collections.")


def build_pipeline(
    model: str,
    hyperparameters: Mapping[str, Any],
    seed: int,
    numeric: Sequence[str],
    categorical: Sequence[str],
    task: Task = CLASSIFICATION,
) -> Pipeline:
    """Return the unfitted pipeline: preprocessing, then the task's model seeded from params."""
    estimator = models.estimator_class(task, str(model))(**hyperparameters)
    if "random_state" in estimator.get_params():
        estimator.set_params(random_state=seed)
    return Pipeline([("preprocess", build_preprocessor(numeric, categorical)), ("model", estimator)])


def cross_validate_pipeline(
    pipeline: Pipeline,
    x: pd.DataFrame,
    y: pd.Series,
    folds: int,
    seed: int,
    task: Task = CLASSIFICATION,
    groups: pd.Series | None = None,
) -> pd.DataFrame:
    """Return the task's scores of each fold: stratified folds for classes, shuffled folds for a number.

    With ``groups`` (the split group of each row), a group's rows stay in one fold, as they stay on
    one side of the train/test split, so the CV scores predict the test score. The class counts
    are checked before this (``bqlab.analysis.targets.check_classes``).
    """
    if groups is not None:
        alone = pd.Series([f"\0row {i}" for i in range(len(groups))], index=groups.index)  # NULL: a group per row
        groups = groups.astype(str).where(groups.notna(), alone)
        splitter = (
            StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
            if task.classes
            else GroupKFold(n_splits=folds, shuffle=True, random_state=seed)
        )
    elif task.classes:
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    else:
        splitter = KFold(n_splits=folds, shuffle=True, random_state=seed)
    scoring = {s.name: s.scorer for s in task.scores}
    scores = cross_validate(pipeline, x, y, groups=groups, cv=splitter, scoring=scoring)
    return pd.DataFrame(
        {"fold": range(1, folds + 1), **{s.name: s.sign * scores[f"test_{s.name}"] for s in task.scores}}
    )


# Where the data and the cache live and the engine's resources: not what a model was trained on.
NOT_MATCHED = set(kinds.SETTINGS)


def training_params(train) -> dict[str, Any]:
    """The training params a model was made with, as saved beside it (no paths, no secrets)."""
    return train.model_dump(mode="json", exclude=NOT_MATCHED)


def save_training_params(model_file: str | Path, train) -> Path:
    """Write the training params beside a saved model, so a by-hand evaluation can match it."""
    path = Path(model_file).with_name(MODEL_PARAMS_FILE)
    path.write_text(json.dumps(training_params(train), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return path


def save_model(pipeline: Pipeline, path: str | Path, params=None) -> Path:
    """Write the fitted pipeline in skops format (no code runs when it is read back).

    ``params``, the training params, are saved beside it (``model.params.json``) so that an
    evaluation run by hand finds the model that matches its params.
    """
    # lazy: skops.io costs about 0.5 s; the EDA notebook imports this module and never saves or loads a model
    import skops.io as sio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_name(MODEL_PARAMS_FILE).unlink(missing_ok=True)  # never beside another model
    path.write_bytes(_same_bytes(sio.dumps(pipeline)))
    if params is not None:
        save_training_params(path, params)
    return path


def _same_bytes(archive: bytes) -> bytes:
    """The skops archive made reproducible: the same model is the same file, byte for byte.

    skops names each array's entry and keys each object by a memory address (``140155123744176.npy``,
    ``"__id__": 140155123744176``) and dates each entry with the time of saving, so a model trained
    again on the same rows with the same seed would differ by addresses and dates alone. Here
    entries and keys are numbered in their order in the schema (``0.npy``, ...; every reference
    renumbered alike) and dated 1980-01-01, so
    the run folders store such a model once (``bqlab.runner.blobs``). Deflated at level 1: a
    300-tree forest takes about a quarter of its stored size, for a fraction of a second.
    """
    with zipfile.ZipFile(io.BytesIO(archive)) as source:
        schema = json.loads(source.read("schema.json"))
        names: dict[str, str] = {}
        ids: dict[int, int] = {}

        def rename(node):
            if isinstance(node, dict):
                if isinstance(node.get("file"), str):
                    node["file"] = names.setdefault(node["file"], f"{len(names)}{Path(node['file']).suffix}")
                if isinstance(node.get("__id__"), int):  # skops's memo keys (addresses too): renumbered alike
                    node["__id__"] = ids.setdefault(node["__id__"], len(ids))
                for value in node.values():
                    rename(value)
            elif isinstance(node, list):
                for value in node:
                    rename(value)

        rename(schema)
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as target:
            entries = [(new, source.read(old)) for old, new in names.items()]
            for name, data in [*entries, ("schema.json", json.dumps(schema).encode())]:
                entry = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                entry.compress_type = zipfile.ZIP_DEFLATED
                target.writestr(entry, data, compresslevel=1)
    return out.getvalue()


def load_model(path: str | Path) -> Pipeline:
    """Read a pipeline saved by ``save_model``, refusing types outside scikit-learn and numpy."""
    import skops.io as sio  # lazy: see save_model

    path = Path(path)
    if not path.is_file():
        raise PipelineError(f"model file not found: {path}; run the training notebook first")
    untrusted = sio.get_untrusted_types(file=path)
    refused = [t for t in untrusted if not t.startswith(_TRUSTED_PREFIXES)]
    if refused:
        raise PipelineError(f"model file {path} contains types that are not trusted: {refused}")
    return sio.load(path, trusted=untrusted)


def _settings(estimator: BaseEstimator) -> str:
    """The estimator's settings that differ from scikit-learn's defaults (the ones params chose)."""
    defaults = type(estimator)().get_params()
    chosen = {k: v for k, v in estimator.get_params().items() if defaults.get(k) != v}
    return ", ".join(f"{k}={v}" for k, v in sorted(chosen.items())) or "scikit-learn's defaults"


def _short_list(values, limit: int = 8) -> str:
    values = [str(v) for v in values]
    return ", ".join(values[:limit]) + (f" and {len(values) - limit} more" if len(values) > limit else "")


def _learned_by_model(model: BaseEstimator, names: Sequence[str]) -> str:
    if hasattr(model, "estimators_") and hasattr(model, "n_estimators") and not hasattr(model, "n_estimators_"):
        depths = [tree.get_depth() for tree in model.estimators_]
        return f"{len(depths)} trees, {min(depths)} to {max(depths)} levels deep"
    if hasattr(model, "n_iter_"):  # histogram boosting: its iterations, fewer when it stopped early
        return f"{model.n_iter_} boosting iterations"
    if hasattr(model, "n_estimators_"):
        return f"{model.n_estimators_} boosting stages"
    if hasattr(model, "coef_"):
        weights = pd.Series(abs(model.coef_).reshape(-1, len(names)).max(axis=0), index=names)
        top = weights.sort_values(ascending=False).head(3)
        return "largest weights on " + ", ".join(f"{n} ({w:.2f})" for n, w in top.items()) + " (standardised)"
    return "fitted"


def describe(pipeline: Pipeline) -> pd.DataFrame:
    """The pipeline in words, one row per step, with what fitting learned once it is fitted.

    Shown instead of scikit-learn's diagram, which names only the classes of the unfitted steps.
    """
    try:
        check_is_fitted(pipeline)
        fitted = True
    except NotFittedError:
        fitted = False
    preprocess, model = pipeline.named_steps["preprocess"], pipeline.named_steps["model"]
    steps = preprocess.named_transformers_ if fitted else dict((n, t) for n, t, _ in preprocess.transformers)
    columns = {name: list(cols) for name, _, cols in preprocess.transformers}
    rows = []
    if columns.get("numeric"):
        numeric = columns["numeric"]
        what = "a missing value becomes the column's median; then standardised (mean 0, standard deviation 1)"
        if fitted:
            medians = steps["numeric"].named_steps["simpleimputer"].statistics_
            what += f"; medians learned: {_short_list(f'{c} {m:.4g}' for c, m in zip(numeric, medians, strict=True))}"
        rows.append(("numeric features", f"{len(numeric)}: {_short_list(numeric)}", what))
    if columns.get("categorical"):
        categorical = columns["categorical"]
        what = "a missing value becomes the most frequent one; then one column per value (one-hot)"
        if fitted:
            categories = steps["categorical"].named_steps["onehotencoder"].categories_
            learned = "; ".join(f"{c}: {_short_list(v, 5)}" for c, v in zip(categorical, categories, strict=True))
            what += f"; values learned: {learned}; a value not seen in training counts as none of them"
        rows.append(("categorical features", f"{len(categorical)}: {_short_list(categorical)}", what))
    known = {models.estimator_class(t, m.name): m.name for m in models.MODELS.values() for t in m.classes}
    what = f"{models.words(known.get(type(model), type(model).__name__))} ({_settings(model)})"
    if fitted:
        encoded = list(preprocess.get_feature_names_out())
        what += f"; learned: {_learned_by_model(model, encoded)}"
        if hasattr(model, "classes_"):
            what += f"; predicts {len(model.classes_)} classes"
        target = f"{len(encoded)} encoded columns"
    else:
        target = "the encoded columns"
    rows.append(("model", target, what))
    return pd.DataFrame(rows, columns=["step", "applies to", "what it does"])
