"""The label decides the task; classes a model cannot learn are refused with the counts and the key."""

import pandas as pd
import pytest

from bqlab.analysis import targets
from bqlab.errors import DataError
from bqlab.tasks import CLASSIFICATION, REGRESSION


@pytest.mark.parametrize(
    "label_type, distinct, task",
    [
        ("STRING", 3, "classification"),
        ("BOOL", 2, "classification"),
        ("INT64", 2, "classification"),
        ("INT64", 10, "classification"),
        ("INT64", 11, "regression"),
        ("FLOAT64", 500, "regression"),
        ("FLOAT64", 2, "classification"),
        ("STRING", 5000, "classification"),
    ],
)
def test_auto_decides_from_the_type_and_the_distinct_values(label_type, distinct, task):
    decided = targets.decide_task("auto", "y", label_type, distinct)
    assert decided.name == task
    assert f"label 'y' is {label_type} with {distinct:,} distinct values" in decided.reason


def test_the_reason_says_how_to_choose_the_other_task():
    assert "set task: classification" in targets.decide_task("auto", "y", "FLOAT64", 500).reason
    assert "set task: regression" in targets.decide_task("auto", "y", "INT64", 3).reason
    assert "set in params" in targets.decide_task("regression", "y", "INT64", 3).reason


def test_regression_on_text_and_a_date_label_are_refused_with_the_fix():
    with pytest.raises(DataError, match=r"task: regression needs a numeric label.*column_types \(e.g. y: FLOAT64\)"):
        targets.decide_task("regression", "y", "STRING", 40)
    with pytest.raises(DataError, match="label 'y' has type DATE, which a model cannot predict"):
        targets.decide_task("auto", "y", "DATE", 40)


def test_a_single_class_is_refused_with_its_count():
    with pytest.raises(DataError, match=r"label 'y' has 1 class in the labelled rows \('a': 1,000\).*at least two"):
        targets.check_classes({"a": 1000}, "y")


def test_a_class_too_rare_for_the_folds_is_refused_with_every_count_and_the_key():
    with pytest.raises(
        DataError,
        match=r"1 class\(es\) in the training rows have fewer than 5 rows, the cv_folds=5 stratified folds need "
        r"\('rare': 3; all classes: 'a': 50, 'b': 40, 'rare': 3\): lower cv_folds in params/02-train.yaml",
    ):
        targets.check_training_labels(pd.Series(["a"] * 50 + ["b"] * 40 + ["rare"] * 3), "y", CLASSIFICATION, 5)


def test_before_the_split_a_class_must_leave_enough_rows_for_the_folds():
    targets.check_classes_before_split({True: 100, False: 7}, "y", cv_folds=5, test_fraction=0.25)
    with pytest.raises(
        DataError,
        match=r"1 class\(es\) in the table have fewer than 7 rows, the least that fills cv_folds=5 folds once "
        r"test_fraction=0.25 is held out \(False: 6; ",
    ):
        targets.check_classes_before_split({True: 100, False: 6}, "y", cv_folds=5, test_fraction=0.25)


@pytest.mark.parametrize(
    "values, dtype, expected",
    [
        ([0, 1, 1], "int64", "int64"),
        ([1.0, 0.0, 1.0], "float64", "int64"),
        ([True, False, True], "bool", "bool"),
        (["yes", "no", "yes"], "object", "str"),
    ],
)
def test_class_labels_keep_a_type_scikit_learn_reads_as_binary(values, dtype, expected):
    from sklearn.utils.multiclass import type_of_target

    labels = targets.label_values(pd.Series(values, dtype=dtype), CLASSIFICATION)
    assert type_of_target(labels) == "binary"
    assert expected in str(labels.dtype) or (expected == "str" and isinstance(labels.iloc[0], str))


def test_a_regression_label_is_float():
    assert targets.label_values(pd.Series([1, 2, 3]), REGRESSION).dtype == "float64"


def test_fractional_class_values_become_text_classes_not_a_continuous_target():
    from sklearn.utils.multiclass import type_of_target

    labels = targets.label_values(pd.Series([1.0, 1.5, 2.0, 1.5]), CLASSIFICATION)
    assert labels.tolist() == ["1", "1.5", "2", "1.5"] and type_of_target(labels) == "multiclass"


def test_a_message_about_many_rare_classes_stays_one_short_line_and_suggests_a_number():
    counts = {f"id{i}": 1 for i in range(5000)}
    with pytest.raises(DataError) as refused:
        targets.check_classes_before_split(counts, "price", 3, 0.25, folds_at="params/profiles/ci.yaml")
    message = str(refused.value)
    assert len(message) < 800 and "\n" not in message
    assert "5000 class(es) in the table have fewer than 4 rows" in message and "and 4,992 more" in message
    assert "lower cv_folds in params/profiles/ci.yaml" in message and "price: FLOAT64" in message


def test_a_table_too_small_for_the_fewest_folds_says_so_instead_of_lower_cv_folds():
    with pytest.raises(DataError) as err:
        targets.check_classes_before_split({"a": 1, "b": 1}, "y", 2, 0.25)
    assert "too small for cross-validation (cv_folds=2 is the fewest)" in str(err.value)
    assert "lower cv_folds" not in str(err.value)
    with pytest.raises(DataError, match="1 training rows are too few for cv_folds=2 folds: use a table with more rows"):
        targets.check_training_labels(pd.Series([1.5]), "y", REGRESSION, 2)
