"""Date and time features in the data analysis: rows and the label per month, computed in SQL.

A DATE, DATETIME or TIMESTAMP feature reaches the model as numeric parts the view computes in
SQL (``bqlab.sources.views.DATE_PARTS``: year, month, day of week, day of year, days since the
first day); this module shows how the rows and the label spread over time.
"""

from collections.abc import Sequence

import pandas as pd

from bqlab.analysis.tables import EMPTY_NOTE
from bqlab.sources.base import Source, named_query
from bqlab.sources.identifiers import quote_column
from bqlab.sources.views import DATE_TYPES, TableView, as_date, date_part_names
from bqlab.tasks import Task

# Classes shown as shares per month; the rest are added up as "other".
MONTHLY_CLASSES = 5


def date_columns(view: TableView, columns: Sequence[str]) -> list[str]:
    """The columns among ``columns`` whose type (after casts) is a date or a time."""
    return [c for c in columns if view.schema.get(c) in DATE_TYPES]


def monthly_table(source: Source, view: TableView, label: str, columns: Sequence[str], task: Task) -> pd.DataFrame:
    """Rows per month of each date column, with the label's mean (a number) or each class's share of the month."""
    frames = [_monthly(source, view, label, column, task).assign(column=column) for column in columns]
    if not frames:
        empty = pd.DataFrame(columns=["column", "month", "rows"])
        empty.attrs[EMPTY_NOTE] = "There is no date or time feature."
        return empty
    table = pd.concat(frames, ignore_index=True)
    return table[["column", *[c for c in table.columns if c != "column"]]]


def monthly_sql(view: TableView, label: str, column: str, task: Task) -> str:
    """The statement of one date column's rows per month (``monthly_table``)."""
    quoted = quote_column(label)
    regression = not task.classes
    return named_query(
        "monthly_counts",
        table=view.sql,
        day=as_date(column, view.schema[column]),
        label="''" if regression else f"CAST({quoted} AS STRING)",
        number=f"CAST({quoted} AS FLOAT64)" if regression else "CAST(NULL AS FLOAT64)",
    )


def _monthly(source: Source, view: TableView, label: str, column: str, task: Task) -> pd.DataFrame:
    regression = not task.classes
    frame = source.query(monthly_sql(view, label, column, task))
    if frame.empty:
        return pd.DataFrame(columns=["month", "rows"])
    months = frame.groupby("month", sort=True)
    table = pd.DataFrame({"month": list(months.groups), "rows": months["row_count"].sum().astype(int).to_numpy()})
    if regression:
        table[f"mean {label}"] = (months["label_sum"].sum() / months["label_count"].sum()).to_numpy()
        return table
    counts = frame.pivot_table(index="month", columns="class_value", values="row_count", aggfunc="sum", fill_value=0)
    top = counts.sum().sort_values(ascending=False).index[:MONTHLY_CLASSES]
    shares = counts[top].div(counts.sum(axis=1), axis=0).mul(100)
    if len(counts.columns) > MONTHLY_CLASSES:
        shares["other"] = 100 - shares.sum(axis=1)
    for value in shares.columns:
        table[f"share of {value}"] = shares[value].to_numpy()
    return table


def parts_note(view: TableView, columns: Sequence[str]) -> str:
    """A sentence naming the parts each date feature becomes for the model ("" without date features)."""
    dates = [c for c in columns if c in view.date_features]
    if not dates:
        return ""
    listed = "; ".join(f"`{c}` → " + ", ".join(f"`{p}`" for p in date_part_names(c)) for c in dates)
    return f"Date features reach the model as numeric parts computed in SQL: {listed}."
