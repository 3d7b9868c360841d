"""Which numeric features the figures show when a table has more than a handful.

The rule, stated in every data-analysis report: the ``max_plot_features`` numeric features most
associated with the label. For classes the association is the correlation ratio η² (the share
of a feature's variance that lies between the class means), from the per-class counts, means and
spreads computed in SQL; for a number it is |r|, the size of the Pearson correlation with the
label, computed in SQL (CORR). Ties go to the feature listed first in params.
"""

from collections.abc import Sequence

import numpy as np
import pandas as pd

from bqlab.analysis.aggregates import label_correlations
from bqlab.tasks import Task


def eta_squared(numeric_stats: pd.DataFrame, label: str) -> pd.Series:
    """Correlation ratio η² of each numeric column with the classes, from per-class aggregates.

    ``numeric_stats`` has per (column, class) the count, mean and std (``aggregates.numeric_summary``).
    """
    out = {}
    for column, rows in numeric_stats.groupby("column", sort=False):
        n, mean, std = (
            rows["count"].to_numpy(float),
            rows["mean"].to_numpy(float),
            rows["std"].fillna(0).to_numpy(float),
        )
        keep = n > 0
        n, mean, std = n[keep], mean[keep], std[keep]
        if n.sum() < 2:
            out[column] = float("nan")
            continue
        overall = (n * mean).sum() / n.sum()
        between = (n * (mean - overall) ** 2).sum()
        within = ((n - 1).clip(min=0) * std**2).sum()
        out[column] = float(between / (between + within)) if between + within > 0 else float("nan")
    return pd.Series(out, name="association", dtype="float64")


def strongest(association: pd.Series, features: Sequence[str], limit: int) -> list[str]:
    """Return at most ``limit`` of ``features`` by association (NaN last), in that order."""
    scores = association.reindex(list(features))
    ranked = sorted(range(len(features)), key=lambda i: (np.isnan(scores.iloc[i]), -np.nan_to_num(scores.iloc[i]), i))
    return [features[i] for i in ranked[:limit]]


def selection_note(chosen: Sequence[str], numeric: Sequence[str], task: Task) -> str:
    """One sentence saying which numeric features the figures show, and why (markdown)."""
    measure = "|r| with the label" if not task.classes else "the correlation ratio η² with the classes"
    if not numeric:
        return "There is no numeric feature: the tables describe the categorical ones."
    if len(chosen) >= len(numeric):
        return (
            "The figures show the one numeric feature."
            if len(numeric) == 1
            else (f"The figures show all {len(numeric)} numeric features.")
        )
    shown = ", ".join(f"`{c}`" for c in chosen)
    return (
        f"The figures show {len(chosen)} of the {len(numeric)} numeric features, those most associated "
        f"with the label ({measure}, computed in SQL): {shown}. Raise `max_plot_features` in "
        "params/01-eda.yaml to show more."
    )


def correlated_columns(numeric: Sequence[str], label: str, task: Task) -> list[str]:
    """The columns whose pairwise correlations the analysis computes: numeric features, and a numeric label."""
    return [*numeric, label] if not task.classes else list(numeric)


def plot_features(
    source, view, task: Task, numeric_stats: pd.DataFrame, label: str, numeric: Sequence[str], limit: int
) -> list[str]:
    """The numeric features the figures show: the ``limit`` most associated with the label (see module doc).

    For classes the association comes from ``numeric_stats`` (per-class aggregates from SQL);
    for a number, from one CORR per feature with the label, in SQL.
    """
    if not task.classes:
        association = label_correlations(source, view, label, numeric)
    else:
        association = eta_squared(numeric_stats, label)
    return strongest(association, numeric, limit)
