"""The source core: the Source protocol, the named queries of ``sql/`` and how they are run.

A Source is the embedded engine (``bqlab.sources.embedded.LocalSource``, DuckDB) or the
warehouse (``bqlab.sources.bigquery.BigQuerySource``). Every query is a named file in
``bqlab/sources/sql``, in BigQuery Standard SQL, so the same SQL runs on both.
"""

from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any, Protocol

import pandas as pd
import sqlglot
from sqlglot import exp

from bqlab.sources.identifiers import column_literal, quote_column

QUERY_LOG_COLUMNS = ["rows", "bytes", "estimated_bytes", "usd", "cache"]


class Source(Protocol):
    """Where queries run: the embedded engine or BigQuery."""

    name: str
    # The 64-bit hash function the engine computes natively (FARM_FINGERPRINT on BigQuery): the
    # split's check of a row where FARM_FINGERPRINT is slow, and the order of a sample's rows.
    native_hash: str

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


def named_query(query_name: str, **identifiers: str) -> str:
    """Load ``sql/<name>.sql`` and fill its identifier slots (already quoted)."""
    text = resources.files("bqlab.sources").joinpath("sql", f"{query_name}.sql").read_text(encoding="utf-8")
    return text.format(**identifiers)


# Columns per statement of the per-column queries: a wide table is read in a few bounded
# statements rather than one with hundreds of branches.
COLUMNS_PER_QUERY = 50


def per_column_statements(
    query_name: str,
    table_sql: str,
    columns: Sequence[str],
    slots_of=None,
    slots: Mapping[str, str] | None = None,
) -> list[str]:
    """The statements of ``query_per_column``: one named query per column, ``COLUMNS_PER_QUERY`` to a statement.

    Each copy gets the slots ``column`` (quoted) and ``name`` (the column's name as a string
    literal; validated names hold no quotes), besides ``table``, ``slots`` and, per column,
    ``slots_of(column)``; the copies of a statement are joined by UNION ALL.
    """
    statements = []
    for start in range(0, len(columns), COLUMNS_PER_QUERY):
        parts = [
            named_query(
                query_name,
                table=table_sql,
                column=quote_column(c),
                name=column_literal(c),
                **(slots or {}),
                **(slots_of(c) if slots_of else {}),
            )
            for c in columns[start : start + COLUMNS_PER_QUERY]
        ]
        statements.append("\nUNION ALL\n".join(parts))
    return statements


def query_per_column(
    source: Source,
    query_name: str,
    table_sql: str,
    columns: Sequence[str],
    params: Mapping[str, Any] | None = None,
    slots_of=None,
    slots: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Run the ``per_column_statements`` with ``params``; return the rows of every statement, in column order."""
    statements = per_column_statements(query_name, table_sql, columns, slots_of, slots)
    frames = [source.query(sql, params) for sql in statements]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
