import pandas as pd
import pytest

from bqlab.analysis import profiling
from bqlab.sources.views import TableView
from bqlab.tasks import CLASSIFICATION, REGRESSION

VIEW = TableView("p-abcdef.d.t", {"label": "STRING", "sex": "STRING", "code": "STRING", "spend": "STRING"})
CAST = TableView("p-abcdef.d.t", VIEW.raw_schema, {"spend": "FLOAT64"})


def _missing(view=VIEW):
    profile = pd.DataFrame(
        {
            "column_name": ["label", "sex", "code", "spend"],
            "row_count": [10, 10, 10, 10],
            "null_count": [0, 2, 0, 1],
            "placeholder_count": [0, 1, 0, 0],
            "cast_failed_count": [0, 0, 0, 2 if view.column_types else 0],
            "numeric_text_count": [0, 0, 9, 7],
        }
    )
    return profiling.missing_table(profile, view)


def test_missing_table_adds_totals_percentages_and_the_share_of_number_like_text():
    missing = _missing()
    assert missing["missing_count"].tolist() == [0, 3, 0, 1]
    assert missing["missing_pct"].tolist() == [0.0, 30.0, 0.0, 10.0]
    assert missing["numeric_text_pct"].tolist()[2:] == [90.0, pytest.approx(77.8)]


def test_failed_casts_count_as_missing_and_a_cast_column_is_not_flagged_as_text():
    missing = _missing(CAST)
    assert missing.set_index("column_name").loc["spend", "missing_count"] == 3
    assert pd.isna(missing.set_index("column_name").loc["spend", "numeric_text_pct"])
    assert profiling.numeric_text_columns(missing) == {"code": 10.0}


def test_summary_metrics_of_a_classification():
    balance = pd.DataFrame({"label": ["a", "<missing>"], "rows": [9, 1], "share_pct": [90.0, 10.0]})
    pairs = pd.DataFrame({"a": ["x", "x", "y"], "b": ["y", "z", "z"], "r": [-0.91, 0.2, 0.1]})
    summary = profiling.summary_metrics(_missing(), balance, pairs, "label", CLASSIFICATION)
    assert summary == {
        "task": "classification",
        "task_reason": "",
        "rows": 10,
        "columns": 4,
        "missing_cells": 4,
        "classes": 1,
        "class_counts": {"a": 9},
        "unlabelled_rows": 1,
        "missing_by_column": {"label": 0, "sex": 3, "code": 0, "spend": 1},
        "placeholders_by_column": {"sex": 1},
        "cast_failures_by_column": {},
        "numeric_text_columns": {"code": 10.0},
        "separated_number_columns": {},
        "strong_correlations": [["x", "y", -0.91]],
        "many_valued_columns": {},
        "constant_columns": {},
    }


def test_summary_metrics_of_a_regression_describe_the_label():
    label = pd.DataFrame({"column": ["label"], "count": [9], "mean": [5.0], "std": [1.0], "min": [1.0]})
    label = label.assign(q1=4.0, median=5.0, q3=6.0, max=9.0)
    summary = profiling.summary_metrics(_missing(), label, pd.DataFrame(columns=["a", "b", "r"]), "label", REGRESSION)
    assert summary["label_summary"] == {"mean": 5.0, "std": 1.0, "min": 1.0, "median": 5.0, "max": 9.0}
    assert "classes" not in summary and summary["task"] == "regression"


def test_a_categorical_feature_with_very_many_values_is_flagged():
    distinct = {"code": 407, "plan": 3, "spend": 900}
    assert profiling.many_valued(distinct, ["code", "plan"]) == {"code": 407}, "spend is numeric"
    metrics = profiling.summary_metrics(
        _missing(),
        pd.DataFrame({"label": ["a"], "rows": [10]}),
        pd.DataFrame(columns=["a", "b", "r"]),
        "label",
        CLASSIFICATION,
        {"code": 407},
    )
    assert metrics["many_valued_columns"] == {"code": 407}


def test_constant_and_nearly_constant_features_are_found_in_sql(tmp_path):
    import numpy as np

    from bqlab.sources.embedded import LocalSource

    frame = pd.DataFrame(
        {
            "same": ["x"] * 500,
            "almost": ["a"] * 497 + ["b"] * 3,
            "mixed": ["a", "b"] * 250,
            "n": np.arange(500),
            "flag": [True] * 500,
        }
    )
    frame.loc[:9, "same"] = None  # missing values are not a second value
    path = tmp_path / "t.parquet"
    frame.to_parquet(path)
    source = LocalSource({"p-abcdef.d.t": path})
    columns = list(frame.columns)
    distinct = {"same": 1, "almost": 2, "mixed": 2, "n": 500, "flag": 1}
    from bqlab.analysis.aggregates import top_value_shares

    view = TableView("p-abcdef.d.t", source.schema("p-abcdef.d.t"))
    found = profiling.constant_columns(top_value_shares(source, view, columns, distinct))
    assert found == {"same": 100.0, "almost": 99.4, "flag": 100.0}
