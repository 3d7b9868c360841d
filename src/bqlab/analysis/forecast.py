"""The statements a stage will send, known before it runs: what a cost forecast dry-runs.

Each stage's list follows its notebook cell by cell, through the same statement builders the
helpers run (``*_statement``, ``*_sql``, ``per_column_statements``), so the text is the text the
notebook will send. One statement depends on the data: the most frequent value's share is
counted only for the features with few distinct values, unknown before the counts come back;
the forecast counts every feature there, a statement that reads the same columns or more, so it
never bills less than the stage will (BigQuery bills the bytes of the columns a statement reads).
A test runs each notebook's code and checks that every statement it sent is forecast.
"""

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from bqlab.analysis import aggregates, dates, queries, selection
from bqlab.sources.base import per_column_statements
from bqlab.sources.views import TableView
from bqlab.tasks import Task


class Statement(NamedTuple):
    """One statement as sent: its SQL text and its query parameters."""

    sql: str
    params: Mapping[str, Any] = {}


def _task_count(view: TableView, label: str) -> list[Statement]:
    """``targets.resolve_task``: the label's distinct values."""
    return [Statement(sql) for _, sql in aggregates.distinct_statements(view, [label])]


def preflight_statements(stages: Mapping[str, Any], view: TableView, task: Task) -> list[Statement]:
    """What ``analysis.checks.check_table`` sends before any notebook runs."""
    common = next(iter(stages.values()))
    out = [Statement(*s) for s in queries.profile_statements(view, common.split_columns, common.missing_values)]
    out += _task_count(view, common.label)
    if "train" in stages and task.classes:
        out.append(Statement(aggregates.class_counts_sql(view, common.label)))
    return out


def _eda(params, view: TableView, task: Task) -> list[Statement]:
    label = params.label
    numeric, categorical = aggregates.numeric_columns(view.schema, params.features)
    out = _task_count(view, label)
    out += [Statement(sql) for _, sql in aggregates.distinct_statements(view, params.columns)]
    out += [Statement(*s) for s in queries.profile_statements(view, params.columns, params.missing_values)]
    if task.classes:  # aggregates.label_summary
        out.append(Statement(aggregates.class_counts_sql(view, label)))
    else:
        out += _numeric_summary(view, label, [label], task)
    out.append(Statement(*queries.sample_statement(view, [label, *numeric], params.sample_rows, params.seed)))
    out += _numeric_summary(view, label, numeric, task)
    if not task.classes:  # selection.plot_features: each feature's correlation with the label
        out += [Statement(aggregates.correlations_sql(view, c)) for c in aggregates.label_chunks(label, numeric)]
    if categorical:
        slots, values = aggregates.category_counts_slots(label, params.top_values, task, params.missing_values)
        statements = per_column_statements("category_counts", view.sql, categorical, slots=slots)
        out += [Statement(sql, values) for sql in statements]
    out += [Statement(dates.monthly_sql(view, label, c, task)) for c in dates.date_columns(view, params.features)]
    correlated = selection.correlated_columns(numeric, label, task)
    if len(correlated) <= aggregates.SQL_CORRELATION_MAX_COLUMNS:  # aggregates.pairwise_correlations
        out += [Statement(aggregates.correlations_sql(view, c)) for c in aggregates.pair_chunks(correlated)]
    else:
        out.append(Statement(*queries.sample_statement(view, list(correlated), params.sample_rows, params.seed)))
    # top_value_shares over the features with few values: at most every feature (see the module doc)
    out += [Statement(sql) for sql in per_column_statements("top_value_share", view.sql, params.features)]
    return out


def _numeric_summary(view: TableView, label: str, numeric, task: Task) -> list[Statement]:
    slots = aggregates.numeric_summary_slots(label, task)
    return [Statement(sql) for sql in per_column_statements("numeric_summary", view.sql, numeric, slots=slots)]


def _split(params, view: TableView, task: Task) -> list[Statement]:
    """Training's and evaluation's split (``queries.fetch_split``), after the task's count."""
    return [*_task_count(view, params.label), Statement(*queries.params_split_statement(view, params, task))]


# Stage name -> the statements its notebook sends (a test checks that every stage has an entry).
STAGE_STATEMENTS: dict[str, Callable[[Any, TableView, Task], list[Statement]]] = {
    "eda": _eda,
    "train": _split,
    "evaluate": _split,
}


def stage_statements(stage: str, params, view: TableView, task: Task) -> list[Statement]:
    """The statements ``stage``'s notebook sends with ``params`` (its stage's params) on ``view``."""
    return STAGE_STATEMENTS[stage](params, view, task)
