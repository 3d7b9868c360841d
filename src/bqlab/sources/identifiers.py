"""Validation and quoting of BigQuery identifiers: the only way names enter SQL text.

Values always travel as named query parameters; identifiers (tables, columns) cannot, so
they are checked against BigQuery's naming rules here and backtick-quoted.
"""

import re
import unicodedata

from bqlab.errors import DataError

_PROJECT = r"(?:[a-z][a-z0-9.-]*:)?[a-z][a-z0-9-]{4,28}[a-z0-9]"
_DATASET = r"[A-Za-z0-9_]{1,1024}"
_TABLE = r"[A-Za-z0-9_][A-Za-z0-9_-]{0,1023}"
_TABLE_ID = re.compile(rf"^(?:(?P<project>{_PROJECT})\.)?(?P<dataset>{_DATASET})\.(?P<table>{_TABLE})$")


def validate_table_id(table_id: str) -> str:
    """Return ``table_id`` unchanged if it is ``[project.]dataset.table``, else raise.

    Raises:
        DataError: naming the id and the accepted form.
    """
    if not isinstance(table_id, str) or not _TABLE_ID.match(table_id):
        raise DataError(
            f"table id {table_id!r} is not valid: use 'project.dataset.table' or 'dataset.table' "
            "(project: 6-30 lowercase letters, digits or hyphens; dataset: letters, digits, "
            "underscores; table: letters, digits, underscores, hyphens)"
        )
    return table_id


def split_table_id(table_id: str) -> tuple[str | None, str, str]:
    """Split a validated table id into (project or None, dataset, table)."""
    match = _TABLE_ID.match(validate_table_id(table_id))
    assert match is not None
    return match["project"], match["dataset"], match["table"]


# BigQuery's flexible column names: letters, marks and numbers of any script, connectors (_),
# dashes, spaces and these signs; at most 300 characters; none of the reserved prefixes.
_COLUMN_SIGNS = set("&%=+:'<>#| ")
_COLUMN_CATEGORIES = ("L", "M", "N", "Pc", "Pd", "Zs")
_RESERVED_PREFIXES = ("_TABLE_", "_FILE_", "_PARTITION", "_ROW_TIMESTAMP", "__ROOT__", "_COLON_")
COLUMN_RULE = (
    "a column name holds letters (of any script, accents too), digits, underscores, dashes, spaces and "
    "& % = + : ' < > # |, at most 300 of them, and does not start with _TABLE_, _FILE_, _PARTITION, "
    "_ROW_TIMESTAMP, __ROOT__ or _COLON_ (BigQuery's flexible column names)"
)


def validate_column(name: str) -> str:
    """Return ``name`` unchanged if BigQuery accepts it as a column name (flexible names), else raise.

    Raises:
        DataError: naming the column, the character at fault and the rule.
    """
    if not isinstance(name, str) or not name.strip():
        raise DataError(f"column name {name!r} is not valid: {COLUMN_RULE}")
    wrong = [c for c in name if c not in _COLUMN_SIGNS and not unicodedata.category(c).startswith(_COLUMN_CATEGORIES)]
    if wrong:
        raise DataError(f"column name {name!r} is not valid: {wrong[0]!r} is not allowed; {COLUMN_RULE}")
    if name != name.strip():
        raise DataError(f"column name {name!r} is not valid: it starts or ends with a space; {COLUMN_RULE}")
    if len(name) > 300 or name.upper().startswith(_RESERVED_PREFIXES):
        raise DataError(f"column name {name!r} is not valid: {COLUMN_RULE}")
    return name


def quote_table(table_id: str) -> str:
    """Backtick-quote a table id for BigQuery Standard SQL after validating it."""
    return f"`{validate_table_id(table_id)}`"


def quote_column(name: str) -> str:
    """Backtick-quote a column name after validating it (a valid name holds no backtick or backslash)."""
    return f"`{validate_column(name)}`"


def column_literal(name: str) -> str:
    """A column name as a BigQuery string literal, after validating it (an apostrophe is escaped)."""
    return "'" + validate_column(name).replace("'", "\\'") + "'"
