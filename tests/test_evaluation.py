import json

import numpy as np
import pandas as pd
import pytest

from bqlab import evaluation


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
