"""The summary of findings at the top of each report, written from the run's own numbers.

Each sentence is HTML (values escaped, column and class names in ``<code>``), built only
from the notebook's ``metrics.json``, so the summary always agrees with the report below it.
"""

from collections.abc import Callable, Mapping
from html import escape
from typing import Any

from bqlab import models, tasks
from bqlab.analysis.numbers import metric_text, plus_minus, readable
from bqlab.stages import STAGES

SUMMARY_PAIRS = 3  # strongly correlated pairs named in the summary; the rest are in the section


def code_html(value: Any) -> str:
    """``value`` escaped, in a ``<code>`` element."""
    return f"<code>{escape(str(value))}</code>"


def _task(m: Mapping[str, Any]) -> list[str]:
    if not m.get("task"):
        return []
    reason = f" ({escape(m['task_reason'])})" if m.get("task_reason") else ""
    return [f"Task: {escape(m['task'])}{reason}."]


def _eda(m: Mapping[str, Any]) -> list[str]:
    rows, columns = m["rows"], m["columns"]
    lines = [*_task(m), f"{rows:,} rows and {columns} analysed columns."]
    missing = {k: v for k, v in m.get("missing_by_column", {}).items() if v}
    if missing:
        worst = max(missing, key=lambda column: missing[column])
        share = 100 * m["missing_cells"] / max(rows * columns, 1)
        lines.append(
            f"{m['missing_cells']:,} missing cells ({share:.1f}% of all cells) in {len(missing)} column(s); "
            f"most in {code_html(worst)}: {missing[worst]:,} rows ({100 * missing[worst] / max(rows, 1):.1f}%)."
        )
    else:
        lines.append("No missing values.")
    label = m.get("label_summary")
    if label:
        lines.append(
            f"The label ranges from {readable(label['min'])} to {readable(label['max'])} "
            f"(median {readable(label['median'])}, mean {plus_minus(label['mean'], label['std'])})."
        )
    counts = m.get("class_counts", {})
    if counts:
        largest, smallest = max(counts, key=counts.get), min(counts, key=counts.get)
        ratio = counts[largest] / max(counts[smallest], 1)
        lines.append(
            f"{len(counts)} classes: the largest, {code_html(largest)} ({counts[largest]:,} rows), is {ratio:.1f}× "
            f"the smallest, {code_html(smallest)} ({counts[smallest]:,} rows)."
        )
    if m.get("unlabelled_rows"):
        lines.append(f"{m['unlabelled_rows']:,} rows have no label and are left out of training and evaluation.")
    for column, count in m.get("placeholders_by_column", {}).items():
        lines.append(f"Data quality: {code_html(column)} holds {count:,} placeholder value(s) counted as missing.")
    for column, count in m.get("cast_failures_by_column", {}).items():
        lines.append(
            f"Data quality: {code_html(column)} has {count:,} value(s) that do not read as the type in "
            "column_types; they are counted as missing."
        )
    for column, failing in m.get("numeric_text_columns", {}).items():
        lines.append(
            f"Data quality: {code_html(column)} is text but mostly numbers ({failing:.1f}% of its values are not): "
            f"cast it with {code_html(column + ': FLOAT64')} under column_types."
        )
    for column, share in m.get("separated_number_columns", {}).items():
        cast = f'{column}: {{type: FLOAT64, thousands: ",", decimal: "."}}'
        lines.append(
            f"Data quality: {code_html(column)} is text holding numbers written with separators ({share:.1f}% of "
            f"its values, such as 3,750 or 12,5): cast it under column_types naming them, e.g. {code_html(cast)} "
            'for 3,750.5, or thousands: "." and decimal: "," for 3.750,5.'
        )
    for column, count in m.get("many_valued_columns", {}).items():
        lines.append(
            f"Data quality: {code_html(column)} is a categorical feature with {count:,} distinct values: one-hot "
            "encoding makes a column of each, which few rows can fill; cast it under column_types if it is a "
            "number, or leave it out of features."
        )
    for column, share in m.get("constant_columns", {}).items():
        if share >= 100:
            why = "holds one value in every row: it cannot tell rows apart; leave it out of features"
        else:
            why = (
                f"holds one value in {share:.1f}% of its rows: it tells few rows apart, so it adds little to the "
                "model; leave it out of features unless its rare values matter"
            )
        lines.append(f"Data quality: {code_html(column)} {why}.")
    pairs = m.get("strong_correlations", [])
    for a, b, r in pairs[:SUMMARY_PAIRS]:
        lines.append(f"Data quality: {code_html(a)} and {code_html(b)} are strongly correlated (r = {r:.2f}).")
    if len(pairs) > SUMMARY_PAIRS:
        more = len(pairs) - SUMMARY_PAIRS
        lines.append(f"{more} more strongly correlated pair{'s' if more > 1 else ''}: see the Correlations section.")
    return lines


def _train(m: Mapping[str, Any]) -> list[str]:
    reason = f" ({escape(m['model_reason'])})" if m.get("model_reason") else ""
    lines = [
        *_task(m),
        f"Model: {escape(models.words(m['model']))}{reason}, trained on {m['train_rows']:,} rows; "
        f"{m['test_rows']:,} rows are held out.",
    ]
    if not _task_of(m).classes:
        return [
            *lines,
            f"Cross-validated RMSE {plus_minus(m['cv_rmse_mean'], m['cv_rmse_std'])}, "
            f"MAE {readable(m['cv_mae_mean'])}, "
            f"R² {m['cv_r2_mean']:.3f} ± {m['cv_r2_std']:.3f}, mean ± standard deviation over folds.",
        ]
    return [
        *lines,
        f"Cross-validated accuracy {m['cv_accuracy_mean']:.3f} ± {m['cv_accuracy_std']:.3f} "
        f"(macro F1 {m['cv_macro_f1_mean']:.3f} ± {m['cv_macro_f1_std']:.3f}), mean ± standard deviation over folds.",
    ]


def _against_baseline(better: bool, score: str, guess: str = "the mean for every row") -> str:
    if better:
        return f"A model that learned nothing, predicting {guess}, would score {score} on the same rows."
    return (
        f"<strong>The model is no better than predicting {guess}</strong> ({score} on the same rows): "
        "it has not learned from the features."
    )


def _checked(m: Mapping[str, Any]) -> list[str]:
    """The result check's verdict leads the summary when it questions the scores."""
    if m.get("result_check") != "check":
        return []
    return [f"<strong>Check this result</strong>: {escape(m.get('result_check_reason', ''))}."]


def _evaluate(m: Mapping[str, Any]) -> list[str]:
    return [*_checked(m), *_scores(m)]


def _task_of(m: Mapping[str, Any]) -> tasks.Task:
    """The stage's task (a stage's metrics without a task: classes)."""
    return tasks.named(m.get("task") or tasks.CLASSIFICATION)


def _scores(m: Mapping[str, Any]) -> list[str]:
    task = _task_of(m)
    if not task.classes:
        lines = [
            *_task(m),
            f"Test RMSE {readable(m['rmse'])}, MAE {readable(m['mae'])} and R² {m['r2']:.3f} "
            f"on {m['test_rows']:,} held-out rows.",
        ]
        if task.baseline in m:
            better = bool(task.beats_baseline(m))
            lines.append(_against_baseline(better, f"RMSE {readable(m[task.baseline])}"))
        errors = m.get("errors", {})
        if "90th percentile absolute error" in errors:
            lines.append(
                f"Half the predictions are within {readable(errors['median absolute error'])} of the actual value, "
                f"nine in ten within {readable(errors['90th percentile absolute error'])}."
            )
        piece = m.get("weakest_slice")
        if piece:
            lines.append(
                f"Weakest slice: {code_html(piece['slice'] + ' = ' + piece['value'])}, RMSE {readable(piece['rmse'])} "
                f"on {piece['rows']:,} rows."
            )
        return lines
    lines = [
        *_task(m),
        f"Test accuracy {m['accuracy']:.3f} and macro F1 {m['macro_f1']:.3f} on {m['test_rows']:,} held-out rows.",
    ]
    if task.baseline in m:
        always = f"always {code_html(m['baseline_class'])}"
        better = bool(task.beats_baseline(m))
        lines.append(_against_baseline(better, f"accuracy {m[task.baseline]:.3f}", always))
    per_class = m.get("per_class", {})
    weakest = m.get("weakest_class")
    if weakest in per_class:
        scores = per_class[weakest]
        if all(c["f1"] == 1 for c in per_class.values()):
            lines.append("Every class is predicted without error on the held-out rows.")
        else:
            lines.append(
                f"Weakest class: {code_html(weakest)}, F1 {scores['f1']:.3f} "
                f"(precision {scores['precision']:.3f}, recall {scores['recall']:.3f}, {scores['support']:,} rows)."
            )
    piece = m.get("weakest_slice")
    if piece:
        lines.append(
            f"Weakest slice: {code_html(piece['slice'] + ' = ' + piece['value'])}, accuracy {piece['accuracy']:.3f} "
            f"on {piece['rows']:,} rows."
        )
    return lines


WRITERS: dict[str, Callable[[Mapping[str, Any]], list[str]]] = {"eda": _eda, "train": _train, "evaluate": _evaluate}


def _metrics_as_sentences(m: Mapping[str, Any]) -> list[str]:
    """The summary of a stage without a writer of its own: each top-level number, in its format."""
    return [
        f"{escape(key.replace('_', ' ').capitalize())}: {metric_text(key, value)}."
        for key, value in m.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    ]


def summary(stage: str, metrics: Mapping[str, Any] | None, status: str, error: str | None = None) -> list[str]:
    """Return the report's summary sentences (HTML) for one notebook's run."""
    if status == "failed":
        return [f"The notebook failed, so there are no findings: {escape(error or 'see the error below')}."]
    if not metrics:
        return ["The notebook wrote no metrics."]
    try:
        return WRITERS.get(STAGES[stage].summary if stage in STAGES else "", _metrics_as_sentences)(metrics)
    except (KeyError, TypeError, ValueError) as err:  # metrics of an older layout: say so, never fail the run
        return [f"No summary: the metrics lack {escape(str(err))}."]
