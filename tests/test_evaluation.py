import json

import numpy as np
import pandas as pd
import pytest

from bqlab.analysis import evaluation
from bqlab.analysis.tables import EMPTY_NOTE
from bqlab.tasks import CLASSIFICATION, REGRESSION


@pytest.fixture
def labels():
    y_true = pd.Series(["a", "a", "b", "b", "c", "c"])
    y_pred = np.array(["a", "b", "b", "b", "c", "a"])
    return y_true, y_pred


def test_headline_metrics(labels):
    y_true, y_pred = labels
    metrics = evaluation.headline_metrics(y_true, y_pred)
    assert metrics["accuracy"] == pytest.approx(4 / 6, abs=1e-4)
    # per-class F1: a = 0.5, b = 0.8, c = 2/3
    assert metrics["macro_f1"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3, abs=1e-4)


def test_per_class_and_confusion(labels):
    y_true, y_pred = labels
    table = evaluation.per_class_table(y_true, y_pred, ["a", "b", "c"])
    assert table.set_index("class").loc["b", "recall"] == 1.0
    assert table.set_index("class").loc["b", "precision"] == pytest.approx(2 / 3, abs=1e-4)
    confusion = evaluation.confusion_table(y_true, y_pred, ["a", "b", "c"])
    assert confusion.loc["c", "a"] == 1 and confusion.to_numpy().sum() == 6


def test_roc_skips_a_class_missing_from_the_rows():
    y_true = pd.Series(["a", "a", "b", "b"])
    proba = np.array([[0.9, 0.1, 0.0], [0.6, 0.4, 0.0], [0.2, 0.8, 0.0], [0.3, 0.7, 0.0]])
    points, areas = evaluation.roc_curves(y_true, proba, ["a", "b", "c"])
    assert areas == {"a": 1.0, "b": 1.0}
    assert set(points["class"]) == {"a", "b"}


def test_slices_score_each_value_including_missing(labels):
    y_true, y_pred = labels
    frame = pd.DataFrame({"island": ["x", "x", "y", "y", "y", None]})
    table = evaluation.slice_table(frame, y_true, y_pred, ["island"])
    assert table.set_index("value").loc["x", "accuracy"] == 0.5
    assert table.set_index("value").loc["<missing>", "rows"] == 1
    assert table["rows"].sum() == 6


def test_cv_summary(tmp_path):
    scores = pd.DataFrame({"fold": [1, 2], "accuracy": [0.8, 1.0], "macro_f1": [0.7, 0.9]})
    summary = evaluation.summarise_scores(scores)
    assert summary["cv_accuracy_mean"] == 0.9
    assert summary["cv_macro_f1_std"] == pytest.approx(0.1414, abs=1e-4)
    path = evaluation.save_metrics(summary, tmp_path / "m.json")
    assert json.loads(path.read_text()) == summary


def test_weakest_slice_is_the_lowest_accuracy_and_the_larger_on_a_tie():
    slices = pd.DataFrame(
        {
            "slice": ["island", "island", "sex", "sex"],
            "value": ["Dream", "Biscoe", "MALE", "FEMALE"],
            "rows": [10, 30, 20, 25],
            "accuracy": [0.9, 0.9, 0.95, 1.0],
            "macro_f1": [0.8, 0.85, 0.9, 1.0],
        }
    )
    assert evaluation.weakest_slice(slices) == {
        "slice": "island",
        "value": "Biscoe",
        "rows": 30,
        "accuracy": 0.9,
        "macro_f1": 0.85,
    }
    assert evaluation.weakest_slice(slices.iloc[0:0]) is None


def test_regression_headline_metrics_slices_and_weakest_slice():
    y_true = pd.Series([10.0, 12.0, 20.0, 22.0])
    y_pred = np.array([11.0, 11.0, 20.0, 26.0])
    metrics = evaluation.headline_metrics(y_true, y_pred, REGRESSION)
    assert metrics["mae"] == pytest.approx(1.5) and metrics["rmse"] == pytest.approx((18 / 4) ** 0.5, abs=1e-4)
    assert 0.7 < metrics["r2"] < 1
    frame = pd.DataFrame({"city": ["x", "x", "y", "y"]})
    slices = evaluation.slice_table(frame, y_true, y_pred, ["city"], REGRESSION)
    assert list(slices.columns) == ["slice", "value", "rows", "rmse", "mae", "r2"]
    weakest = evaluation.weakest_slice(slices, REGRESSION)
    assert (weakest["value"], weakest["rmse"]) == ("y", pytest.approx(8**0.5, abs=1e-4)), "the largest RMSE"


def test_error_details_of_a_regression_say_how_large_the_errors_are():
    y_true = pd.Series(np.arange(10, dtype=float))
    details = evaluation.error_details(REGRESSION, y_true, y_true + 1.0, []).set_index("measure")["value"]
    assert details["median absolute error"] == 1.0 and details["largest absolute error"] == 1.0
    assert details["bias"] == 1.0, "predicted - actual: the model over-predicts by one"


def test_auto_slices_are_the_categorical_features_with_few_values():
    frame = pd.DataFrame({"plan": list("abcab"), "user": list("vwxyz"), "region": ["n"] * 5})
    many = pd.DataFrame({"id": [str(i) for i in range(40)]})
    assert evaluation.auto_slice_columns("auto", frame, ["plan", "user", "region"]) == ["plan", "user", "region"]
    assert evaluation.auto_slice_columns("auto", many, ["id"]) == [], "more than 10 values is not a slice"
    assert evaluation.auto_slice_columns(["user"], frame, ["plan"]) == ["user"], "a list in params is kept"


def test_evaluation_metrics_of_integer_classes_keep_their_values_as_keys():
    y_true = pd.Series([0, 1, 1, 0])
    y_pred = np.array([0, 1, 0, 0])
    details = evaluation.error_details(CLASSIFICATION, y_true, y_pred, [0, 1])
    slices = evaluation.slice_table(pd.DataFrame({"s": list("aabb")}), y_true, y_pred, ["s"])
    metrics = evaluation.evaluation_metrics(
        CLASSIFICATION, evaluation.headline_metrics(y_true, y_pred), details, slices, ({}, {}), 4
    )
    assert set(metrics["per_class"]) == {"0", "1"} and metrics["weakest_class"] == "1"
    assert metrics["per_class"]["0"]["support"] == 2 and isinstance(metrics["per_class"]["0"]["support"], int)
    json.dumps(metrics)  # plain JSON types


def test_no_slice_column_gives_a_sentence_naming_the_setting_not_an_empty_table():
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    slices = evaluation.slice_table(frame, pd.Series(["a", "b"]), ["a", "b"], [], CLASSIFICATION)
    assert slices.empty and "slice_columns in params/03-evaluate.yaml" in slices.attrs[EMPTY_NOTE]


def test_the_baseline_is_the_most_frequent_class_or_the_mean():
    assert evaluation.baseline(pd.Series([0, 1, 1, 1]), CLASSIFICATION) == {
        "baseline_accuracy": 0.75,
        "baseline_class": "1",
    }
    assert evaluation.baseline(pd.Series([1.0, 3.0]), REGRESSION) == {"baseline_rmse": 1.0}
