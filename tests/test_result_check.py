"""The result check: a run whose scores contradict each other is marked check, with the reason."""

import pandas as pd
import pytest

from bqlab.analysis.result_check import check_result
from bqlab.tasks import CLASSIFICATION, REGRESSION

CV = {"cv_accuracy_mean": 0.826, "cv_accuracy_std": 0.03, "cv_r2_mean": 0.8, "cv_r2_std": 0.02}
ALIKE = pd.Series(["yes"] * 30 + ["no"] * 70), pd.Series(["yes"] * 10 + ["no"] * 23)


def test_scores_that_agree_are_ok():
    check = check_result(
        CLASSIFICATION, {"accuracy": 0.8, "baseline_accuracy": 0.7, "baseline_class": "no"}, CV, *ALIKE
    )
    assert check.status == "ok" and check.reason == "" and check.as_metrics()["result_check"] == "ok"


def test_a_test_score_far_below_cross_validation_is_a_check_with_the_reason():
    # The table: CV accuracy 0.826, test accuracy 0.025.
    check = check_result(
        CLASSIFICATION, {"accuracy": 0.025, "baseline_accuracy": 0.64, "baseline_class": "yes"}, CV, *ALIKE
    )
    assert check.status == "check"
    assert "test accuracy 0.025 is far below what cross-validation predicts (0.826 ± 0.030)" in check.reason
    assert "no better than predicting always 'yes'" in check.reason


@pytest.mark.parametrize(
    ("test", "expected"),
    [(0.75, "ok"), (0.70, "check")],  # 0.076 below: within 3 std (0.09); 0.126 below: beyond both bounds
)
def test_a_gap_must_exceed_three_fold_deviations_and_the_margin(test, expected):
    scores = {"accuracy": test, "baseline_accuracy": 0.5, "baseline_class": "a"}
    assert check_result(CLASSIFICATION, scores, CV, *ALIKE).status == expected
    small_spread = {"cv_accuracy_mean": 0.826, "cv_accuracy_std": 0.001}
    assert check_result(CLASSIFICATION, {**scores, "accuracy": 0.76}, small_spread, *ALIKE).status == "ok", "margin"


def test_a_regression_no_better_than_the_mean_is_a_check():
    check = check_result(REGRESSION, {"r2": -0.02, "rmse": 10.5, "baseline_rmse": 10.4}, CV, *ALIKE)
    assert check.status == "check"
    assert "no better than predicting the mean (RMSE 10.5 against 10.4)" in check.reason
    assert "test R² -0.020 is far below" in check.reason


def test_class_shares_that_differ_between_the_sides_are_a_check():
    train, test = pd.Series(["yes"] * 23 + ["no"] * 77), pd.Series(["yes"] * 64 + ["no"] * 36)
    scores = {"accuracy": 0.8, "baseline_accuracy": 0.64, "baseline_class": "yes"}
    check = check_result(CLASSIFICATION, scores, CV, train, test)
    assert check.status == "check"
    assert "class 'no' is 77.0% of the training rows but 36.0% of the test rows" in check.reason
    one_row = pd.Series(["yes"] * 2 + ["no"] * 8), pd.Series(["yes"] * 1 + ["no"] * 2)  # rounding of a tiny side
    assert check_result(CLASSIFICATION, scores, CV, *one_row).status == "ok"
