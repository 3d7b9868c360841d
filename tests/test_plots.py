"""Figures: every axis has a title and labelled axes (with units where the column name has one)."""

import matplotlib.colors
import numpy as np
import pandas as pd
import pytest

from bqlab.analysis import plots


@pytest.mark.parametrize(
    "column, label",
    [
        ("body_mass_g", "body mass (g)"),
        ("culmen_length_mm", "culmen length (mm)"),
        ("share_pct", "share (%)"),
        ("island", "island"),
        ("tenure_months", "tenure (months)"),
        ("area_m2", "area (m²)"),
        ("price_eur", "price (EUR)"),
        ("age_years", "age (years)"),
        ("weeks", "weeks"),
    ],
)
def test_axis_labels_carry_the_unit_in_the_column_name(column, label):
    assert plots.axis_label(column) == label


def test_every_figure_has_a_title_and_labelled_axes():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"species": rng.choice(["a (x)", "b (y)"], 60), "body_mass_g": rng.normal(4000, 300, 60)})
    summary = pd.DataFrame(
        {"column": "body_mass_g", "species": ["a (x)", "b (y)"], "count": 30, "mean": 4000.0, "std": 300.0}
        | {"min": 3000.0, "q1": 3800.0, "median": 4000.0, "q3": 4200.0, "max": 5000.0}
    )
    balance = frame["species"].value_counts().rename_axis("species").reset_index(name="rows")
    scores = pd.DataFrame({"fold": [1, 2, 3], "accuracy": [0.9, 0.95, 0.92], "macro_f1": [0.88, 0.94, 0.9]})
    confusion = pd.DataFrame([[10, 1], [2, 12]], index=["a (x)", "b (y)"], columns=["a (x)", "b (y)"])
    roc = pd.DataFrame({"class": ["a", "a", "a"], "fpr": [0, 0.2, 1], "tpr": [0, 0.8, 1]})
    importance = pd.DataFrame({"feature": ["body_mass_g"], "importance_mean": [0.1], "importance_std": [0.02]})
    figures = [
        plots.class_balance(balance, "species"),
        plots.distributions_by_class(summary, "species"),
        plots.cv_scores(scores),
        plots.confusion_heatmap(confusion),
        plots.roc_plot(roc, {"a": 0.9}),
        plots.importance_bars(importance),
    ]
    for figure in figures:
        for ax in (a for a in figure.axes if a.get_visible() and a.get_label() != "<colorbar>"):
            assert ax.get_title(), figure
            assert ax.get_xlabel() and (ax.get_ylabel() or ax.get_yticklabels()), ax.get_title()
    assert figures[1].axes[0].get_xlabel() == "body mass (g)"
    assert [t.get_text() for t in figures[5].axes[0].get_yticklabels()] == ["body mass (g)"]


def test_regression_figures_have_titles_and_labelled_axes():
    rng = np.random.default_rng(1)
    actual = pd.Series(rng.normal(100, 10, 80))
    points = pd.DataFrame({"actual": actual, "predicted": actual + rng.normal(0, 2, 80)})
    points["residual"] = points["actual"] - points["predicted"]
    sample = pd.DataFrame({"price_usd": actual, "area_m2": rng.normal(50, 5, 80)})
    figures = [
        plots.label_histogram(sample["price_usd"], "price_usd"),
        plots.predicted_vs_actual(points, "price_usd"),
        plots.residual_plot(points, "price_usd"),
        plots.cv_scores(pd.DataFrame({"fold": [1, 2], "rmse": [2.1, 2.3], "mae": [1.5, 1.6], "r2": [0.9, 0.92]})),
    ]
    for figure in figures:
        for ax in figure.axes:
            assert ax.get_title() and ax.get_xlabel(), figure
    assert figures[1].axes[0].get_xlabel() == "actual price (USD)"
    assert [ax.get_title() for ax in figures[3].axes] == ["rmse per fold", "mae per fold", "r2 per fold"]
    low, high = figures[3].axes[2].get_ylim()
    assert 0.8 < low and high < 1.0, "each score's axis is scaled to its values, not 0-1"


def test_correlations_are_a_heatmap_up_to_30_columns_and_the_strongest_pairs_beyond():
    columns = [f"c{i:02d}" for i in range(31)]
    pairs = pd.DataFrame(
        [(a, b, 0.99 if (a, b) == ("c03", "c17") else 0.01) for i, a in enumerate(columns) for b in columns[i + 1 :]],
        columns=["a", "b", "r"],
    )
    assert hasattr(plots.correlation_overview(pairs, columns[:30]), "axes")
    table = plots.correlation_overview(pairs, columns)
    assert len(table) == plots.STRONGEST_PAIRS and table.iloc[0].tolist() == ["c03", "c17", 0.99]


def test_importance_shows_at_most_20_features_and_says_so():
    importance = pd.DataFrame(
        {"feature": [f"f{i}" for i in range(50)], "importance_mean": np.linspace(1, 0, 50), "importance_std": 0.01}
    )
    ax = plots.importance_bars(importance, "RMSE").axes[0]
    assert len(ax.get_yticklabels()) == 20
    assert ax.get_title() == "Permutation importance (rise in RMSE, the 20 most important of 50 features)"


def test_each_class_has_one_colour_in_every_figure_and_legends_follow_the_class_order():
    classes = [10, 2, 1]  # integer labels: sorted as text ("1" < "10" < "2") in every figure
    balance = pd.DataFrame({"grade": [2, 10, 1], "rows": [50, 30, 20]})  # most rows first, as the SQL returns
    bars = plots.class_balance(balance, "grade").axes[0].patches
    bar_colour = {str(v): tuple(b.get_facecolor()[:3]) for v, b in zip(balance["grade"], bars, strict=True)}

    points = pd.DataFrame(
        [{"class": c, "fpr": x, "tpr": x} for c in classes for x in (0.0, 1.0)]
    )  # three identical curves (AUC 1.0 each): still told apart by line style
    lines = plots.roc_plot(points, {c: 1.0 for c in classes}).axes[0].get_lines()[:3]
    line_colour = {ln.get_label().split(" ")[0]: tuple(ln.get_color()[:3]) for ln in lines}
    assert [ln.get_label().split(" ")[0] for ln in lines] == ["1", "10", "2"]
    assert len({ln.get_linestyle() for ln in lines}) == 3

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=30), "y": rng.normal(size=30), "grade": [2, 10, 1] * 10})
    legend = plots.pair_plot(frame, "grade", ["x", "y"]).legends[0]
    legend_colour = {
        t.get_text(): tuple(matplotlib.colors.to_rgb(h.get_markerfacecolor()))
        for t, h in zip(legend.texts, legend.legend_handles, strict=True)
    }
    assert list(legend_colour) == ["1", "10", "2"]

    for name in ("1", "10", "2"):
        assert bar_colour[name] == pytest.approx(line_colour[name])
        assert bar_colour[name] == pytest.approx(legend_colour[name])
    assert len(set(bar_colour.values())) == 3


def test_two_classes_draw_one_roc_curve_not_its_mirror_image():
    points = pd.DataFrame({"class": ["0", "0", "1", "1"], "fpr": [0, 1, 0, 1], "tpr": [0, 1, 0, 1]})
    ax = plots.roc_plot(points, {"0": 0.8, "1": 0.8}).axes[0]
    assert [line.get_label() for line in ax.get_lines()] == ["1 (AUC 0.800)", "chance"]
    assert ax.get_title() == "ROC curve of class 1"
