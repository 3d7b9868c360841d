"""The analysed table as SQL: the table itself, or a view that casts columns named in params.

``column_types`` in params (``spend: FLOAT64``) turns a text column into a number in SQL, on
both engines, with ``SAFE_CAST``: a value that does not read as the type becomes NULL, and the
data analysis counts those values per column (``cast_failed_count`` in the missing-value
profile), so nothing is dropped without being reported.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field

from bqlab.errors import DataError
from bqlab.sources.identifiers import quote_column, quote_table, validate_table_id

NUMERIC_TYPES = {"INT64", "FLOAT64", "NUMERIC", "BIGNUMERIC"}
# The types a label or feature may have: the models read them, and the split can hash them.
MODEL_TYPES = {"STRING", "BOOL", *NUMERIC_TYPES}


def cast_expression(column: str, raw_type: str, target: str) -> str:
    """SQL reading ``column`` as ``target``: text is trimmed first; NULL where it does not fit.

    Written so that BigQuery and the embedded engine give the same value for every input, where
    their own casts differ: BOOL reads only "true"/"false" (any case; DuckDB would also read
    "yes", "1", "t"), INT64 only whole numbers (DuckDB would round "1.5" to 2), by way of FLOAT64.
    """
    quoted = quote_column(column)
    value = f"TRIM({quoted})" if raw_type == "STRING" else quoted
    if target == "BOOL" and raw_type == "STRING":
        return f"CASE LOWER({value}) WHEN 'true' THEN TRUE WHEN 'false' THEN FALSE END"
    if target == "INT64" and raw_type != "INT64":
        number = f"SAFE_CAST({value} AS FLOAT64)"
        return f"CASE WHEN {number} = TRUNC({number}) THEN SAFE_CAST({number} AS INT64) END"
    return f"SAFE_CAST({value} AS {target})"


@dataclass(frozen=True)
class TableView:
    """A table id with the casts from params, and its schema as the analysis sees it.

    Build it with ``table_view``; ``sql`` goes where a query names its table (``FROM {table}``).
    """

    table_id: str
    raw_schema: Mapping[str, str]
    column_types: Mapping[str, str] = field(default_factory=dict)

    @property
    def schema(self) -> dict[str, str]:
        """Columns and BigQuery types after the casts."""
        return {c: self.column_types.get(c, t) for c, t in self.raw_schema.items()}

    @property
    def sql(self) -> str:
        """The table, or a subquery that replaces each cast column by its cast value."""
        if not self.column_types:
            return quote_table(self.table_id)
        casts = ", ".join(
            f"{cast_expression(c, self.raw_schema[c], t)} AS {quote_column(c)}" for c, t in self.column_types.items()
        )
        return f"(SELECT * REPLACE ({casts}) FROM {quote_table(self.table_id)})"

    def __str__(self) -> str:
        return self.table_id


def table_view(source, table_id: str, column_types: Mapping[str, str] | None = None) -> TableView:
    """Read the table's schema once and return its view with the casts from params.

    Raises:
        DataError: a column in ``column_types`` is not in the table.
    """
    raw = source.schema(validate_table_id(table_id))
    types = dict(column_types or {})
    unknown = [c for c in types if c not in raw]
    if unknown:
        raise DataError(
            f"column_types names {unknown}, which table {table_id!r} does not have; its columns are: {', '.join(raw)}"
        )
    return TableView(table_id, raw, {c: t for c, t in types.items() if raw[c] != t})


def as_view(source, table: "TableView | str") -> TableView:
    """``table`` as a view: a bare table id gets its schema and no casts."""
    return table if isinstance(table, TableView) else table_view(source, table)
