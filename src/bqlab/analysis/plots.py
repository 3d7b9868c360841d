"""Figures in one style: a colour-blind-safe palette, titles and labelled axes.

Every helper returns a figure already closed in pyplot: a notebook shows it by making it
the cell's last expression, and nothing is drawn twice.
"""

import sys
from collections.abc import Sequence
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.container import BarContainer
from matplotlib.figure import Figure

from bqlab.analysis.aggregates import MISSING_CLASS, SQL_CORRELATION_MAX_COLUMNS, correlation_matrix
from bqlab.analysis.evaluation import confusion_table, regression_points
from bqlab.analysis.tables import unit
from bqlab.tasks import CLASSIFICATION, Task

PALETTE = "colorblind"


def _figure(width: float = 8, height: float = 4.5, ncols: int = 1, nrows: int = 1) -> tuple[Figure, Any]:
    # Created through pyplot so the notebook's inline backend is set up to draw it, then
    # closed so that only the returned figure is shown.
    fig, axes = plt.subplots(nrows, ncols, squeeze=False, figsize=(width, height), layout="constrained")
    plt.close(fig)
    return fig, axes


def note_figure(title: str, text: str) -> Figure:
    """A small figure that says why there is nothing to draw (so every figure slot shows something)."""
    fig, axes = _figure(6, 1.6)
    ax = axes[0, 0]
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
    ax.set(title=title, xticks=[], yticks=[])
    return fig


def describe(fig: Figure) -> str:
    """Alternative text for a figure, written from its titles and what each panel draws."""
    panels = []
    for ax in fig.axes:
        if not ax.get_visible() or not (ax.has_data() or ax.texts):
            continue
        if ax.images or ax.collections and type(ax.collections[0]).__name__ == "QuadMesh":
            kind = "heatmap"
        elif any(isinstance(c, BarContainer) for c in ax.containers):
            kind = "bar chart"
        elif ax.collections:
            kind = "scatter plot"
        elif ax.patches:
            kind = "box plot"
        elif ax.get_lines():
            kind = "line chart"
        else:
            kind = "note: " + " ".join(t.get_text() for t in ax.texts)
        y, x = ax.get_ylabel(), ax.get_xlabel()
        axes = f" of {y} by {x}" if y and x else f" by {x}" if x else f" of {y}" if y else ""
        panels.append(" ".join(p for p in (ax.get_title(), f"({kind}{axes})") if p))
    suptitle = getattr(fig, "_suptitle", None)  # matplotlib keeps the figure title here, untyped
    title = suptitle.get_text() if suptitle else ""
    shown = panels[:6] + ([f"and {len(panels) - 6} more panels"] if len(panels) > 6 else [])
    return ": ".join(p for p in (title, "; ".join(shown)) if p) or "figure"


def show_descriptions() -> None:
    """In IPython, give every displayed figure its description (``describe``) as the PNG's alt text.

    The reports' template writes it into the image's ``alt`` attribute.
    """
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    if shell is None:
        return
    formatter = shell.display_formatter.formatters["image/png"]
    try:
        draw = formatter.lookup_by_type(Figure)
    except KeyError:  # the backend registers its figure display when it loads: load it now
        plt.switch_backend(matplotlib.get_backend())
        try:
            draw = formatter.lookup_by_type(Figure)
        except KeyError:  # a backend that displays no figure in the notebook
            return
    if getattr(draw, "describes", False):
        return

    def with_alt(fig):
        data = draw(fig)
        return (data, {"alt": describe(fig)}) if data is not None else None

    with_alt.describes = True  # type: ignore[attr-defined]  # marks the wrapper, so it is never wrapped twice
    formatter.for_type(Figure, with_alt)


def axis_label(column: str) -> str:
    """Readable axis label with the unit a column name ends in ("body_mass_g" -> "body mass (g)")."""
    suffix = unit(column)
    if suffix:
        return f"{str(column).rpartition('_')[0].replace('_', ' ')} ({suffix})"
    return str(column).replace("_", " ")


def _short(labels) -> list[str]:
    """Shorten long class names for axis ticks ("Adelie Penguin (Pygoscelis adeliae)" -> "Adelie Penguin")."""
    return [str(v).split(" (")[0] for v in labels]


MISSING_COLOR = (0.6, 0.6, 0.6)


def class_colors(classes) -> dict[str, Any]:
    """One colour per class for every figure of a run: fixed by the sorted class values.

    Keys are the classes as text (``str(value)``), so 1, "1" and True-as-"True" match across
    figures; a missing label (``<missing>``) is grey.
    """
    names = sorted({str(c) for c in classes} - {MISSING_CLASS})
    palette = sns.color_palette(PALETTE, max(len(names), 1))
    return {MISSING_CLASS: MISSING_COLOR} | {name: palette[i % len(palette)] for i, name in enumerate(names)}


def class_balance(balance: pd.DataFrame, label: str) -> Figure:
    """Bar chart of rows per class."""
    fig, axes = _figure(7, 3.5)
    ax = axes[0, 0]
    palette = class_colors(balance[label])
    ax.barh(_short(balance[label]), balance["rows"], color=[palette[str(v)] for v in balance[label]])
    ax.set(title=f"Rows per {label}", xlabel="rows", ylabel=label)
    ax.invert_yaxis()
    return fig


def distributions_by_class(summary: pd.DataFrame, label: str) -> Figure:
    """Box plots of each numeric column per class, drawn from quartiles computed in SQL.

    Boxes span the quartiles with the median marked; whiskers reach the minimum and maximum
    (no outlier points: those would need the rows themselves).
    """
    if summary.empty:
        return note_figure("Distributions", "no numeric feature to draw")
    grouped = label in summary.columns  # per class; without the label column, over all rows (regression)
    if not grouped:
        summary = summary.assign(**{label: ""})
    columns = list(dict.fromkeys(summary["column"]))
    ncols = min(2, max(len(columns), 1))
    nrows = max(1, -(-len(columns) // ncols))
    fig, axes = _figure(5 * ncols, 3.2 * nrows, ncols, nrows)
    palette = class_colors(summary[label])
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
                box.set(facecolor=palette[str(r[label])], alpha=0.8)
            ax.invert_yaxis()
        else:
            ax.text(0.5, 0.5, "no values in any row", ha="center", va="center", transform=ax.transAxes)
        name = axis_label(column).split(" (")[0]
        ax.set(title=f"{name} by {label}" if grouped else name, xlabel=axis_label(column), ylabel="")
    for ax in list(axes.flat)[len(columns) :]:
        ax.set_visible(False)
    return fig


def label_histogram(values: pd.Series, label: str) -> Figure:
    """Histogram of a numeric label (from the bounded SQL sample)."""
    fig, axes = _figure(7, 3.5)
    ax = axes[0, 0]
    numbers = pd.to_numeric(values, errors="coerce").dropna()
    ax.hist(numbers, bins=min(40, max(5, numbers.nunique())), color=sns.color_palette(PALETTE, 1)[0])
    ax.set(title=f"Distribution of {axis_label(label)} ({len(numbers):,} sampled rows)", xlabel=axis_label(label))
    ax.set(ylabel="rows")
    return fig


# Scatter points without edges (drawing the edges was a third of a pair plot's time).
SCATTER = {"s": 12, "linewidth": 0, "rasterized": True}


def pair_plot(
    frame: pd.DataFrame, label: str, numeric: Sequence[str], task: Task = CLASSIFICATION, table_rows: int | None = None
) -> Figure:
    """Scatter matrix of the numeric columns: coloured by class, or with a numeric label as one more variable.

    The title says which rows are drawn: all of them, or a sample of how many of ``table_rows``.
    """
    rows = (
        f"all {len(frame):,} rows"
        if table_rows is None or len(frame) >= table_rows
        else (f"a sample of {len(frame):,} of {table_rows:,} rows")
    )
    if not numeric:
        return note_figure("Pairwise relationships", "no numeric feature to draw")
    if not task.classes:
        data = frame[[*numeric, label]].astype("float64").rename(columns=axis_label)
        grid = sns.pairplot(data, corner=True, height=2.0, plot_kws=SCATTER)
        grid.figure.suptitle(f"Pairwise relationships with {axis_label(label)}, {rows}", y=1.02)
    else:
        palette = class_colors(frame[label].dropna())
        names = [n for n in palette if n in set(frame[label].dropna().astype(str))]
        shown = dict(zip(_short(names), (palette[n] for n in names), strict=True))  # legend in class order
        data = frame[[*numeric, label]].assign(**{label: _short(frame[label])}).rename(columns=axis_label)
        label = axis_label(label)
        grid = sns.pairplot(
            data, hue=label, hue_order=list(shown), palette=shown, corner=True, height=2.0, plot_kws=SCATTER
        )
        grid.figure.suptitle(f"Pairwise relationships by {label}, {rows}", y=1.02)
    plt.close(grid.figure)
    return grid.figure


def correlation_heatmap(corr: pd.DataFrame) -> Figure:
    """Heatmap of a correlation matrix, annotated with the coefficients."""
    size = max(6, 0.45 * len(corr))
    fig, axes = _figure(size, size * 0.85)
    corr = corr.rename(index=axis_label, columns=axis_label)
    annotate = len(corr) <= 12
    sns.heatmap(corr, annot=annotate, fmt=".2f", vmin=-1, vmax=1, cmap="vlag", square=True, ax=axes[0, 0])
    axes[0, 0].set(title="Pearson correlation of numeric columns")
    return fig


STRONGEST_PAIRS = 20


def correlation_overview(pairs: pd.DataFrame, numeric: Sequence[str]) -> Figure | pd.DataFrame:
    """A heatmap of the correlations, or for a wide table the strongest pairs.

    Up to ``SQL_CORRELATION_MAX_COLUMNS`` (30) numeric columns: the heatmap. More: a table of the
    ``STRONGEST_PAIRS`` pairs with the largest |r| (a heatmap of hundreds of columns is unreadable).
    """
    if len(numeric) < 2:
        return note_figure(
            "Pearson correlation of numeric columns", "fewer than two numeric columns: nothing to correlate"
        )
    if len(numeric) <= SQL_CORRELATION_MAX_COLUMNS:
        return correlation_heatmap(correlation_matrix(pairs, numeric))
    ranked = pairs.assign(size=pairs["r"].abs()).dropna(subset=["r"])
    ranked = ranked.sort_values(["size", "a", "b"], ascending=[False, True, True]).head(STRONGEST_PAIRS)
    return ranked[["a", "b", "r"]].rename(columns={"a": "column", "b": "other column"}).reset_index(drop=True)


BOUNDED_SCORES = {"accuracy", "macro_f1", "r2"}  # never above 1: the axis stops there


def cv_scores(scores: pd.DataFrame) -> Figure:
    """Per-fold cross-validated scores, one panel per score with its own axis."""
    metrics = [c for c in scores.columns if c != "fold"]
    fig, axes = _figure(3.2 * len(metrics), 3.2, ncols=len(metrics))
    colors = sns.color_palette(PALETTE, len(metrics))
    for ax, metric, color in zip(axes.flat, metrics, colors, strict=True):
        ax.bar(scores["fold"].astype(str), scores[metric], color=color)
        low, high = float(scores[metric].min()), float(scores[metric].max())
        pad = max((high - low) * 0.5, abs(high) * 0.02, 1e-3)
        top = min(high + pad, 1.0) if metric in BOUNDED_SCORES and high <= 1 else high + pad
        ax.set(title=f"{metric.replace('_', ' ')} per fold", xlabel="fold", ylim=(low - pad, top))
    fig.suptitle("Cross-validated scores")
    return fig


def predicted_vs_actual(points: pd.DataFrame, label: str) -> Figure:
    """Predicted against actual values of a numeric label, with the line of perfect prediction."""
    fig, axes = _figure(5.5, 5)
    ax = axes[0, 0]
    ax.scatter(points["actual"], points["predicted"], s=12, alpha=0.7, color=sns.color_palette(PALETTE, 1)[0])
    low = float(min(points["actual"].min(), points["predicted"].min()))
    high = float(max(points["actual"].max(), points["predicted"].max()))
    ax.plot([low, high], [low, high], linestyle="--", color="grey", linewidth=1, label="perfect prediction")
    name = axis_label(label)
    ax.set(
        title=f"Predicted against actual {name} (held-out rows)", xlabel=f"actual {name}", ylabel=f"predicted {name}"
    )
    ax.legend(loc="upper left")
    return fig


def residual_plot(points: pd.DataFrame, label: str) -> Figure:
    """Residuals (actual - predicted) against the prediction: structure here is error the model misses."""
    fig, axes = _figure(7, 3.5)
    ax = axes[0, 0]
    ax.scatter(points["predicted"], points["residual"], s=12, alpha=0.7, color=sns.color_palette(PALETTE, 2)[1])
    ax.axhline(0, linestyle="--", color="grey", linewidth=1)
    name = axis_label(label)
    ax.set(title="Residuals (actual - predicted), held-out rows", xlabel=f"predicted {name}", ylabel="residual")
    return fig


def confusion_heatmap(confusion: pd.DataFrame) -> Figure:
    """Heatmap of the confusion matrix (counts)."""
    fig, axes = _figure(6, 4.5)
    shown = confusion.set_axis(_short(confusion.index), axis=0).set_axis(_short(confusion.columns), axis=1)
    sns.heatmap(shown, annot=True, fmt="d", cmap="Blues", cbar=False, ax=axes[0, 0])
    axes[0, 0].set(title="Confusion matrix (held-out rows)", xlabel="predicted class", ylabel="true class")
    return fig


def roc_plot(points: pd.DataFrame, areas: dict[str, float]) -> Figure:
    """One-vs-rest ROC curves with their AUC in the legend; for two classes, one curve (the second class).

    With two classes the other class's curve is the same curve mirrored: drawing it adds nothing.
    """
    fig, axes = _figure(6, 4.5)
    ax = axes[0, 0]
    palette = class_colors(areas)
    styles = ["-", "--", ":", "-."]  # curves that coincide (AUC 1.000 for several classes) stay visible
    drawn = sorted(areas, key=str)
    binary = len(drawn) == 2
    for n, cls in enumerate(drawn[1:] if binary else drawn):
        curve = points[points["class"] == cls]
        ax.plot(
            curve["fpr"],
            curve["tpr"],
            color=palette[str(cls)],
            linestyle=styles[n % len(styles)],
            linewidth=2.5 - 0.5 * (n % 3),
            label=f"{_short([cls])[0]} (AUC {areas[cls]:.3f})",
        )
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="chance")
    title = f"ROC curve of class {_short(drawn[1:])[0]}" if binary else "ROC curves, one class against the rest"
    ax.set(title=title, xlabel="false positive rate", ylabel="true positive rate")
    ax.legend(loc="lower right")
    return fig


IMPORTANCE_BARS = 20


def importance_bars(importance: pd.DataFrame, score: str = "macro F1") -> Figure:
    """Permutation importance (how much worse ``score`` gets), with its spread across repeats.

    The ``IMPORTANCE_BARS`` most important features at most; the title says how many of how many.
    """
    total, importance = len(importance), importance.head(IMPORTANCE_BARS)
    fig, axes = _figure(7, 0.5 * len(importance) + 1.5)
    ax = axes[0, 0]
    ax.barh(
        importance["feature"].map(axis_label),
        importance["importance_mean"],
        xerr=importance["importance_std"],
        color=sns.color_palette(PALETTE, 1)[0],
    )
    ax.invert_yaxis()
    change = "rise in" if score == "RMSE" else "drop in"
    shown = f", the {len(importance)} most important of {total} features" if total > len(importance) else ""
    rows, of = importance.attrs.get("rows"), importance.attrs.get("of")
    drawn = f"\neach shuffle scored on {rows:,} of the {of:,} held-out rows, drawn at random" if rows != of else ""
    ax.set(
        title=f"Permutation importance ({change} {score}{shown}){drawn}", xlabel=f"{change} {score}", ylabel="feature"
    )
    return fig


def label_distribution(balance: pd.DataFrame, sample: pd.DataFrame, label: str, task: Task) -> Figure:
    """Rows per class (classes), or a histogram of the sampled label (a number)."""
    if not task.classes:
        return label_histogram(sample[label], label)
    return class_balance(balance, label)


def error_figure(task: Task, y_true, y_pred, classes: Sequence, label: str) -> Figure:
    """The confusion matrix (classes), or predicted against actual values (a number)."""
    if not task.classes:
        return predicted_vs_actual(regression_points(y_true, y_pred), label)
    return confusion_heatmap(confusion_table(y_true, y_pred, classes))


def curves_figure(task: Task, curve, label: str) -> Figure:
    """ROC curves (classes: ``curve`` is points and areas), or residuals (a number: ``curve`` is points)."""
    if not task.classes:
        return residual_plot(curve, label)
    return roc_plot(*curve)
