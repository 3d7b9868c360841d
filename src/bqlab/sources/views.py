"""The analysed table as SQL: the table itself, or a view that casts columns named in params.

``column_types`` in params (``spend: FLOAT64``) turns a text column into a number in SQL, on
both engines, with ``SAFE_CAST``: a value that does not read as the type becomes NULL, and the
data analysis counts those values per column (``cast_failed_count`` in the missing-value
profile), so nothing is dropped without being reported.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bqlab.errors import DataError
from bqlab.sources.identifiers import quote_column, quote_table, validate_table_id

NUMERIC_TYPES = {"INT64", "FLOAT64", "NUMERIC", "BIGNUMERIC"}
# The types a label or feature may have: the models read them, and the split can hash them.
MODEL_TYPES = {"STRING", "BOOL", *NUMERIC_TYPES}
# A feature of these types reaches the model as numeric parts computed in SQL (``DATE_PARTS``).
DATE_TYPES = {"DATE", "DATETIME", "TIMESTAMP"}
# Each date feature's parts: name suffix -> SQL of the part from a DATE {d} (and {first}, the
# earliest day in the table as days since 1970). Day of week counts from Sunday = 1, as
# BigQuery's EXTRACT(DAYOFWEEK) does, from the day number (1970-01-01 was a Thursday), since
# engines number weekdays differently.
DATE_PARTS = {
    "year": "EXTRACT(YEAR FROM {d})",
    "month": "EXTRACT(MONTH FROM {d})",
    "day_of_week": "MOD(MOD(UNIX_DATE({d}) + 4, 7) + 7, 7) + 1",
    "day_of_year": "EXTRACT(DAYOFYEAR FROM {d})",
    "days_since_first": "UNIX_DATE({d}) - {first}",
}


def as_date(column: str, kind: str) -> str:
    """SQL: a DATE, DATETIME or TIMESTAMP column as its DATE (a TIMESTAMP's day in UTC)."""
    return quote_column(column) if kind == "DATE" else f"DATE({quote_column(column)})"


def date_part_names(column: str) -> list[str]:
    """The names of a date feature's parts, as the model and the reports see them (``signup_month``)."""
    return [f"{column}_{part}" for part in DATE_PARTS]


# A number written with separators: (thousands separator or None, decimal separator).
NumberFormat = tuple[str | None, str]


def _sql_text(text: str) -> str:
    """``text`` as a BigQuery string literal (an apostrophe escaped)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _number_text(value: str, number_format: NumberFormat) -> str:
    """SQL: text written with ``number_format`` as the plain number text a cast reads; NULL if it is not one.

    With a thousands separator, the digits before the decimal separator are either ungrouped or
    grouped by three (``3,750`` and ``3750``, not ``37,50``), so a misread format shows as failed
    casts instead of wrong numbers.
    """
    thousands, decimal = number_format
    whole = f"([0-9]+|[0-9]{{1,3}}([{thousands}][0-9]{{3}})+)" if thousands else "[0-9]+"
    pattern = f"^[+-]?{whole}([{decimal}][0-9]+)?$"
    plain = f"REPLACE({value}, {_sql_text(thousands)}, '')" if thousands else value
    plain = f"REPLACE({plain}, ',', '.')" if decimal == "," else plain
    return f"IF(REGEXP_CONTAINS({value}, {_sql_text(pattern)}), {plain}, NULL)"


def cast_expression(column: str, raw_type: str, target: str, number_format: NumberFormat | None = None) -> str:
    """SQL reading ``column`` as ``target``: text is trimmed first; NULL where it does not fit.

    Written so that BigQuery and the embedded engine give the same value for every input, where
    their own casts differ: BOOL reads only "true"/"false" (any case; DuckDB would also read
    "yes", "1", "t"), INT64 only whole numbers (DuckDB would round "1.5" to 2), by way of FLOAT64.
    With ``number_format`` (text only), separators are read as declared (``3,750``; ``12,5``).
    """
    quoted = quote_column(column)
    value = f"TRIM({quoted})" if raw_type == "STRING" else quoted
    if number_format and raw_type == "STRING":
        value = _number_text(value, number_format)
    if target == "BOOL" and raw_type == "STRING":
        return f"CASE LOWER({value}) WHEN 'true' THEN TRUE WHEN 'false' THEN FALSE END"
    if target == "INT64" and raw_type != "INT64":
        number = f"SAFE_CAST({value} AS FLOAT64)"
        return f"CASE WHEN {number} = TRUNC({number}) THEN SAFE_CAST({number} AS INT64) END"
    return f"SAFE_CAST({value} AS {target})"


# BigQuery's fingerprint, native there: the split orders rows by it on every engine (the same rows).
FARM_FINGERPRINT = "FARM_FINGERPRINT"


@dataclass(frozen=True)
class TableView:
    """A table id with the casts from params, and its schema as the analysis sees it.

    Build it with ``table_view``; ``sql`` goes where a query names its table (``FROM {table}``).
    """

    table_id: str
    raw_schema: Mapping[str, str]
    column_types: Mapping[str, str] = field(default_factory=dict)
    number_formats: Mapping[str, NumberFormat] = field(default_factory=dict)  # text columns with separators
    date_features: tuple[str, ...] = ()  # features of a date type: the view adds their parts
    native_hash: str = FARM_FINGERPRINT  # its source's ``native_hash``: the statements of the engine it was read from

    def model_columns(self, columns: Sequence[str]) -> list[str]:
        """``columns`` as the model reads them: each date feature replaced by its parts."""
        return [part for c in columns for part in (date_part_names(c) if c in self.date_features else [c])]

    def cast(self, column: str, target: str | None = None) -> str:
        """SQL reading ``column`` of the stored table as ``target`` (default: its type in params)."""
        target = target or self.column_types.get(column, self.raw_schema[column])
        return cast_expression(column, self.raw_schema[column], target, self.number_formats.get(column))

    @property
    def cast_schema(self) -> dict[str, str]:
        """Columns and BigQuery types after the casts."""
        return {c: self.column_types.get(c, t) for c, t in self.raw_schema.items()}

    @property
    def schema(self) -> dict[str, str]:
        """Columns and BigQuery types after the casts, then the date features' parts (INT64)."""
        return self.cast_schema | {part: "INT64" for c in self.date_features for part in date_part_names(c)}

    @property
    def sql(self) -> str:
        """The table, or a subquery that replaces each cast column by its cast value and adds date parts."""
        table = quote_table(self.table_id)
        if self.column_types:
            casts = ", ".join(f"{self.cast(c)} AS {quote_column(c)}" for c in self.column_types)
            table = f"(SELECT * REPLACE ({casts}) FROM {table})"
        if not self.date_features:
            return table
        parts = []
        for column in self.date_features:
            day = as_date(column, self.cast_schema[column])
            first = f"(SELECT MIN(UNIX_DATE({day})) FROM {table})"
            parts += [
                f"{sql.format(d=day, first=first)} AS {quote_column(name)}"
                for sql, name in zip(DATE_PARTS.values(), date_part_names(column), strict=True)
            ]
        return f"(SELECT *, {', '.join(parts)} FROM {table})"

    def __str__(self) -> str:
        return self.table_id


def table_view(
    source, table_id: str, column_types: Mapping[str, Any] | None = None, features: Sequence[str] = ()
) -> TableView:
    """Read the table's schema once and return its view with the casts from params.

    ``column_types`` maps a column to a type name (``FLOAT64``) or to an object with ``type``,
    ``thousands`` and ``decimal`` (``bqlab.config.NumberCast``): text numbers with separators.
    Each of ``features`` of a date type gets its parts (``DATE_PARTS``) as columns of the view.

    Raises:
        DataError: a column in ``column_types`` is not in the table, or a date part's name is taken.
    """
    raw = source.schema(validate_table_id(table_id))
    given = dict(column_types or {})
    unknown = [c for c in given if c not in raw]
    if unknown:
        raise DataError(
            f"column_types names {unknown}, which table {table_id!r} does not have; its columns are: {', '.join(raw)}"
        )
    types = {c: t if isinstance(t, str) else t.type for c, t in given.items()}
    formats = {c: (t.thousands, t.decimal) for c, t in given.items() if not isinstance(t, str) and raw[c] == "STRING"}
    dates = tuple(c for c in features if types.get(c, raw.get(c)) in DATE_TYPES)
    taken = [(part, c) for c in dates for part in date_part_names(c) if part in raw]
    if taken:
        raise DataError(
            f"table {table_id!r} already has a column {taken[0][0]!r}, the name of a part of date feature "
            f"{taken[0][1]!r}: rename that column, or leave the date out of features"
        )
    kept = {c: t for c, t in types.items() if raw[c] != t or c in formats}
    return TableView(table_id, raw, kept, formats, dates, source.native_hash)


def as_view(source, table: "TableView | str") -> TableView:
    """``table`` as a view: a bare table id gets its schema and no casts."""
    return table if isinstance(table, TableView) else table_view(source, table)
