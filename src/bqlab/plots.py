"""Figures in one style: a colour-blind-safe palette, titles and labelled axes.

Every helper returns a figure already closed in pyplot: a notebook shows it by making it
the cell's last expression, and nothing is drawn twice.
"""

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

PALETTE = "colorblind"


def _figure(width: float = 8, height: float = 4.5, ncols: int = 1, nrows: int = 1) -> tuple[Figure, Any]:
    # Created through pyplot so the notebook's inline backend is set up to draw it, then
    # closed so that only the returned figure is shown.
    fig, axes = plt.subplots(nrows, ncols, squeeze=False, figsize=(width, height), layout="constrained")
    plt.close(fig)
    return fig, axes


_UNITS = {
    "mm": "mm",
    "cm": "cm",
    "m": "m",
    "km": "km",
    "g": "g",
    "kg": "kg",
    "s": "s",
    "ms": "ms",
    "pct": "%",
    "usd": "USD",
}


def axis_label(column: str) -> str:
    """Readable axis label with the unit a column name ends in ("body_mass_g" -> "body mass (g)")."""
    head, _, unit = str(column).rpartition("_")
    if head and unit.lower() in _UNITS:
        return f"{head.replace('_', ' ')} ({_UNITS[unit.lower()]})"
    return str(column).replace("_", " ")


def _short(labels) -> list[str]:
    """Shorten long class names for axis ticks ("Adelie Penguin (Pygoscelis adeliae)" -> "Adelie Penguin")."""
    return [str(v).split(" (")[0] for v in labels]


def class_balance(balance: pd.DataFrame, label: str) -> Figure:
    """Bar chart of rows per class."""
    fig, axes = _figure(7, 3.5)
    ax = axes[0, 0]
    colors = sns.color_palette(PALETTE, len(balance))
    ax.barh(_short(balance[label]), balance["rows"], color=colors)
    ax.set(title=f"Rows per {label}", xlabel="rows", ylabel=label)
    ax.invert_yaxis()
    return fig


def distributions_by_class(summary: pd.DataFrame, label: str) -> Figure:
    """Box plots of each numeric column per class, drawn from quartiles computed in SQL.

    Boxes span the quartiles with the median marked; whiskers reach the minimum and maximum
    (no outlier points: those would need the rows themselves).
    """
    columns = list(dict.fromkeys(summary["column"]))
    ncols = min(2, max(len(columns), 1))
    nrows = max(1, -(-len(columns) // ncols))
    fig, axes = _figure(5 * ncols, 3.2 * nrows, ncols, nrows)
    classes = sorted(dict.fromkeys(summary[label]), key=str)
    colors = dict(zip(classes, sns.color_palette(PALETTE, len(classes)), strict=True))
    for ax, column in zip(axes.flat, columns, strict=False):
        rows = summary[(summary["column"] == column) & summary["median"].notna()]
        stats = [
            {
                "label": _short([r[label]])[0],
                "whislo": r["min"],
                "q1": r["q1"],
                "med": r["median"],
                "q3": r["q3"],
                "whishi": r["max"],
                "fliers": [],
            }
            for _, r in rows.iterrows()
        ]
        if stats:
            boxes = ax.bxp(stats, orientation="horizontal", patch_artist=True, medianprops={"color": "black"})
            for box, (_, r) in zip(boxes["boxes"], rows.iterrows(), strict=True):
                box.set(facecolor=colors[r[label]], alpha=0.8)
            ax.invert_yaxis()
        else:
            ax.text(0.5, 0.5, "no values in any row", ha="center", va="center", transform=ax.transAxes)
        ax.set(title=f"{axis_label(column).split(' (')[0]} by {label}", xlabel=axis_label(column), ylabel="")
    for ax in list(axes.flat)[len(columns) :]:
        ax.set_visible(False)
    return fig


def pair_plot(frame: pd.DataFrame, label: str, numeric: Sequence[str]) -> Figure:
    """Scatter matrix of the numeric columns, coloured by class."""
    data = frame[[*numeric, label]].assign(**{label: _short(frame[label])}).rename(columns=axis_label)
    label = axis_label(label)
    grid = sns.pairplot(data, hue=label, palette=PALETTE, corner=True, height=2.0, plot_kws={"s": 12})
    grid.figure.suptitle(f"Pairwise relationships by {label}", y=1.02)
    plt.close(grid.figure)
    return grid.figure


def correlation_heatmap(corr: pd.DataFrame) -> Figure:
    """Heatmap of a correlation matrix, annotated with the coefficients."""
    fig, axes = _figure(6, 5)
    corr = corr.rename(index=axis_label, columns=axis_label)
    sns.heatmap(corr, annot=True, fmt=".2f", vmin=-1, vmax=1, cmap="vlag", square=True, ax=axes[0, 0])
    axes[0, 0].set(title="Pearson correlation of numeric columns")
    return fig


def cv_scores(scores: pd.DataFrame) -> Figure:
    """Per-fold cross-validated accuracy and macro F1."""
    fig, axes = _figure(7, 3.5)
    long = scores.melt(id_vars="fold", var_name="metric", value_name="score")
    sns.barplot(data=long, x="fold", y="score", hue="metric", palette=PALETTE, ax=axes[0, 0])
    axes[0, 0].set(title="Cross-validated scores per fold", xlabel="fold", ylabel="score (0-1)", ylim=(0, 1.05))
    return fig


def confusion_heatmap(confusion: pd.DataFrame) -> Figure:
    """Heatmap of the confusion matrix (counts)."""
    fig, axes = _figure(6, 4.5)
    shown = confusion.set_axis(_short(confusion.index), axis=0).set_axis(_short(confusion.columns), axis=1)
    sns.heatmap(shown, annot=True, fmt="d", cmap="Blues", cbar=False, ax=axes[0, 0])
    axes[0, 0].set(title="Confusion matrix (held-out rows)", xlabel="predicted class", ylabel="true class")
    return fig


def roc_plot(points: pd.DataFrame, areas: dict[str, float]) -> Figure:
    """One-vs-rest ROC curves with their AUC in the legend."""
    fig, axes = _figure(6, 4.5)
    ax = axes[0, 0]
    colors = sns.color_palette(PALETTE, max(len(areas), 1))
    for color, (cls, area) in zip(colors, areas.items(), strict=False):
        curve = points[points["class"] == cls]
        ax.plot(curve["fpr"], curve["tpr"], color=color, label=f"{_short([cls])[0]} (AUC {area:.3f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="chance")
    ax.set(title="ROC curves, one class against the rest", xlabel="false positive rate", ylabel="true positive rate")
    ax.legend(loc="lower right")
    return fig


def importance_bars(importance: pd.DataFrame) -> Figure:
    """Permutation importance of each feature, with its spread across repeats."""
    fig, axes = _figure(7, 0.5 * len(importance) + 1.5)
    ax = axes[0, 0]
    ax.barh(
        importance["feature"].map(axis_label),
        importance["importance_mean"],
        xerr=importance["importance_std"],
        color=sns.color_palette(PALETTE, 1)[0],
    )
    ax.invert_yaxis()
    ax.set(title="Permutation importance (drop in macro F1)", xlabel="drop in macro F1", ylabel="feature")
    return fig
