"""The summary at the top of each report, written from the run's numbers."""

from bqlab.report import findings

EDA = {
    "rows": 344,
    "columns": 7,
    "missing_cells": 19,
    "missing_by_column": {"species": 0, "sex": 11, "body_mass_g": 2},
    "class_counts": {"Adelie": 152, "Gentoo": 124, "Chinstrap": 68},
    "unlabelled_rows": 0,
    "placeholders_by_column": {"sex": 1},
    "strong_correlations": [["flipper_length_mm", "body_mass_g", 0.871]],
}


def test_eda_summary_gives_rows_missingness_balance_and_data_quality():
    lines = findings.summary("eda", EDA, "ok")
    assert lines[0] == "344 rows and 7 analysed columns."
    assert lines[1] == (
        "19 missing cells (0.8% of all cells) in 2 column(s); most in <code>sex</code>: 11 rows (3.2%)."
    )
    assert (
        "the largest, <code>Adelie</code> (152 rows), is 2.2× the smallest, <code>Chinstrap</code> (68 rows)"
        in lines[2]
    )
    assert "<code>sex</code> holds 1 placeholder value(s)" in lines[3]
    assert "<code>flipper_length_mm</code> and <code>body_mass_g</code> are strongly correlated (r = 0.87)" in lines[4]


def test_eda_summary_of_a_complete_table_says_so_and_escapes_names():
    clean = {**EDA, "missing_cells": 0, "missing_by_column": {}, "placeholders_by_column": {}}
    clean["class_counts"] = {"<b>a</b>": 2, "b": 1}
    lines = findings.summary("eda", clean, "ok")
    assert "No missing values." in lines
    assert "<code>&lt;b&gt;a&lt;/b&gt;</code>" in lines[2]


def test_train_summary_names_the_model_and_the_cross_validated_score():
    metrics = {"model": "random_forest", "train_rows": 255, "test_rows": 89, "cv_accuracy_mean": 0.9843}
    metrics |= {"cv_accuracy_std": 0.0256, "cv_macro_f1_mean": 0.9815, "cv_macro_f1_std": 0.0294}
    assert findings.summary("train", metrics, "ok") == [
        "Model: random forest, trained on 255 rows; 89 rows are held out.",
        "Cross-validated accuracy 0.984 ± 0.026 (macro F1 0.982 ± 0.029), mean ± standard deviation over folds.",
    ]


def test_evaluate_summary_names_the_weakest_class_and_slice():
    per_class = {"a": {"f1": 1.0, "precision": 1.0, "recall": 1.0, "support": 40}}
    per_class["b"] = {"f1": 0.9, "precision": 0.95, "recall": 0.855, "support": 20}
    metrics = {"accuracy": 0.95, "macro_f1": 0.94, "test_rows": 60, "per_class": per_class, "weakest_class": "b"}
    metrics["weakest_slice"] = {"slice": "island", "value": "Dream", "rows": 20, "accuracy": 0.9, "macro_f1": 0.88}
    lines = findings.summary("evaluate", metrics, "ok")
    assert lines == [
        "Test accuracy 0.950 and macro F1 0.940 on 60 held-out rows.",
        "Weakest class: <code>b</code>, F1 0.900 (precision 0.950, recall 0.855, 20 rows).",
        "Weakest slice: <code>island = Dream</code>, accuracy 0.900 on 20 rows.",
    ]
    perfect = {**metrics, "per_class": {"a": per_class["a"]}, "weakest_class": "a", "weakest_slice": None}
    assert (
        findings.summary("evaluate", perfect, "ok")[1] == "Every class is predicted without error on the held-out rows."
    )


def test_a_failed_notebook_or_missing_metrics_give_a_plain_statement():
    assert findings.summary("train", {}, "failed", "cell 3 raised <ValueError>") == [
        "The notebook failed, so there are no findings: cell 3 raised &lt;ValueError&gt;."
    ]
    assert findings.summary("train", {}, "ok") == ["The notebook wrote no metrics."]
    assert findings.summary("train", {"model": "x"}, "ok")[0].startswith("No summary: the metrics lack")


def test_regression_summaries_give_the_task_the_label_range_and_the_errors_in_plain_numbers():
    eda = {"task": "regression", "task_reason": "task auto: label 'price' is FLOAT64 with 400 distinct values"}
    eda |= {"rows": 400, "columns": 4, "missing_cells": 0, "missing_by_column": {}}
    eda["label_summary"] = {"min": 168.9, "max": 2293.4, "median": 1243.5, "mean": 1244.2, "std": 540.16}
    lines = findings.summary("eda", eda, "ok")
    assert lines[0].startswith("Task: regression (task auto: label &#x27;price&#x27; is FLOAT64")
    assert "The label ranges from 168.9 to 2,293 (median 1,244, mean 1,244 ± 540)." in lines
    train = {"model": "ridge", "task": "regression", "train_rows": 300, "test_rows": 100}
    train |= {"cv_rmse_mean": 54.37, "cv_rmse_std": 3.2, "cv_mae_mean": 42.6, "cv_r2_mean": 0.9912, "cv_r2_std": 0.001}
    lines = findings.summary("train", train, "ok")
    assert lines[0] == "Task: regression.", "each page names the task in its summary"
    assert "Cross-validated RMSE 54.37 ± 3.20, MAE 42.6, R² 0.991 ± 0.001" in lines[2]
    evaluate = {"task": "regression", "rmse": 12345.6, "mae": 9000.1, "r2": 0.8, "test_rows": 95}
    evaluate |= {"errors": {"median absolute error": 31.8, "90th percentile absolute error": 91.4}}
    evaluate["weakest_slice"] = {"slice": "city", "value": "Genève", "rows": 36, "rmse": 59.53}
    lines = findings.summary("evaluate", evaluate, "ok")
    assert lines[:2] == ["Task: regression.", "Test RMSE 12,346, MAE 9,000 and R² 0.800 on 95 held-out rows."]
    assert "Half the predictions are within 31.8 of the actual value, nine in ten within 91.4." in lines
    assert "<code>city = Genève</code>, RMSE 59.53 on 36 rows." in lines[3]


def test_a_model_no_better_than_the_baseline_is_called_out_and_a_better_one_is_put_beside_it():
    metrics = {"accuracy": 0.667, "macro_f1": 0.4, "test_rows": 60, "baseline_accuracy": 0.667, "baseline_class": 0}
    lines = findings.summary("evaluate", metrics, "ok")
    assert lines[1] == (
        "<strong>The model is no better than predicting always <code>0</code></strong> (accuracy 0.667 on the "
        "same rows): it has not learned from the features."
    )
    good = {**metrics, "accuracy": 0.95}
    assert (
        "A model that learned nothing, predicting always <code>0</code>, would score accuracy 0.667"
        in (findings.summary("evaluate", good, "ok")[1])
    )
    regression = {"task": "regression", "rmse": 5.0, "mae": 4.0, "r2": 0.1, "test_rows": 9, "baseline_rmse": 4.0}
    assert (
        "no better than predicting the mean for every row</strong> (RMSE 4 on"
        in (findings.summary("evaluate", regression, "ok")[2])
    )


def test_a_feature_with_very_many_values_is_a_data_quality_finding():
    eda = {"rows": 100, "columns": 3, "missing_cells": 0, "missing_by_column": {}, "many_valued_columns": {"code": 407}}
    line = findings.summary("eda", eda, "ok")[-1]
    assert line.startswith("Data quality: <code>code</code> is a categorical feature with 407 distinct values")


def test_the_summary_names_a_handful_of_correlated_pairs_and_counts_the_rest():
    from bqlab.report.findings import summary

    pairs = [[f"f{i}", f"g{i}", 0.9] for i in range(10)]
    eda = {"rows": 10, "columns": 20, "missing_cells": 0, "missing_by_column": {}, "strong_correlations": pairs}
    lines = summary("eda", eda, "ok")
    assert sum("strongly correlated (r =" in line for line in lines) == 3
    assert "7 more strongly correlated pairs: see the Correlations section." in lines
