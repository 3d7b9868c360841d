"""The checks of params against the table, run before any work.

The runner runs them before any notebook runs (its first kernel starts meanwhile); a notebook
run by hand, before its analysis.

Checks, cheapest first: the table's schema (metadata) against every column named in params and
the types a model can use; then a few aggregate queries: rows, the missing values per column,
the label's distinct values (which decide ``task: auto``), the model for the task and, for
classes, the rows per class.
"""

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bqlab import models
from bqlab.analysis.aggregates import MISSING_CLASS, class_counts
from bqlab.analysis.queries import GROUP_TYPES, column_profile
from bqlab.analysis.targets import check_classes_before_split, resolve_task
from bqlab.errors import DataError, ParamsError
from bqlab.sources import open_source
from bqlab.sources.views import DATE_TYPES, MODEL_TYPES, table_view

# Names the params file (or the notebook cell) that sets a key: where(stage, key) -> "params/common.yaml".
Where = Callable[..., str]


@dataclass(frozen=True)
class TableFacts:
    """What the checks learnt about the table."""

    rows: int
    schema: dict[str, str]
    task: Any  # targets.Task


def check_table(stages: Mapping[str, Any], where: Where, engine=None) -> TableFacts:
    """Check the params of ``stages`` (stage -> its params) against the table; return what was learnt.

    ``engine`` is an open source (one is opened on the first stage's params if not given).

    Raises:
        DataError, ParamsError: naming the params file (``where``) and key to change.
    """
    first_stage, common = next(iter(stages.items()))
    engine = engine or open_source(common, "preflight")
    view = checked_view(stages, where, engine)
    rows = engine.row_count(common.table)
    if rows == 0:
        raise DataError(
            f"{where(first_stage, 'table')}: table {common.table!r} has no rows: point 'table' at a table with data"
        )
    profile = column_profile(engine, view, common.split_columns, common.missing_values)
    empty = [
        r.column_name
        for r in profile.itertuples()
        if r.null_count + r.placeholder_count + r.cast_failed_count >= r.row_count
    ]
    if empty:
        role = "label" if common.label in empty else "features"
        raise DataError(
            f"{where(first_stage, role)}: {', '.join(map(repr, empty))} (key {role!r}) has no value in any of the "
            f"{rows:,} rows (NULL, a placeholder or a failed cast everywhere): remove it from {role}, or fix "
            "column_types and missing_values"
        )
    try:
        task = resolve_task(engine, view, common)
    except DataError as err:
        raise DataError(f"{where(first_stage, 'task')}: {err}") from None
    train = stages.get("train")
    if train is not None:
        problem = models.model_problem(train.model, task.name)
        if problem:
            raise ParamsError(f"{where('train', 'model')}: key 'model': {problem} ({task.reason})")
        for model in models.candidates(train.model):
            unknown = sorted(set(train.settings_for(model)) - models.hyperparameter_names(model, task.name))
            if unknown:
                raise ParamsError(
                    f"{where('train', 'hyperparameters')}: key 'hyperparameters': {unknown} do not apply to "
                    f"{model} for {task.name}: remove them"
                )
        checks = [(m, [task.name], train.settings_for(m)) for m in models.candidates(train.model)]
        for (model, _, _), problem in zip(checks, models.value_problems(checks), strict=True):
            if problem:
                raise ParamsError(f"{where('train', 'hyperparameters')}: key 'hyperparameters' ({model}): {problem}")
        if task.classes:
            balance = class_counts(engine, view, common.label)
            placeholders = {MISSING_CLASS, *common.missing_values}
            counts = {
                v: int(n)
                for v, n in zip(balance[common.label], balance["rows"], strict=True)
                if str(v) not in placeholders
            }
            try:
                check_classes_before_split(
                    counts, common.label, train.cv_folds, common.test_fraction, where("train", "cv_folds")
                )
            except DataError as err:
                raise DataError(f"{where(first_stage, 'label')}: {err}") from None
    return TableFacts(rows, view.schema, task)


def checked_view(stages: Mapping[str, Any], where: Where, engine):
    """The table as params see it (``table_view``), after checking the columns params name; from metadata only.

    Raises:
        DataError: naming the params file (``where``) and key to change.
    """
    first_stage, common = next(iter(stages.items()))
    try:
        view = table_view(engine, common.table, common.column_types, common.features)
    except DataError as err:
        key = "column_types" if common.column_types else "table"
        raise DataError(f"{where(first_stage, key)}: {err}") from None
    check_columns(stages, where, view)
    return view


def check_columns(stages: Mapping[str, Any], where: Where, view) -> None:
    """Check that every column params name is in the table with a type its role takes (metadata only, nothing billed).

    Raises:
        DataError: naming the params file (``where``), the key and the table's columns.
    """
    common = next(iter(stages.values()))
    schema = view.schema
    for stage, stage_params in stages.items():
        for column in stage_params.columns:
            role = (
                "label"
                if column == common.label
                else "features"
                if column in common.features
                else "split_group"
                if column == common.split_group
                else "slice_columns"
            )
            if column not in schema:
                close = difflib.get_close_matches(column, list(schema), n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise DataError(
                    f"{where(stage, role)}: column {column!r} (key {role!r}, used by {stage}) is not in "
                    f"table {common.table!r}; {hint}its columns are: {', '.join(schema)}"
                )
            if role == "split_group" and schema[column] not in GROUP_TYPES:
                raise DataError(
                    f"{where(stage, role)}: column {column!r} (key 'split_group') has type {schema[column]}, which "
                    f"cannot name a group: use a column of type {', '.join(sorted(GROUP_TYPES))}"
                )
            if role == "label" and schema[column] in DATE_TYPES:
                raise DataError(
                    f"{where(stage, role)}: column {column!r} (key 'label') has type {schema[column]}: a date or a "
                    "time cannot be the label, since the models predict classes or numbers; choose another label, "
                    "or add the number to predict (e.g. days until an event, as INT64) as a column of the table"
                )
            usable = MODEL_TYPES | DATE_TYPES if role == "features" else MODEL_TYPES
            if role not in ("slice_columns", "split_group") and schema[column] not in usable:
                raise DataError(
                    f"{where(stage, role)}: column {column!r} (key {role!r}) has type {schema[column]}, "
                    f"which the models cannot use (they read {', '.join(sorted(usable))}): remove it from "
                    "the params, or add a column derived from it to the table (e.g. days since an event as "
                    "INT64, or the month as STRING)"
                )
