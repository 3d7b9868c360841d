"""Data-analysis statistics computed in SQL, on BigQuery or the embedded engine.

Each helper runs named queries over the whole table and brings back aggregates only, so the
work and the memory on this side do not grow with the table. Per-column statistics run a
bounded number of columns per statement (``bqlab.sources.base.COLUMNS_PER_QUERY``), so a table with
hundreds of columns is read in several small statements, not one huge one.
"""

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from bqlab.analysis.numbers import class_text
from bqlab.analysis.queries import sample_rows as take_sample
from bqlab.analysis.tables import EMPTY_NOTE
from bqlab.sources.base import Source, named_query, query_per_column
from bqlab.sources.identifiers import quote_column
from bqlab.sources.views import DATE_TYPES, NUMERIC_TYPES, TableView, as_view
from bqlab.tasks import CLASSIFICATION, Task

MISSING_CLASS = "<missing>"
# Columns per COUNT(DISTINCT ...) statement, and CORR pairs per statement.
DISTINCT_PER_QUERY = 50
PAIRS_PER_QUERY = 500
# Up to this many numeric columns (465 pairs), every pairwise correlation is computed in SQL over
# the whole table; beyond, from the deterministic sample (``pairwise_correlations``).
SQL_CORRELATION_MAX_COLUMNS = 30
# The most frequent value's share is counted for columns with at most this many distinct values:
# a column with more cannot be nearly constant in a way that matters.
TOP_SHARE_MAX_VALUES = 10


def numeric_columns(schema: Mapping[str, str], columns: Sequence[str]) -> tuple[list[str], list[str]]:
    """Return (numeric, categorical) among ``columns`` from the table's BigQuery types (dates are neither)."""
    numeric = [c for c in columns if schema.get(c) in NUMERIC_TYPES]
    return numeric, [c for c in columns if c not in numeric and schema.get(c) not in DATE_TYPES]


def distinct_statements(view: TableView, columns: Sequence[str]) -> list[tuple[list[str], str]]:
    """The statements of ``distinct_counts``: (columns, SQL), ``DISTINCT_PER_QUERY`` columns to one."""
    statements = []
    for start in range(0, len(columns), DISTINCT_PER_QUERY):
        chunk = list(columns[start : start + DISTINCT_PER_QUERY])
        counts = ", ".join(f"COUNT(DISTINCT {quote_column(c)}) AS distinct_{i}" for i, c in enumerate(chunk))
        statements.append((chunk, named_query("distinct_counts", table=view.sql, counts=counts)))
    return statements


def distinct_counts(source: Source, table: TableView | str, columns: Sequence[str]) -> dict[str, int]:
    """Return the number of distinct non-NULL values of each column."""
    out = dict[str, int]()
    for chunk, sql in distinct_statements(as_view(source, table), columns):
        row = source.query(sql).iloc[0]
        out |= {c: int(row[f"distinct_{i}"]) for i, c in enumerate(chunk)}
    return out


def class_counts_sql(view: TableView, label: str) -> str:
    """The statement of ``class_counts``."""
    return named_query("class_counts", table=view.sql, label=quote_column(label))


def class_counts(source: Source, table: TableView | str, label: str) -> pd.DataFrame:
    """Return rows and share per label value, largest first; NULL labels are ``<missing>``."""
    frame = source.query(class_counts_sql(as_view(source, table), label))
    values = frame["class_value"].astype(object).where(frame["class_value"].notna(), MISSING_CLASS)
    values = values.map(class_text).astype(object)
    rows = frame["row_count"].astype("int64")
    share = (100 * rows / max(int(rows.sum()), 1)).round(2)
    return pd.DataFrame({label: values.to_numpy(), "rows": rows.to_numpy(), "share_pct": share.to_numpy()})


ALL_ROWS = "all rows"


def numeric_summary_slots(label: str, task: Task) -> dict[str, str]:
    """The slots of ``numeric_summary``'s per-column statements: per class, or over all rows."""
    if task.classes:
        return {"label": quote_column(label), "group": "GROUP BY class_value"}
    return {"label": f"'{ALL_ROWS}'", "group": ""}


def numeric_summary(
    source: Source, table: TableView | str, label: str, numeric: Sequence[str], task: Task = CLASSIFICATION
) -> pd.DataFrame:
    """Return count, mean, std, min, quartiles and max of each numeric column.

    Per class (a ``label`` column) for classification; over all rows for regression (no
    ``label`` column).
    """
    columns = ["column", label, "count", "mean", "std", "min", "q1", "median", "q3", "max"]
    if not numeric:
        empty = pd.DataFrame(columns=columns)
        empty.attrs[EMPTY_NOTE] = "There is no numeric feature to summarise."
        return empty
    view = as_view(source, table)
    frame = query_per_column(source, "numeric_summary", view.sql, numeric, slots=numeric_summary_slots(label, task))
    quartiles = frame["quartiles"].map(lambda q: list(q) if hasattr(q, "__len__") and len(q) == 5 else [None] * 5)
    out = pd.DataFrame(
        {
            "column": frame["column_name"],
            label: frame["class_value"]
            .astype(object)
            .where(frame["class_value"].notna(), MISSING_CLASS)
            .map(class_text)
            .astype(object),
            "count": frame["value_count"].astype("int64"),
            "mean": frame["mean"].astype("float64"),
            "std": frame["std"].astype("float64"),
            "min": frame["min"].astype("float64"),
            "q1": quartiles.map(lambda q: q[1]).astype("float64"),
            "median": quartiles.map(lambda q: q[2]).astype("float64"),
            "q3": quartiles.map(lambda q: q[3]).astype("float64"),
            "max": frame["max"].astype("float64"),
        }
    )
    order = {c: i for i, c in enumerate(numeric)}
    out = out.sort_values(["column", label], key=lambda s: s.map(order) if s.name == "column" else s.astype(str))
    out = out.reset_index(drop=True).round(3)
    return out if task.classes else out.drop(columns=[label])


def category_counts_slots(
    label: str, top_values: int, task: Task, missing_values: Sequence[str]
) -> tuple[dict[str, str], dict[str, Any]]:
    """The slots and query parameters of ``category_counts``' per-column statements."""
    if task.classes:
        slots = {
            "per_value": f"t.{quote_column(label)} AS class_value, COUNT(*) AS row_count",
            "group": ", class_value",
        }
    else:
        slots = {"per_value": f"COUNT(*) AS row_count, AVG(t.{quote_column(label)}) AS label_mean", "group": ""}
    return slots, {"top_values": int(top_values), "missing_values": [str(v) for v in missing_values]}


def category_counts(
    source: Source,
    table: TableView | str,
    label: str,
    categorical: Sequence[str],
    top_values: int,
    task: Task = CLASSIFICATION,
    missing_values: Sequence[str] = (),
) -> pd.DataFrame:
    """Return, for the ``top_values`` most frequent values of each categorical column, the rows per class.

    For regression: the rows and the mean label of each value. Placeholders (``missing_values``,
    such as ".") are missing data, counted as such elsewhere, never listed as a value.
    """
    if not categorical:
        empty = pd.DataFrame()
        empty.attrs[EMPTY_NOTE] = "There is no categorical feature to count values of."
        return empty
    view = as_view(source, table)
    slots, params = category_counts_slots(label, top_values, task, missing_values)
    frame = query_per_column(source, "category_counts", view.sql, categorical, params, slots=slots)
    order = {c: i for i, c in enumerate(categorical)}
    if not task.classes:
        out = frame.rename(columns={"column_name": "column", "row_count": "rows", "label_mean": f"mean {label}"})
        out["rows"] = out["rows"].astype("int64")
        out[f"mean {label}"] = out[f"mean {label}"].astype("float64").round(3)
        out = out.sort_values(["column", "rows"], key=lambda s: s.map(order) if s.name == "column" else -s)
        return out.set_index(["column", "value"])
    frame["class_value"] = (
        frame["class_value"].astype(object).where(frame["class_value"].notna(), MISSING_CLASS).map(class_text)
    ).astype(object)
    table_ = frame.pivot_table(
        index=["column_name", "value"], columns="class_value", values="row_count", aggfunc="sum", fill_value=0
    )
    table_ = table_.astype("int64")
    table_ = table_.sort_index(key=lambda s: s.map(order) if s.name == "column_name" else s)
    table_.index.names, table_.columns.name = ["column", "value"], label
    return table_


def correlation_pairs(source: Source, table: TableView | str, numeric: Sequence[str]) -> pd.DataFrame:
    """Return the Pearson correlation of every pair of numeric columns (a, b, r): CORR in SQL.

    ``PAIRS_PER_QUERY`` pairs to a statement. A pair without variation has r NaN.
    """
    view = as_view(source, table)
    rows = []
    for chunk in pair_chunks(numeric):
        rows += _correlate(source, view, chunk)
    return pd.DataFrame(rows, columns=["a", "b", "r"]).round({"r": 3})


def pair_chunks(numeric: Sequence[str]) -> list[list[tuple[str, str]]]:
    """Every pair of ``numeric``, ``PAIRS_PER_QUERY`` to a statement."""
    pairs = [(a, b) for i, a in enumerate(numeric) for b in numeric[i + 1 :]]
    return [pairs[start : start + PAIRS_PER_QUERY] for start in range(0, len(pairs), PAIRS_PER_QUERY)]


def label_chunks(label: str, numeric: Sequence[str]) -> list[list[tuple[str, str]]]:
    """Each numeric column paired with the label, ``PAIRS_PER_QUERY`` to a statement."""
    starts = range(0, len(numeric), PAIRS_PER_QUERY)
    return [[(c, label) for c in numeric[start : start + PAIRS_PER_QUERY]] for start in starts]


def correlations_sql(view: TableView, chunk: Sequence[tuple[str, str]]) -> str:
    """One statement: CORR of each pair in ``chunk``."""
    select = ", ".join(f"CORR({quote_column(a)}, {quote_column(b)}) AS r_{k}" for k, (a, b) in enumerate(chunk))
    return named_query("correlations", table=view.sql, pairs=select)


def _correlate(source: Source, view: TableView, chunk: Sequence[tuple[str, str]]) -> list[tuple[str, str, float]]:
    """One statement: CORR of each pair in ``chunk``."""
    row = source.query(correlations_sql(view, chunk)).iloc[0]
    values = pd.to_numeric(row, errors="coerce").to_numpy(dtype="float64")  # NULL (no variation) -> NaN
    return [(a, b, float(r)) for (a, b), r in zip(chunk, values, strict=True)]


def label_correlations(source: Source, table: TableView | str, label: str, numeric: Sequence[str]) -> pd.Series:
    """Return |r|, the size of each numeric column's Pearson correlation with a numeric label (CORR in SQL)."""
    view, out = as_view(source, table), dict[str, float]()
    for chunk in label_chunks(label, numeric):
        out |= {a: abs(r) for a, _, r in _correlate(source, view, chunk)}
    return pd.Series(out, name="association", dtype="float64")


def pairwise_correlations(
    source: Source, table: TableView | str, columns: Sequence[str], sample_rows: int, seed: int
) -> pd.DataFrame:
    """Return the Pearson correlation of every pair of ``columns`` (a, b, r).

    Up to ``SQL_CORRELATION_MAX_COLUMNS`` columns: CORR in SQL over the whole table. Beyond, the
    pairs grow with the square of the columns (44,850 for 300, a dozen scans of the table in
    BigQuery): they come from the deterministic sample of ``sample_rows`` rows instead (one scan;
    on 2,000 rows an estimate of r within about ±0.05), with NULLs left out pair by pair as CORR does.
    """
    if len(columns) <= SQL_CORRELATION_MAX_COLUMNS:
        return correlation_pairs(source, table, columns)
    sample = take_sample(source, table, list(columns), sample_rows, seed).astype("float64")
    matrix = sample.corr(method="pearson", min_periods=2)
    rows = [(a, b, float(matrix.loc[a, b])) for i, a in enumerate(columns) for b in columns[i + 1 :]]
    return pd.DataFrame(rows, columns=["a", "b", "r"]).round({"r": 3})


def correlation_matrix(pairs: pd.DataFrame, numeric: Sequence[str]) -> pd.DataFrame:
    """Return the correlation pairs as a symmetric matrix over ``numeric`` (1 on the diagonal)."""
    matrix = pd.DataFrame(1.0, index=list(numeric), columns=list(numeric))
    for a, b, r in pairs.itertuples(index=False):
        if a in matrix.index and b in matrix.index:
            matrix.loc[a, b] = matrix.loc[b, a] = r
    return matrix


def few_valued(columns: Sequence[str], distinct: Mapping[str, int]) -> list[str]:
    """The columns ``top_value_shares`` counts: those with at most ``TOP_SHARE_MAX_VALUES`` distinct values."""
    return [c for c in columns if distinct.get(c, 0) <= TOP_SHARE_MAX_VALUES]


def top_value_shares(
    source: Source, table: TableView | str, columns: Sequence[str], distinct: Mapping[str, int]
) -> dict[str, float]:
    """The most frequent value's share of the rows with a value, of each of ``columns`` with few distinct values.

    ``distinct``: distinct values per column (``distinct_counts``); columns with more than
    ``TOP_SHARE_MAX_VALUES`` are left out. One SQL statement per 50 columns.
    """
    few = few_valued(columns, distinct)
    if not few:
        return {}
    view = as_view(source, table)
    counts = query_per_column(source, "top_value_share", view.sql, few)
    return {r.column_name: r.top_rows / r.present_rows for r in counts.itertuples() if r.present_rows}


def label_summary(source: Source, table: TableView | str, label: str, task: Task) -> pd.DataFrame:
    """Rows per class (classification), or the label's count, mean, spread and quartiles (regression)."""
    if not task.classes:
        return numeric_summary(source, table, label, [label], task)
    return class_counts(source, table, label)
