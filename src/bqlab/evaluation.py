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
    precision_recall_fscore_support,
    roc_curve,
)
from sklearn.pipeline import Pipeline


def headline_metrics(y_true: pd.Series, y_pred: Sequence) -> dict[str, float]:
    """Return accuracy and macro F1 on the given rows."""
    return {
        "accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
        "macro_f1": round(float(f1_score(y_true, y_pred, average="macro", zero_division=0)), 4),
    }


def per_class_table(y_true: pd.Series, y_pred: Sequence, classes: Sequence[str]) -> pd.DataFrame:
    """Return precision, recall, F1 and support of each class."""
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=list(classes), zero_division=0
    )
    return pd.DataFrame(
        {"class": list(classes), "precision": precision, "recall": recall, "f1": f1, "support": support}
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
        frames.append(pd.DataFrame({"class": cls, "fpr": fpr, "tpr": tpr}))
    points = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["class", "fpr", "tpr"])
    return points, areas


def slice_table(frame: pd.DataFrame, y_true: pd.Series, y_pred: Sequence, slice_columns: Sequence[str]) -> pd.DataFrame:
    """Return rows, accuracy and macro F1 for every value of every slice column."""
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
                    **headline_metrics(y_true[index], predictions[index]),
                }
            )
    return pd.DataFrame(rows, columns=["slice", "value", "rows", "accuracy", "macro_f1"])


def weakest_slice(slices: pd.DataFrame) -> dict[str, Any] | None:
    """Return the slice value with the lowest accuracy (the larger one on a tie), or None."""
    if slices.empty:
        return None
    row = slices.sort_values(["accuracy", "rows"], ascending=[True, False], kind="stable").iloc[0]
    return {
        "slice": str(row["slice"]),
        "value": str(row["value"]),
        "rows": int(row["rows"]),
        "accuracy": round(float(row["accuracy"]), 4),
        "macro_f1": round(float(row["macro_f1"]), 4),
    }


def importance_table(pipeline: Pipeline, x: pd.DataFrame, y: pd.Series, repeats: int, seed: int) -> pd.DataFrame:
    """Return the drop in macro F1 when each feature is shuffled (mean and spread)."""
    result = permutation_importance(pipeline, x, y, n_repeats=repeats, random_state=seed, scoring="f1_macro")
    table = pd.DataFrame(
        {"feature": x.columns, "importance_mean": result.importances_mean, "importance_std": result.importances_std}
    )
    return table.sort_values("importance_mean", ascending=False).round(4).reset_index(drop=True)


def save_metrics(metrics: Mapping[str, Any], path: str | Path) -> Path:
    """Write metrics as indented JSON (keys sorted, so runs diff cleanly)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(metrics, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    return path


def summarise_scores(scores: pd.DataFrame) -> dict[str, float]:
    """Return mean and standard deviation of each cross-validated score."""
    summary = {}
    for metric in ("accuracy", "macro_f1"):
        summary[f"cv_{metric}_mean"] = round(float(scores[metric].mean()), 4)
        summary[f"cv_{metric}_std"] = round(float(scores[metric].std(ddof=1)), 4)
    return summary
