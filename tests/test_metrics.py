"""Each stage's metrics.json has a typed model: a misspelt, mistyped or wrong-task metric fails before it is written."""

import json

import pytest

from bqlab.analysis import evaluation
from bqlab.analysis.metrics import MODELS
from bqlab.errors import DataError
from bqlab.stages import STAGES

EDA = {
    "task": "classification",
    "task_reason": "task auto: label 'y' is STRING with 2 distinct values",
    "rows": 10,
    "columns": 3,
    "missing_cells": 1,
    "missing_by_column": {"x": 1, "y": 0, "z": 0},
    "placeholders_by_column": {},
    "cast_failures_by_column": {},
    "numeric_text_columns": {"z": 0.0},
    "separated_number_columns": {},
    "strong_correlations": [["x", "z", 0.9]],
    "many_valued_columns": {},
    "constant_columns": {},
    "unlabelled_rows": 0,
    "classes": 2,
    "class_counts": {"a": 6, "b": 4},
}
TRAIN = {"model": "logistic_regression", "task": "regression", "train_rows": 8, "test_rows": 2}
EVALUATE = {
    "task": "regression",
    "test_rows": 2,
    "result_check": "ok",
    "result_check_reason": "",
    "weakest_slice": {"slice": "plan", "value": "basic", "rows": 1, "rmse": 2.5, "r2": float("nan")},
    "rmse": 1.5,
    "mae": 1.0,
    "r2": 0.8,
    "baseline_rmse": 3.0,
    "errors": {"median absolute error": 0.9},
}


def test_every_stage_names_a_metrics_model_that_exists():
    assert {stage.name: stage.metrics for stage in STAGES.values()} == {
        "eda": "EdaMetrics",
        "train": "TrainMetrics",
        "evaluate": "EvaluateMetrics",
    }
    assert all(stage.metrics in MODELS for stage in STAGES.values())


@pytest.mark.parametrize(
    "stage, metrics",
    [("eda", EDA), ("train", TRAIN | {"cv_rmse_mean": 1.2, "cv_rmse_std": 0.1}), ("evaluate", EVALUATE)],
)
def test_metrics_of_the_right_shape_are_written_as_given(stage, metrics, tmp_path):
    path = evaluation.save_metrics(metrics, tmp_path / "metrics.json", stage=stage)
    assert json.loads(path.read_text()).keys() == metrics.keys()


@pytest.mark.parametrize(
    "stage, metrics, message",
    [
        ("eda", EDA | {"row": 10}, r"row: Extra inputs are not permitted"),
        ("eda", EDA | {"rows": "ten"}, r"rows: Input should be a valid integer"),
        (
            "eda",
            {k: v for k, v in EDA.items() if k != "class_counts"},
            r"class_counts is missing \(task classification\)",
        ),
        ("eda", EDA | {"label_summary": {"mean": 1.0}}, r"label_summary is only for regression"),
        ("train", TRAIN, r"no cross-validated score"),
        ("train", TRAIN | {"cv_rmse_mean": 1.2, "cv_rmse": 1.2}, r"unknown metrics \['cv_rmse'\]"),
        ("train", TRAIN | {"cv_rmse_mean": "low"}, r"cv_rmse_mean must be a number"),
        ("evaluate", EVALUATE | {"accuracy": 0.9}, r"accuracy is only for classification \(task regression\)"),
        ("evaluate", EVALUATE | {"weakest_slice": {"slice": "plan"}}, r"weakest_slice.value: Field required"),
    ],
    ids=[
        "misspelt",
        "mistyped",
        "missing-for-the-task",
        "other-task",
        "no-cv",
        "bad-cv-name",
        "cv-text",
        "eval-task",
        "slice",
    ],
)
def test_wrong_metrics_fail_before_anything_is_written(stage, metrics, message, tmp_path):
    path = tmp_path / "metrics.json"
    with pytest.raises(DataError, match=rf"the {stage} metrics do not match .*{message}"):
        evaluation.save_metrics(metrics, path, stage=stage)
    assert not path.exists()


def test_a_stage_without_a_metrics_model_takes_any_object(tmp_path):
    path = evaluation.save_metrics({"anything": [1, 2]}, tmp_path / "m.json")
    assert json.loads(path.read_text()) == {"anything": [1, 2]}
