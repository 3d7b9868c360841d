"""The label: which task it calls for, whether its classes can be learnt, and its values for a model.

``task: auto`` in params decides from the label's type and number of distinct values: text and
booleans are classes; a number with at most ``MAX_AUTO_CLASSES`` distinct values is a class
label (0/1, ratings), any other number is a quantity to predict (regression). The decision and
its reason are written into every report.
"""

import contextlib
import math
from collections.abc import Mapping

import pandas as pd

from bqlab.analysis.aggregates import distinct_counts
from bqlab.analysis.numbers import class_text
from bqlab.errors import DataError
from bqlab.sources.views import MODEL_TYPES, NUMERIC_TYPES
from bqlab.tasks import AUTO, CLASSIFICATION, REGRESSION, Task, named

MAX_AUTO_CLASSES = 10


def decide_task(requested: str, label: str, label_type: str, distinct: int) -> Task:
    """Return the task for a label of BigQuery type ``label_type`` with ``distinct`` values.

    Raises:
        DataError: the label's type cannot serve the requested task, or any task.
    """
    if label_type not in MODEL_TYPES:
        raise DataError(
            f"label {label!r} has type {label_type}, which a model cannot predict: choose another label, "
            "or cast it with column_types"
        )
    numeric = label_type in NUMERIC_TYPES
    described = f"label {label!r} is {label_type} with {distinct:,} distinct value{'s' if distinct != 1 else ''}"
    if requested != AUTO:
        task = named(requested)
        if not task.classes and not numeric:
            raise DataError(
                f"task: {task} needs a numeric label, and {described}: set task: {CLASSIFICATION}, "
                f"or cast the label with column_types (e.g. {label}: FLOAT64)"
            )
        return task.with_reason(f"set in params ({described})")
    if numeric and distinct > MAX_AUTO_CLASSES:
        return REGRESSION.with_reason(
            f"task auto: {described} (more than {MAX_AUTO_CLASSES}), so it is predicted as a number; "
            "set task: classification in params/common.yaml to treat its values as classes",
        )
    kind = "numbers" if numeric else "text" if label_type == "STRING" else label_type.lower()
    return CLASSIFICATION.with_reason(
        f"task auto: {described} ({kind}"
        f"{f', at most {MAX_AUTO_CLASSES} values' if numeric else ''}), so its values are classes"
        f"{'; set task: regression in params/common.yaml to predict it as a number' if numeric else ''}",
    )


def possible_tasks(params, label_type: str) -> list[Task]:
    """The tasks ``resolve_task`` may decide, known before the label's values are counted.

    One, unless the task is auto on a numeric label: then classes or a number, by the count.
    """
    found: dict[str, Task] = {}
    for distinct in (2, MAX_AUTO_CLASSES + 1):
        with contextlib.suppress(DataError):  # the checks before any run refuse a label no task fits
            task = decide_task(params.task, params.label, label_type, distinct)
            found.setdefault(task.name, task)
    return list(found.values())


def resolve_task(source, view, params) -> Task:
    """Decide the task of a run from params and the label's type and distinct values (one SQL count)."""
    distinct = distinct_counts(source, view, [params.label])[params.label]
    return decide_task(params.task, params.label, view.schema[params.label], distinct)


# Classes named at most in a message; the rest are counted.
LISTED_CLASSES = 8
MIN_CV_FOLDS = 2  # the fewest folds params accept (cv_folds)
CV_FOLDS_AT = "params/02-train.yaml"


def _listed(counts: Mapping) -> str:
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
    shown = ", ".join(f"{value!r}: {int(n):,}" for value, n in ranked[:LISTED_CLASSES])
    return shown + (f" and {len(ranked) - LISTED_CLASSES:,} more" if len(ranked) > LISTED_CLASSES else "")


def check_classes(
    counts: Mapping,
    label: str,
    minimum: int | None = None,
    where: str = "the labelled rows",
    why: str = "",
    folds_at: str = CV_FOLDS_AT,
    cv_folds: int | None = None,
) -> None:
    """Refuse a class label a model cannot learn: one class, or a class with fewer than ``minimum`` rows.

    Args:
        counts: rows per class (missing labels left out).
        label: the label column, for the message.
        minimum: the rows each class needs (None: no minimum).
        where: which rows were counted, for the message.
        why: why a class needs ``minimum`` rows, for the message.
        folds_at: the params file that sets cv_folds, for the message.
        cv_folds: the folds asked for; at the fewest (2), the fix is a larger table, not fewer folds.

    Raises:
        DataError: naming the class counts and the params key to change.
    """
    if len(counts) < 2:
        raise DataError(
            f"label {label!r} has {len(counts)} class{'es' if len(counts) != 1 else ''} in {where} "
            f"({_listed(counts) or 'none'}): a classifier needs at least two; choose another label, or check "
            "missing_values (placeholders are left out)"
        )
    rare = {value: n for value, n in counts.items() if minimum is not None and n < minimum}
    if rare:
        if cv_folds is not None and cv_folds <= MIN_CV_FOLDS:
            fix = (
                f"the table is too small for cross-validation (cv_folds={cv_folds} is the fewest): use a table "
                "with more rows of each class, or leave the rare classes out of the table"
            )
        else:
            fix = f"lower cv_folds in {folds_at}, or leave the rare classes out of the table"
        raise DataError(
            f"label {label!r}: {len(rare)} class(es) in {where} have fewer than {minimum} rows, {why} "
            f"({_listed(rare)}; all classes: {_listed(counts)}): {fix}{_many_values_hint(counts, label)}"
        )


def _many_values_hint(counts: Mapping, label: str) -> str:
    if len(counts) <= 5 * MAX_AUTO_CLASSES:
        return ""
    return (
        f"; with {len(counts):,} distinct values the label may be a number or an id: a number stored as text "
        f"is cast with column_types ({label}: FLOAT64) and predicted with task: regression"
    )


def check_classes_before_split(
    counts: Mapping, label: str, cv_folds: int, test_fraction: float, folds_at: str = CV_FOLDS_AT
) -> None:
    """The class check the runner makes before any notebook: each class must leave enough training rows.

    A class needs about ``cv_folds / (1 - test_fraction)`` labelled rows for its training share to
    fill the folds; the training notebook checks the exact counts after the split.
    """
    needed = math.ceil(cv_folds / (1 - test_fraction))
    why = f"the least that fills cv_folds={cv_folds} folds once test_fraction={test_fraction} is held out"
    check_classes(counts, label, needed, "the table", why, folds_at, cv_folds)


def label_values(labels: pd.Series, task: Task) -> pd.Series:
    """Return the label as a model needs it: numbers for regression; for classes, plain values.

    Classes keep their type (booleans stay booleans, whole numbers become integers, the rest
    text), so scikit-learn sees a binary or multiclass target and reports show the values.
    """
    if not task.classes:
        return pd.to_numeric(labels, errors="coerce").astype("float64")
    if pd.api.types.is_bool_dtype(labels):
        return labels.astype(bool)
    if pd.api.types.is_numeric_dtype(labels):
        numbers = labels.astype("float64")
        if (numbers % 1 == 0).all():
            return numbers.astype("int64")
        return numbers.map(lambda v: str(class_text(v)))  # 1.5 -> "1.5": classes, not a continuous target
    return labels.astype(str)


def check_training_labels(labels: pd.Series, label: str, task: Task, cv_folds: int) -> None:
    """Refuse training rows whose classes cannot fill the folds, before any model is fitted.

    Raises:
        DataError: naming the class counts of the training rows and the params key to change.
    """
    if not task.classes:
        if len(labels) < cv_folds:
            raise DataError(
                f"the {len(labels):,} training rows are too few for cv_folds={cv_folds} folds: "
                + ("use a table with more rows" if cv_folds <= MIN_CV_FOLDS else f"lower cv_folds in {CV_FOLDS_AT}")
            )
        if labels.nunique() < 2:
            raise DataError(
                f"label {label!r} has a single value in the {len(labels):,} training rows: nothing to predict; "
                "choose another label in params/common.yaml"
            )
        return
    why = f"the cv_folds={cv_folds} stratified folds need"
    check_classes(labels.value_counts().to_dict(), label, cv_folds, "the training rows", why, cv_folds=cv_folds)
