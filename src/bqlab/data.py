"""Data access: BigQuery Standard SQL with named ``@parameters`` against a Source.

A Source is the embedded engine (``bqlab.embedded.LocalSource``, DuckDB) or the warehouse
(``bqlab.bigquery.BigQuerySource``). Notebooks reach data only through the named queries in
``bqlab/sql`` via the helpers at the bottom of this module, so the same SQL runs on both.
"""

from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
import sqlglot
from sqlglot import exp

from bqlab.errors import DataError
from bqlab.identifiers import quote_column, quote_table
from bqlab.project import find_root, rooted
from bqlab.sources.views import TableView, as_view, cast_expression, table_view  # noqa: F401 - table_view for notebooks

QUERY_LOG_COLUMNS = ["rows", "bytes", "estimated_bytes", "usd", "cache"]


class Source(Protocol):
    """Where queries run: the embedded engine or BigQuery."""

    name: str

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """Run one BigQuery Standard SQL statement with named parameters."""
        ...

    def schema(self, table_id: str) -> dict[str, str]:
        """Return the table's columns and their BigQuery types, in table order."""
        ...

    def row_count(self, table_id: str) -> int:
        """Return the table's number of rows (free: metadata or an embedded count)."""
        ...

    def query_log(self) -> pd.DataFrame:
        """Return one row per query run so far: rows, bytes billed, cost, cache use."""
        ...

    def table_version(self, table_id: str) -> dict[str, Any]:
        """Return what changes when the table's content does (BigQuery: its last modification)."""
        ...


def tables_in(sql: str | exp.Expr) -> list[str]:
    """Return the ``[project.]dataset.table`` names a BigQuery statement reads."""
    tree = sqlglot.parse_one(sql, read="bigquery") if isinstance(sql, str) else sql
    names = set()
    for table in tree.find_all(exp.Table):
        parts = [p for p in (table.catalog, table.db, table.name) if p]
        if len(parts) >= 2:
            names.add(".".join(parts))
    return sorted(names)


def open_source(params, stage: str | None = None, root: Path | None = None) -> Source:
    """Return the Source named in params: ``local`` (the embedded engine) or ``bigquery``.

    Relative paths in params (local files, the query cache) start at ``root``, by default the
    project root (``bqlab.project.find_root``), else the working folder.
    """
    root = Path(root or find_root() or Path.cwd())
    if params.source == "local":
        from bqlab.embedded import LocalSource

        files = {t: f.model_copy(update={"path": str(rooted(f.path, root))}) for t, f in params.local_files.items()}
        return LocalSource(files, params.local_engine)
    if params.source == "bigquery":
        from bqlab.bigquery import open_warehouse

        settings = params.bigquery
        if settings.cache_dir:
            settings = settings.model_copy(update={"cache_dir": str(rooted(settings.cache_dir, root))})
        return open_warehouse(settings, stage)
    raise DataError(f"unknown source {params.source!r}: use 'local' or 'bigquery'")


def named_query(query_name: str, **identifiers: str) -> str:
    """Load ``sql/<name>.sql`` and fill its identifier slots (already quoted)."""
    text = resources.files("bqlab").joinpath("sql", f"{query_name}.sql").read_text(encoding="utf-8")
    return text.format(**identifiers)


def fetch_columns(source: Source, table: TableView | str, columns: Sequence[str]) -> pd.DataFrame:
    """Return ``columns`` of every row of the table; an empty table is an error."""
    view = as_view(source, table)
    sql = named_query("select_columns", table=view.sql, columns=", ".join(quote_column(c) for c in columns))
    frame = source.query(sql)
    if frame.empty:
        raise DataError(f"table {view.table_id!r} returned no rows: check the table id in params")
    return frame


# Columns per statement of the per-column queries: a wide table is read in a few bounded
# statements rather than one with hundreds of branches.
COLUMNS_PER_QUERY = 50


def query_per_column(
    source: Source,
    query_name: str,
    table_sql: str,
    columns: Sequence[str],
    params: Mapping[str, Any] | None = None,
    slots_of=None,
    slots: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Run one named query per column, ``COLUMNS_PER_QUERY`` columns to a statement (UNION ALL).

    Each copy gets the slots ``column`` (quoted) and ``name`` (the column's name as a string
    literal; validated names hold no quotes), besides ``table``, ``slots`` and, per column,
    ``slots_of(column)``. Returns the rows of every statement, in column order.
    """
    frames = []
    for start in range(0, len(columns), COLUMNS_PER_QUERY):
        parts = [
            named_query(
                query_name,
                table=table_sql,
                column=quote_column(c),
                name=f"'{c}'",
                **(slots or {}),
                **(slots_of(c) if slots_of else {}),
            )
            for c in columns[start : start + COLUMNS_PER_QUERY]
        ]
        frames.append(source.query("\nUNION ALL\n".join(parts), params))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


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
