import pandas as pd

from bqlab import profiling


def _missing():
    profile = pd.DataFrame(
        {"column_name": ["label", "sex"], "row_count": [10, 10], "null_count": [0, 2], "placeholder_count": [0, 1]}
    )
    return profiling.missing_table(profile)


def test_missing_table_adds_totals_and_percentages():
    missing = _missing()
    assert missing["missing_count"].tolist() == [0, 3]
    assert missing["missing_pct"].tolist() == [0.0, 30.0]


def test_findings_mention_placeholders_imbalance_and_correlation():
    balance = pd.DataFrame({"label": ["a", "b"], "rows": [8, 2], "share_pct": [80.0, 20.0]})
    corr = pd.DataFrame([[1.0, 0.95], [0.95, 1.0]], index=["x", "y"], columns=["x", "y"])
    text = profiling.data_quality_findings(_missing(), balance, corr, "label")
    assert "**10 rows**" in text
    assert "`sex`: 2 NULL and 1 placeholder value(s) treated as missing (30.0% of rows)" in text
    assert "4.0× the smallest" in text
    assert "`x` and `y` are strongly correlated (r = 0.95)" in text
    assert "`label`" not in text.split("classes")[0]  # a complete column is not listed as missing


def test_summary_metrics():
    balance = pd.DataFrame({"label": ["a", "<missing>"], "rows": [9, 1], "share_pct": [90.0, 10.0]})
    corr = pd.DataFrame([[1.0, -0.91, 0.2], [-0.91, 1.0, 0.1], [0.2, 0.1, 1.0]], index=list("xyz"), columns=list("xyz"))
    summary = profiling.summary_metrics(_missing(), balance, corr, "label")
    assert summary == {
        "rows": 10,
        "columns": 2,
        "missing_cells": 3,
        "classes": 1,
        "class_counts": {"a": 9},
        "unlabelled_rows": 1,
        "missing_by_column": {"label": 0, "sex": 3},
        "placeholders_by_column": {"sex": 1},
        "strong_correlations": [["x", "y", -0.91]],
    }
