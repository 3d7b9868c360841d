"""Validation and quoting of BigQuery identifiers: the only way names enter SQL text.

Values always travel as named query parameters; identifiers (tables, columns) cannot, so
they are checked against BigQuery's naming rules here and backtick-quoted.
"""

import re

from bqlab.errors import DataError

_PROJECT = r"(?:[a-z][a-z0-9.-]*:)?[a-z][a-z0-9-]{4,28}[a-z0-9]"
_DATASET = r"[A-Za-z0-9_]{1,1024}"
_TABLE = r"[A-Za-z0-9_][A-Za-z0-9_-]{0,1023}"
_TABLE_ID = re.compile(rf"^(?:(?P<project>{_PROJECT})\.)?(?P<dataset>{_DATASET})\.(?P<table>{_TABLE})$")
_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,299}$")


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


def validate_column(name: str) -> str:
    """Return ``name`` unchanged if it is a plain BigQuery column name, else raise.

    Raises:
        DataError: naming the column and the accepted form.
    """
    if not isinstance(name, str) or not _COLUMN.match(name):
        raise DataError(
            f"column name {name!r} is not valid: use letters, digits and underscores, "
            "starting with a letter or underscore"
        )
    return name


def quote_table(table_id: str) -> str:
    """Backtick-quote a table id for BigQuery Standard SQL after validating it."""
    return f"`{validate_table_id(table_id)}`"


def quote_column(name: str) -> str:
    """Backtick-quote a column name after validating it."""
    return f"`{validate_column(name)}`"
