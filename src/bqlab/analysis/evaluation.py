"""Model evaluation: held-out metrics, per-class and per-slice scores, importance, JSON output."""

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance
from sklearn.metrics import (
    accuracy_score,
    auc,
    confusion_matrix,
    f1_score,
    mean_absolute_error,
    precision_recall_fscore_support,
    r2_score,
    roc_curve,
    root_mean_squared_error,
)
from sklearn.pipeline import Pipeline

from bqlab.analysis.metrics import check_metrics
from bqlab.analysis.tables import EMPTY_NOTE
from bqlab.tasks import CLASSIFICATION, Task

# How each score of a task (``bqlab.tasks``) is computed on held-out rows.
SCORE_FUNCTIONS = {
    "accuracy": accuracy_score,
    "macro_f1": lambda y, p: f1_score(y, p, average="macro", zero_division=0),
    "rmse": root_mean_squared_error,
    "mae": mean_absolute_error,
    "r2": lambda y, p: r2_score(y, p) if len(y) > 1 else float("nan"),  # undefined on one row
}


def headline_metrics(y_true: pd.Series, y_pred: Sequence, task: Task = CLASSIFICATION) -> dict[str, float]:
    """Return the task's scores on the given rows: accuracy and macro F1 (classes); RMSE, MAE and R² (a number)."""
    return {s.name: round(float(SCORE_FUNCTIONS[s.name](y_true, y_pred)), 4) for s in task.scores}


def baseline(y_true: pd.Series, task: Task = CLASSIFICATION) -> dict[str, Any]:
    """What a model that learned nothing scores on the same rows: the bar a model must clear.

    Classes: always predicting the most frequent class (its accuracy is that class's share).
    A number: always predicting the mean (its RMSE is the spread of the values).
    """
    if not task.classes:
        values = y_true.astype("float64")
        return {task.baseline: round(float(((values - values.mean()) ** 2).mean() ** 0.5), 4)}
    counts = y_true.astype(str).value_counts(sort=False)
    top = counts.index[int(np.argmax(counts.to_numpy()))]  # the first of equally frequent classes
    return {task.baseline: round(float(counts[top] / max(len(y_true), 1)), 4), "baseline_class": top}


def per_class_table(y_true: pd.Series, y_pred: Sequence, classes: Sequence[str]) -> pd.DataFrame:
    """Return precision, recall, F1 and support of each class."""
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=list(classes), zero_division=0
    )
    return pd.DataFrame(
        {"class": list(classes), "precision": precision, "recall": recall, "f1": f1, "support": support.astype(int)}
    ).round(4)


def confusion_table(y_true: pd.Series, y_pred: Sequence, classes: Sequence[str]) -> pd.DataFrame:
    """Return the confusion matrix with true classes as rows and predictions as columns."""
    matrix = confusion_matrix(y_true, y_pred, labels=list(classes))
    return pd.DataFrame(matrix, index=pd.Index(classes, name="true"), columns=pd.Index(classes, name="predicted"))


def roc_curves(y_true: pd.Series, proba: np.ndarray, classes: Sequence[str]) -> tuple[pd.DataFrame, dict[str, float]]:
    """Return one-vs-rest ROC points of each class and the area under each curve."""
    frames, areas = [], {}
    for index, cls in enumerate(classes):
        positives = (np.asarray(y_true) == cls).astype(int)
        if positives.min() == positives.max():  # a class absent from (or alone in) the test set
            continue
        fpr, tpr, _ = roc_curve(positives, proba[:, index])
        areas[str(cls)] = round(float(auc(fpr, tpr)), 4)
        frames.append(pd.DataFrame({"class": str(cls), "fpr": fpr, "tpr": tpr}))
    points = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["class", "fpr", "tpr"])
    return points, areas


# At most this many distinct values for a categorical feature to be a slice under slice_columns: auto.
AUTO_SLICE_MAX_VALUES = 10


def auto_slice_columns(requested, frame: pd.DataFrame, categorical: Sequence[str]) -> list[str]:
    """Return the slice columns: those in params, or for "auto" the categorical features with few values.

    "auto" keeps the categorical features with at most ``AUTO_SLICE_MAX_VALUES`` distinct values
    among ``frame``'s rows (none if there are none).
    """
    if requested != "auto":
        return list(requested)
    return [c for c in categorical if 0 < frame[c].nunique(dropna=True) <= AUTO_SLICE_MAX_VALUES]


def slice_table(
    frame: pd.DataFrame, y_true: pd.Series, y_pred: Sequence, slice_columns: Sequence[str], task: Task = CLASSIFICATION
) -> pd.DataFrame:
    """Return rows and the task's headline metrics for every value of every slice column."""
    predictions = pd.Series(np.asarray(y_pred), index=frame.index)
    rows = []
    for column in slice_columns:
        groups = frame[column].astype(object).fillna("<missing>")
        for value, index in groups.groupby(groups).groups.items():
            rows.append(
                {
                    "slice": column,
                    "value": value,
                    "rows": len(index),
                    **headline_metrics(y_true[index], predictions[index], task),
                }
            )
    out = pd.DataFrame(rows, columns=["slice", "value", "rows", *(s.name for s in task.scores)])
    if out.empty:  # shown instead of an empty table (bqlab.analysis.tables)
        out.attrs[EMPTY_NOTE] = (
            "No slice: no slice column was given and no categorical feature has between 1 and "
            f"{AUTO_SLICE_MAX_VALUES} values; name columns under slice_columns in params/03-evaluate.yaml."
        )
    return out


def weakest_slice(slices: pd.DataFrame, task: Task = CLASSIFICATION) -> dict[str, Any] | None:
    """Return the slice value with the worst main score (accuracy; RMSE for a number), larger on a tie."""
    if slices.empty:
        return None
    score = task.score(task.main)
    row = slices.sort_values([score.name, "rows"], ascending=[score.higher_is_better, False], kind="stable").iloc[0]
    scores = {c: round(float(row[c]), 4) for c in slices.columns if c not in ("slice", "value", "rows")}
    return {"slice": str(row["slice"]), "value": str(row["value"]), "rows": int(row["rows"]), **scores}


def regression_points(y_true: pd.Series, y_pred: Sequence) -> pd.DataFrame:
    """Return actual, predicted and residual (actual - predicted) per held-out row."""
    actual = np.asarray(y_true, dtype="float64")
    predicted = np.asarray(y_pred, dtype="float64")
    return pd.DataFrame({"actual": actual, "predicted": predicted, "residual": actual - predicted})


def importance_table(
    pipeline: Pipeline,
    x: pd.DataFrame,
    y: pd.Series,
    repeats: int,
    seed: int,
    task: Task = CLASSIFICATION,
    max_rows: int | None = None,
) -> pd.DataFrame:
    """Return how much worse the model scores when each feature is shuffled (mean and spread).

    Macro F1 drops for classes; RMSE rises for a number (both shown as a positive loss). With
    ``max_rows`` (params: ``permutation_rows``) each repeat scores a random draw of that many
    held-out rows, so the cost stays bounded on a large test side; ``attrs["rows"]`` and
    ``attrs["of"]`` say how many rows of how many each repeat used.
    """
    scoring = task.score(task.importance).scorer
    rows = len(x) if max_rows is None else min(len(x), max_rows)
    result = permutation_importance(
        pipeline, x, y, n_repeats=repeats, random_state=seed, scoring=scoring, max_samples=max(rows, 1)
    )
    table = pd.DataFrame(
        {"feature": x.columns, "importance_mean": result.importances_mean, "importance_std": result.importances_std}
    )
    table = table.sort_values("importance_mean", ascending=False).round(4).reset_index(drop=True)
    table.attrs.update(rows=rows, of=len(x))
    return table


def read_metrics(path: str | Path) -> dict[str, Any]:
    """Read a stage's metrics.json (an upstream stage's, such as training's CV scores)."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def save_metrics(metrics: Mapping[str, Any], path: str | Path, stage: str | None = None) -> Path:
    """Write metrics as indented JSON (keys sorted, so runs diff cleanly).

    With ``stage``, the JSON is first checked against that stage's metrics model
    (``bqlab.analysis.metrics``): a misspelt or mistyped metric fails here, before it is written.
    """
    text = json.dumps(metrics, indent=2, sort_keys=True, default=str) + "\n"
    if stage is not None:
        check_metrics(stage, text)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def summarise_scores(scores: pd.DataFrame) -> dict[str, float]:
    """Return mean and standard deviation of each cross-validated score."""
    summary = {}
    for metric in (c for c in scores.columns if c != "fold"):
        summary[f"cv_{metric}_mean"] = round(float(scores[metric].mean()), 4)
        summary[f"cv_{metric}_std"] = round(float(scores[metric].std(ddof=1)), 4)
    return summary


def fold_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Each fold's scores, then their mean and standard deviation over the folds."""
    stats = scores.drop(columns="fold").agg(["mean", "std"]).reset_index(names="fold")
    return pd.concat([scores.astype({"fold": str}), stats], ignore_index=True)


def classes_of(pipeline: Pipeline) -> list:
    """The classes a fitted classifier predicts, sorted; empty for a regression model."""
    return list(getattr(pipeline, "classes_", []))


def error_details(task: Task, y_true: pd.Series, y_pred: Sequence, classes: Sequence) -> pd.DataFrame:
    """Per class: precision, recall, F1, support. For a number: the size of the errors, by quantile."""
    if task.classes:
        return per_class_table(y_true, y_pred, classes)
    errors = regression_points(y_true, y_pred)
    size = errors["residual"].abs()
    return pd.DataFrame(
        {
            "measure": ["median absolute error", "90th percentile absolute error", "largest absolute error", "bias"],
            "value": [size.median(), size.quantile(0.9), size.max(), -errors["residual"].mean()],
            "meaning": [
                "half the predictions are closer than this",
                "nine in ten predictions are closer than this",
                "the worst prediction",
                "mean of predicted - actual (0: no tendency to over- or under-predict)",
            ],
        }
    ).round({"value": 4})


def curves(task: Task, pipeline: Pipeline, x: pd.DataFrame, y_true: pd.Series, y_pred: Sequence):
    """ROC points and areas per class (classification), or actual/predicted/residual points (a number)."""
    if not task.classes:
        return regression_points(y_true, y_pred)
    return roc_curves(y_true, pipeline.predict_proba(x), classes_of(pipeline))


def evaluation_metrics(
    task: Task, headline: Mapping[str, float], details: pd.DataFrame, slices: pd.DataFrame, curve, test_rows: int
) -> dict[str, Any]:
    """The evaluation's metrics.json: headline scores, weakest class or error sizes, weakest slice."""
    metrics: dict[str, Any] = {**headline, "task": task.name, "test_rows": test_rows}
    metrics["weakest_slice"] = weakest_slice(slices, task)
    if not task.classes:
        metrics["errors"] = {row.measure: float(row.value) for row in details.itertuples()}
        return metrics
    metrics["roc_auc"] = curve[1]
    metrics["weakest_class"] = str(details.sort_values("f1", kind="stable")["class"].iloc[0])
    metrics["per_class"] = {
        str(r.cls): {
            "precision": float(r.precision),
            "recall": float(r.recall),
            "f1": float(r.f1),
            "support": int(r.support),
        }
        for r in details.rename(columns={"class": "cls"}).itertuples(index=False)  # rows keep each column's type
    }
    return metrics
