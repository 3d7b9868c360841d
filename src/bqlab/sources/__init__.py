"""Where data comes from: the engines, the table as the analysis sees it, and the SQL.

``open_source`` gives the Source named in params (its kind is an entry of ``kinds``);
``table_view`` the table with the casts of ``column_types``.
"""

from pathlib import Path
from typing import TYPE_CHECKING

from bqlab.errors import DataError
from bqlab.project import find_root
from bqlab.sources import kinds
from bqlab.sources.views import table_view

if TYPE_CHECKING:  # base imports pandas and sqlglot: importing identifiers (params validation) must not
    from bqlab.sources.base import Source

__all__ = ["open_source", "table_view"]


def open_source(params, stage: str | None = None, root: Path | None = None) -> "Source":
    """Return the Source of the kind params name (``bqlab.sources.kinds``): ``local`` or ``bigquery``.

    Relative paths in params (local files, the query cache) start at ``root``, by default the
    project root (``bqlab.project.find_root``), else the working folder.

    Raises:
        DataError: params name no kind of source.
    """
    try:
        opener = kinds.kind(params.source).open
    except ValueError as e:
        raise DataError(str(e)) from None
    return opener(params, stage, Path(root or find_root() or Path.cwd()))
