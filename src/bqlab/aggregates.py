"""Data-analysis statistics computed in SQL, on BigQuery or the embedded engine.

Each helper runs one named query over the whole table and brings back aggregates only, so
the work and the memory on this side do not grow with the table.
"""

from collections.abc import Mapping, Sequence

import pandas as pd

from bqlab.data import Source, named_query, union_per_column
from bqlab.identifiers import quote_column, quote_table

NUMERIC_TYPES = {"INT64", "FLOAT64", "NUMERIC", "BIGNUMERIC"}
MISSING_CLASS = "<missing>"


def numeric_columns(schema: Mapping[str, str], columns: Sequence[str]) -> tuple[list[str], list[str]]:
    """Return (numeric, categorical) among ``columns`` from the table's BigQuery types."""
    numeric = [c for c in columns if schema.get(c) in NUMERIC_TYPES]
    return numeric, [c for c in columns if c not in numeric]


def distinct_counts(source: Source, table: str, columns: Sequence[str]) -> dict[str, int]:
    """Return the number of distinct non-NULL values of each column."""
    counts = ", ".join(f"COUNT(DISTINCT {quote_column(c)}) AS distinct_{i}" for i, c in enumerate(columns))
    row = source.query(named_query("distinct_counts", table=quote_table(table), counts=counts)).iloc[0]
    return {c: int(row[f"distinct_{i}"]) for i, c in enumerate(columns)}


def class_counts(source: Source, table: str, label: str) -> pd.DataFrame:
    """Return rows and share per label value, largest first; NULL labels are ``<missing>``."""
    frame = source.query(named_query("class_counts", table=quote_table(table), label=quote_column(label)))
    values = frame["class_value"].astype(object).where(frame["class_value"].notna(), MISSING_CLASS)
    rows = frame["row_count"].astype("int64")
    share = (100 * rows / max(int(rows.sum()), 1)).round(2)
    return pd.DataFrame({label: values.to_numpy(), "rows": rows.to_numpy(), "share_pct": share.to_numpy()})


def numeric_summary(source: Source, table: str, label: str, numeric: Sequence[str]) -> pd.DataFrame:
    """Return count, mean, std, min, quartiles and max of each numeric column per class (one query)."""
    columns = ["column", label, "count", "mean", "std", "min", "q1", "median", "q3", "max"]
    if not numeric:
        return pd.DataFrame(columns=columns)
    frame = source.query(union_per_column("numeric_summary", table, numeric, label=quote_column(label)))
    quartiles = frame["quartiles"].map(lambda q: list(q) if hasattr(q, "__len__") and len(q) == 5 else [None] * 5)
    out = pd.DataFrame(
        {
            "column": frame["column_name"],
            label: frame["class_value"].astype(object).where(frame["class_value"].notna(), MISSING_CLASS),
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
    return out.reset_index(drop=True).round(3)


def category_counts(
    source: Source, table: str, label: str, categorical: Sequence[str], top_values: int
) -> pd.DataFrame:
    """Return rows per (column, value) and class for the ``top_values`` most frequent values of each column."""
    if not categorical:
        return pd.DataFrame()
    sql = union_per_column("category_counts", table, categorical, label=quote_column(label))
    frame = source.query(sql, {"top_values": int(top_values)})
    frame["class_value"] = frame["class_value"].astype(object).where(frame["class_value"].notna(), MISSING_CLASS)
    table_ = frame.pivot_table(
        index=["column_name", "value"], columns="class_value", values="row_count", aggfunc="sum", fill_value=0
    )
    table_ = table_.astype("int64")
    order = {c: i for i, c in enumerate(categorical)}
    table_ = table_.sort_index(key=lambda s: s.map(order) if s.name == "column_name" else s)
    table_.index.names, table_.columns.name = ["column", "value"], label
    return table_


def correlations(source: Source, table: str, numeric: Sequence[str]) -> pd.DataFrame:
    """Return the Pearson correlation matrix of the numeric columns (CORR in SQL, one scan)."""
    matrix = pd.DataFrame(1.0, index=list(numeric), columns=list(numeric))
    pairs = [(i, j) for i in range(len(numeric)) for j in range(i + 1, len(numeric))]
    if not pairs:
        return matrix
    select = ", ".join(f"CORR({quote_column(numeric[i])}, {quote_column(numeric[j])}) AS r_{i}_{j}" for i, j in pairs)
    row = source.query(named_query("correlations", table=quote_table(table), pairs=select)).iloc[0]
    for i, j in pairs:
        value = row[f"r_{i}_{j}"]
        matrix.iloc[i, j] = matrix.iloc[j, i] = float(value) if pd.notna(value) else float("nan")
    return matrix.round(3)
