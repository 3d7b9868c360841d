"""The queries notebooks run: a column profile, a deterministic sample and the train/test split.

Each is a named query of ``bqlab/sources/sql`` (BigQuery Standard SQL) run against a Source. The
split holds the same rows on BigQuery and on the embedded engine (both order rows by
FARM_FINGERPRINT); a sample is ordered by each engine's own hash (``TableView.native_hash``).
"""

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from bqlab.errors import DataError
from bqlab.sources.base import Source, named_query, per_column_statements
from bqlab.sources.identifiers import quote_column, quote_table
from bqlab.sources.views import FARM_FINGERPRINT, TableView, as_view
from bqlab.tasks import CLASSIFICATION, Task


def fetch_columns(source: Source, table: TableView | str, columns: Sequence[str]) -> pd.DataFrame:
    """Return ``columns`` of every row of the table; an empty table is an error."""
    view = as_view(source, table)
    sql = named_query("select_columns", table=view.sql, columns=", ".join(quote_column(c) for c in columns))
    frame = source.query(sql)
    if frame.empty:
        raise DataError(f"table {view.table_id!r} returned no rows: check the table id in params")
    return frame


def _number_text_counts(column: str) -> dict[str, str]:
    """column_profile's counts of a text column's values that read as numbers, as they stand or with separators.

    Separators: 3,750 or 12,5, which column_types can name.
    """
    trimmed = f"TRIM(CAST({quote_column(column)} AS STRING))"
    grouped = r"^[+-]?([0-9]{1,3}([,. ][0-9]{3})+([.,][0-9]+)?|[0-9]+,[0-9]+)$"
    not_plain = f"SAFE_CAST({trimmed} AS FLOAT64) IS NULL"
    return {
        "numeric_text": f"COUNTIF(SAFE_CAST({trimmed} AS FLOAT64) IS NOT NULL)",
        "separated_number": f"COUNTIF({not_plain} AND REGEXP_CONTAINS({trimmed}, '{grouped}'))",
    }


def profile_statements(
    view: TableView, columns: Sequence[str], placeholders: Sequence[str]
) -> list[tuple[str, dict[str, Any]]]:
    """The statements of ``column_profile`` and their query parameters."""

    def cast(column: str) -> dict[str, str]:
        # Only a column stored as text can hold numbers as text; a number or a date counts 0.
        text = view.raw_schema.get(column) == "STRING"
        counts = _number_text_counts(column) if text else {"numeric_text": "0", "separated_number": "0"}
        return {"cast": view.cast(column, view.column_types.get(column, "STRING")), **counts}

    params = {"placeholders": list(placeholders)}
    return [(sql, params) for sql in per_column_statements("column_profile", quote_table(view.table_id), columns, cast)]


def column_profile(
    source: Source, table: TableView | str, columns: Sequence[str], placeholders: Sequence[str]
) -> pd.DataFrame:
    """Count rows, NULLs, placeholder values (such as "."), failed casts and number-like text per column.

    It reads the table as stored (not the cast view), so a value that a cast from params turns
    into NULL is counted as ``cast_failed_count``, not hidden among the NULLs.
    """
    statements = profile_statements(as_view(source, table), columns, placeholders)
    frames = [source.query(sql, params) for sql, params in statements]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    # A count over a column with no value comes back NULL on some engines: it is 0.
    counts = [c for c in frame.columns if c != "column_name"]
    frame[counts] = frame[counts].fillna(0).astype("int64")
    order = {c: i for i, c in enumerate(columns)}
    return frame.sort_values("column_name", key=lambda s: s.map(order)).reset_index(drop=True)


# BigQuery types whose CAST to STRING reads the same on every engine.
_EXACT_TEXT = {"STRING", "INT64", "BOOL", "DATE"}
# Numbers are hashed as integers of millionths: engines print floats differently ("40" or "40.0").
_NUMBER = {"FLOAT64", "NUMERIC", "BIGNUMERIC"}
# The types whose values can name a group of the split (``split_group``): any that hashes alike.
GROUP_TYPES = _EXACT_TEXT | _NUMBER
SPLIT_BUCKETS = 10_000
# The unit hash of a row's second and later copies (as labelled_units.sql's).
_FARM_COPY = "FARM_FINGERPRINT(CONCAT(CAST(bqlab_row_hash AS STRING), '#', CAST(bqlab_copy AS STRING)))"
# Quantile bins of a numeric label that stratify a regression's split (fewer with fewer rows or groups).
LABEL_BINS = 10


def _key_value(column: str, kind: str) -> str:
    """SQL giving one key column's value as its text stands for it: a number in millionths, a NULL text as ''."""
    quoted = quote_column(column)
    if kind in _NUMBER:
        return f"SAFE_CAST(ROUND({quoted} * 1000000) AS INT64)"
    return f"IFNULL({quoted}, '')" if kind == "STRING" else quoted


def _value_text(column: str, kind: str) -> str:
    """SQL giving one column's value as text that is identical on BigQuery and on the embedded engine (NULL stays)."""
    quoted = quote_column(column)
    if kind in _EXACT_TEXT:
        return quoted if kind == "STRING" else f"CAST({quoted} AS STRING)"
    if kind in _NUMBER:
        return f"CAST({_key_value(column, kind)} AS STRING)"
    raise DataError(
        f"column {column!r} has type {kind}, which cannot key the train/test split: "
        f"use label and feature columns of type {', '.join(sorted(_EXACT_TEXT | _NUMBER))}"
    )


def _key_text(column: str, kind: str) -> str:
    """One key column as text for a row's hash: its value's text, NULL as ''."""
    # Values are joined with '|' by ARRAY_TO_STRING (a flat list: a CONCAT becomes a chain of || on
    # DuckDB, whose intermediate strings grow with every column: 1.8 s and 850 MB for 300 columns
    # of 2,000 rows, against 0.4 s and 50 MB), and NULL becomes ''. Two different rows could in
    # principle give the same key ("a|b" + "c" against "a" + "b|c"); they are then numbered like
    # copies of one row, in the order of their values, which costs nothing in determinism or parity.
    return f"IFNULL({_value_text(column, kind)}, '')"


def _known_columns(view: TableView, columns: Sequence[str]) -> dict[str, str]:
    """Return the view's schema, after checking that it has every one of ``columns``."""
    schema = view.schema
    unknown = [c for c in dict.fromkeys(columns) if c not in schema]
    if unknown:
        raise DataError(f"columns {unknown} are not in table {view.table_id!r}: it has {list(schema)}")
    return schema


def _units(
    view: TableView,
    schema: Mapping[str, str],
    columns: Sequence[str],
    key: Sequence[str],
    where: str,
    first: str | None = None,
    check: str | None = None,
    by: str = FARM_FINGERPRINT,
) -> str:
    """The subquery of rows that pass ``where``, each with the unit hash that tells copies apart.

    With ``first`` (a query parameter such as ``@max_rows``), only that many rows: the first by
    unit hash, the same rows with the same hashes, read without holding every row (first_units).
    Their order is ``by``: FARM_FINGERPRINT of the row key (the split: the same rows on every
    engine; ``check`` overrides the view's check of its second read), or an engine's native hash
    of the seed and the key's values (a sample: the same rows on every run, whatever the table's
    order, where FARM_FINGERPRINT is slow; its check is that hash).
    """
    quoted = ", ".join(quote_column(c) for c in columns)
    key_text = ", ".join(_key_text(c, schema[c]) for c in key)
    if first is None:
        rows = named_query("labelled_rows", table=view.sql, columns=quoted, key=key_text, where=where)
        return named_query("labelled_units", rows=rows, columns=quoted, order=quoted)
    slots = {"table": view.sql, "where": where, "columns": quoted, "order": quoted, "limit": first}
    if by == FARM_FINGERPRINT:
        row_key = f"ARRAY_TO_STRING([CAST(@seed AS STRING), {key_text}], '|')"
        check = _check(row_key, key, schema, check or view.native_hash)
        return named_query("first_units", **slots, row_hash=f"{by}({row_key})", copy_hash=_FARM_COPY, check=check)
    # The values as they are (no text, no millionths: a NaN, a NULL and a huge number differ).
    row_hash = f"{by}(@seed, {', '.join(quote_column(c) for c in key)})"
    copy_hash = f"{by}(bqlab_row_hash, bqlab_copy)"
    return named_query("first_units", **slots, row_hash=row_hash, copy_hash=copy_hash, check=row_hash)


def _check(row_key: str, key: Sequence[str], schema: Mapping[str, str], check: str) -> str:
    """SQL: first_units' check of a row, equal for rows whose row keys are equal (``check``: a ``native_hash``).

    BigQuery's is the row hash itself. Another engine's hashes the key's values as they are, not
    their text (no string is built: DuckDB's HASH of 10M rows' values, against their text
    joined, saves 1.8 s), and a row whose text holds a '|' by its key text: equal row keys split
    back into equal values unless a text holds a '|', and then both rows hold one (as many).
    """
    if check == FARM_FINGERPRINT:
        return f"{check}({row_key})"
    bars = [f"STRPOS(IFNULL({quote_column(c)}, ''), '|') > 0" for c in key if schema[c] == "STRING"]
    typed = f"{check}({', '.join(_key_value(c, schema[c]) for c in key)})"
    return f"IF({' OR '.join(bars)}, {check}({row_key}), {typed})" if bars else typed


def sample_rows(
    source: Source, table: TableView | str, columns: Sequence[str], sample_rows: int, seed: int
) -> pd.DataFrame:
    """Return a deterministic sample of at most ``sample_rows`` rows, taken in SQL.

    The rows are the first by unit hash: the engine's native hash of the seed, their values and
    their copy number (FARM_FINGERPRINT of their text on BigQuery, DuckDB's HASH of the values on
    the embedded engine, where FARM_FINGERPRINT is a Python call: 1.2 s against 6.8 s on 10M rows).
    The same rows on every run, whatever the table's order; copies of a row are sampled like any
    other rows. The engines draw different rows (their hashes differ), each as good a sample.
    """
    return source.query(*sample_statement(as_view(source, table), columns, sample_rows, seed))


def sample_statement(
    view: TableView, columns: Sequence[str], sample_rows: int, seed: int
) -> tuple[str, dict[str, Any]]:
    """The statement of ``sample_rows`` and its query parameters."""
    if sample_rows < 1:
        raise DataError(f"sample_rows={sample_rows}: a sample needs at least one row; use a positive number")
    schema = _known_columns(view, columns)
    sql = named_query(
        "sample_rows",
        units=_units(view, schema, columns, columns, "TRUE", first="@sample_rows", by=view.native_hash),
        columns=", ".join(quote_column(c) for c in columns),
    )
    return sql, {"seed": int(seed), "sample_rows": int(sample_rows)}


def _round_share(rows: str) -> str:
    """SQL: test_fraction of ``rows`` rounded half up, in integers (the same on every engine)."""
    return f"CAST(FLOOR((2 * {rows} * @test_buckets + {SPLIT_BUCKETS}) / {2 * SPLIT_BUCKETS}) AS INT64)"


def _quantile_bin(value: str, tie: str) -> str:
    """SQL: the quantile bin (0 to LABEL_BINS - 1) of ``value`` among the rows, ties broken by ``tie``."""
    return (
        f"CAST(FLOOR((ROW_NUMBER() OVER (ORDER BY {value}, {tie}) - 1) * LEAST({LABEL_BINS}, COUNT(*) OVER ()) "
        "/ COUNT(*) OVER ()) AS INT64)"
    )


def _split_sql(
    view: TableView, columns: Sequence[str], key_columns: Sequence[str], task: Task, group: str | None
) -> str:
    schema = _known_columns(view, [*columns, *key_columns, *([group] if group else [])])
    label = quote_column(key_columns[0])
    where = f"{label} IS NOT NULL AND CAST({label} AS STRING) NOT IN UNNEST(@missing_values)"
    # A float label may hold NaN ("NaN" in a CSV reads as a number): as unlabelled as NULL.
    where += f" AND NOT IS_NAN({label})" if schema[key_columns[0]] == "FLOAT64" else ""
    fetched = list(dict.fromkeys([*columns, *([group] if group else [])]))
    slots = {
        "units": _units(view, schema, fetched, key_columns, where, first=None if group else "@max_rows"),
        "columns": ", ".join(quote_column(c) for c in columns),
        "buckets": str(SPLIT_BUCKETS),
    }
    regression = not task.classes
    if group:
        value = (
            "SUM(bqlab_label * bqlab_rows) / SUM(bqlab_rows)"
            if regression
            else "ARRAY_AGG(bqlab_label ORDER BY bqlab_rows DESC, bqlab_label)[OFFSET(0)]"
        )
        return named_query(
            "split_groups",
            **slots,
            label=label,
            group=quote_column(group),
            group_text=_value_text(group, schema[group]),
            group_value=value,
            stratum=_quantile_bin("bqlab_group_value", "bqlab_group_hash") if regression else "bqlab_group_value",
        )
    if regression:  # test rows per bin: the bins' share of a total rounded once, so the whole is rounded once
        through = "bqlab_rows_through"
        return named_query(
            "split_rows",
            **slots,
            stratum=_quantile_bin(label, "bqlab_unit_hash"),
            rows_through="COUNT(*) OVER (ORDER BY bqlab_stratum RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)",
            quota=f"({_round_share(through)} - {_round_share(f'({through} - bqlab_stratum_rows)')})",
        )
    return named_query("split_rows", **slots, stratum=label, rows_through="0", quota=_round_share("bqlab_stratum_rows"))


def split_statement(
    view: TableView,
    columns: Sequence[str],
    key_columns: Sequence[str],
    test_fraction: float,
    seed: int,
    missing_values: Sequence[str] = (),
    max_rows: int | None = None,
    task: Task = CLASSIFICATION,
    group: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """The statement of ``fetch_split`` and its query parameters."""
    sql = _split_sql(view, columns, key_columns, task, group)
    params: dict[str, Any] = {"seed": int(seed), "test_buckets": round(test_fraction * SPLIT_BUCKETS)}
    params |= {"missing_values": list(missing_values), "max_rows": int(max_rows or 2**62)}
    return sql, params


def params_split_statement(view: TableView, params: Any, task: Task) -> tuple[str, dict[str, Any]]:
    """``split_statement`` as a notebook's params ask for it: the very text the training sends."""
    return split_statement(
        view,
        view.model_columns(params.columns),
        view.model_columns(params.split_columns),
        params.test_fraction,
        params.seed,
        params.missing_values,
        params.max_rows,
        task,
        params.split_group,
    )


def fetch_split(
    source: Source,
    table: TableView | str,
    columns: Sequence[str],
    key_columns: Sequence[str],
    test_fraction: float,
    seed: int,
    missing_values: Sequence[str] = (),
    max_rows: int | None = None,
    task: Task = CLASSIFICATION,
    group: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (train, test): the labelled rows, split in SQL, row by row and stratified.

    The first key column is the label; rows whose label is NULL, NaN or a placeholder are left
    out. Every row is its own unit, copies too: the test side of each class (for regression, of
    each quantile bin of the label) is ``test_fraction`` of its rows, rounded, the first by unit
    hash (FARM_FINGERPRINT of the seed, the key columns and the copy number). With ``group``, the
    rows of one group value stay on one side, stratified as closely as whole groups allow. Both
    sides come back in unit-hash order, the same rows in the same order on BigQuery and on the
    embedded engine. At most ``max_rows`` labelled rows are read: the first by unit hash (whole
    groups by group hash), a deterministic sample.
    """
    view = as_view(source, table)
    frame = source.query(
        *split_statement(view, columns, key_columns, test_fraction, seed, missing_values, max_rows, task, group)
    )
    is_test = frame.pop("split_is_test").astype(bool)
    train, test = frame[~is_test].reset_index(drop=True), frame[is_test].reset_index(drop=True)
    if train.empty or test.empty:
        unit = f"groups of {group!r}" if group else "labelled rows"
        raise DataError(
            f"test_fraction={test_fraction} leaves {len(train)} training and {len(test)} test rows out of "
            f"{len(frame)} labelled rows: use a table with more {unit}, or a test_fraction nearer 0.25"
        )
    return train, test
