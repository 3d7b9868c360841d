"""The queries notebooks run: a column profile, a deterministic sample and the train/test split.

Each is a named query of ``bqlab/sources/sql`` (BigQuery Standard SQL) run against a Source, so
the same rows come back on BigQuery and on the embedded engine.
"""

from collections.abc import Sequence
from typing import Any

import pandas as pd

from bqlab.errors import DataError
from bqlab.sources.base import Source, named_query, query_per_column
from bqlab.sources.identifiers import quote_column, quote_table
from bqlab.sources.views import TableView, as_view, cast_expression


def fetch_columns(source: Source, table: TableView | str, columns: Sequence[str]) -> pd.DataFrame:
    """Return ``columns`` of every row of the table; an empty table is an error."""
    view = as_view(source, table)
    sql = named_query("select_columns", table=view.sql, columns=", ".join(quote_column(c) for c in columns))
    frame = source.query(sql)
    if frame.empty:
        raise DataError(f"table {view.table_id!r} returned no rows: check the table id in params")
    return frame


def column_profile(
    source: Source, table: TableView | str, columns: Sequence[str], placeholders: Sequence[str]
) -> pd.DataFrame:
    """Count rows, NULLs, placeholder values (such as "."), failed casts and number-like text per column.

    It reads the table as stored (not the cast view), so a value that a cast from params turns
    into NULL is counted as ``cast_failed_count``, not hidden among the NULLs.
    """
    view = as_view(source, table)

    def cast(column: str) -> dict[str, str]:
        target = view.column_types.get(column, "STRING")
        return {"cast": cast_expression(column, view.raw_schema[column], target)}

    frame = query_per_column(
        source, "column_profile", quote_table(view.table_id), columns, {"placeholders": list(placeholders)}, cast
    )
    # A count over a column with no value comes back NULL on some engines: it is 0.
    counts = [c for c in frame.columns if c != "column_name"]
    frame[counts] = frame[counts].fillna(0).astype("int64")
    order = {c: i for i, c in enumerate(columns)}
    return frame.sort_values("column_name", key=lambda s: s.map(order)).reset_index(drop=True)


# BigQuery types whose CAST to STRING reads the same on every engine.
_EXACT_TEXT = {"STRING", "INT64", "BOOL", "DATE"}
# Numbers are hashed as integers of millionths: engines print floats differently ("40" or "40.0").
_NUMBER = {"FLOAT64", "NUMERIC", "BIGNUMERIC"}
SPLIT_BUCKETS = 10_000


def _key_text(column: str, kind: str) -> str:
    """SQL giving one key column as text that is identical on BigQuery and on the embedded engine."""
    quoted = quote_column(column)
    if kind in _EXACT_TEXT:
        text = quoted if kind == "STRING" else f"CAST({quoted} AS STRING)"
    elif kind in _NUMBER:
        text = f"CAST(SAFE_CAST(ROUND({quoted} * 1000000) AS INT64) AS STRING)"
    else:
        raise DataError(
            f"column {column!r} has type {kind}, which cannot key the train/test split: "
            f"use label and feature columns of type {', '.join(sorted(_EXACT_TEXT | _NUMBER))}"
        )
    # Values are joined with '|' by ARRAY_TO_STRING (a flat list: a CONCAT becomes a chain of || on
    # DuckDB, whose intermediate strings grow with every column: 1.8 s and 850 MB for 300 columns
    # of 2,000 rows, against 0.4 s and 50 MB), and NULL becomes ''. Two different rows could in principle give the
    # same key ("a|b" + "c" against "a" + "b|c"); they would then share a side of the split, which
    # costs nothing in determinism or parity. A length prefix to rule that out doubled the time
    # of building keys over 10M rows.
    return f"IFNULL({text}, '')"


def _known_columns(view: TableView, columns: Sequence[str]) -> dict[str, str]:
    """Return the view's schema, after checking that it has every one of ``columns``."""
    schema = view.schema
    unknown = [c for c in dict.fromkeys(columns) if c not in schema]
    if unknown:
        raise DataError(f"columns {unknown} are not in table {view.table_id!r}: it has {list(schema)}")
    return schema


def sample_rows(
    source: Source, table: TableView | str, columns: Sequence[str], sample_rows: int, seed: int
) -> pd.DataFrame:
    """Return a deterministic sample of at most ``sample_rows`` rows, taken in SQL.

    The rows are the first by FARM_FINGERPRINT of the seed and their values, the same rows on
    every run and engine.
    """
    if sample_rows < 1:
        raise DataError(f"sample_rows={sample_rows}: a sample needs at least one row; use a positive number")
    view = as_view(source, table)
    schema = _known_columns(view, columns)
    sql = named_query(
        "sample_rows",
        table=view.sql,
        columns=", ".join(quote_column(c) for c in columns),
        key=", ".join(_key_text(c, schema[c]) for c in columns),
    )
    return source.query(sql, {"seed": int(seed), "sample_rows": int(sample_rows)})


def fetch_split(
    source: Source,
    table: TableView | str,
    columns: Sequence[str],
    key_columns: Sequence[str],
    test_fraction: float,
    seed: int,
    missing_values: Sequence[str] = (),
    max_rows: int | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (train, test): the labelled rows, split in SQL by FARM_FINGERPRINT of the key columns.

    The first key column is the label; rows whose label is NULL or a placeholder are left out. A
    row is in the test side when its hash bucket is below ``test_fraction``; both sides come back
    ordered by the hash. The hash depends on the seed and the row's key values only, so the split
    selects the same rows in the same order on BigQuery and on the embedded engine. At most
    ``max_rows`` labelled rows are read: the first by hash, a deterministic sample.
    """
    view = as_view(source, table)
    schema = _known_columns(view, [*columns, *key_columns])
    label = key_columns[0]
    sql = named_query(
        "split_rows",
        table=view.sql,
        columns=", ".join(quote_column(c) for c in columns),
        label=quote_column(label),
        key=", ".join(_key_text(c, schema[c]) for c in key_columns),
        buckets=str(SPLIT_BUCKETS),
    )
    params: dict[str, Any] = {"seed": int(seed), "test_buckets": round(test_fraction * SPLIT_BUCKETS)}
    params |= {"missing_values": list(missing_values), "max_rows": int(max_rows or 2**62)}
    frame = source.query(sql, params)
    # A float label may hold NaN ("NaN" in a CSV reads as a number): as unlabelled as NULL.
    frame = frame[frame[label].notna()] if frame[label].dtype.kind == "f" else frame
    is_test = frame.pop("split_is_test").astype(bool)
    train, test = frame[~is_test].reset_index(drop=True), frame[is_test].reset_index(drop=True)
    if train.empty or test.empty:
        sides = f"test_fraction={test_fraction} leaves {len(train)} training and {len(test)} test rows"
        distinct = len(frame[list(dict.fromkeys(key_columns))].drop_duplicates())
        if distinct < len(frame):
            raise DataError(
                f"{sides}: the {len(frame):,} labelled rows hold only {distinct:,} distinct combinations of label "
                "and features, and copies of a row always fall on the same side of the split (so that no row is "
                "both trained on and tested): add features that tell the rows apart, or use a larger table"
            )
        raise DataError(
            f"{sides} out of {len(frame)} labelled rows: use a table with more rows or a test_fraction nearer 0.25"
        )
    return train, test
