"""Where data comes from: the engines, the table as the analysis sees it, and the SQL.

``open_source`` gives the Source named in params; ``table_view`` the table with the casts of
``column_types``. The engines import heavy libraries, so ``open_source`` imports the one it
opens when it is called.
"""

from pathlib import Path
from typing import TYPE_CHECKING

from bqlab.errors import DataError
from bqlab.project import find_root, rooted
from bqlab.sources.views import table_view

if TYPE_CHECKING:  # base imports pandas and sqlglot: importing identifiers (params validation) must not
    from bqlab.sources.base import Source

__all__ = ["open_source", "table_view"]


def open_source(params, stage: str | None = None, root: Path | None = None) -> "Source":
    """Return the Source named in params: ``local`` (the embedded engine) or ``bigquery``.

    Relative paths in params (local files, the query cache) start at ``root``, by default the
    project root (``bqlab.project.find_root``), else the working folder.
    """
    root = Path(root or find_root() or Path.cwd())
    if params.source == "local":
        # lazy: DuckDB, pandas, pyarrow and sqlglot (about 0.46 s); load_params runs this package's __init__
        from bqlab.sources.embedded import LocalSource

        files = {t: f.model_copy(update={"path": str(rooted(f.path, root))}) for t, f in params.local_files.items()}
        return LocalSource(files, params.local_engine)
    if params.source == "bigquery":
        # lazy: google-cloud-bigquery and pandas (about 0.41 s), for a BigQuery source only
        from bqlab.sources.bigquery import open_warehouse

        settings = params.bigquery
        if settings.cache_dir:
            settings = settings.model_copy(update={"cache_dir": str(rooted(settings.cache_dir, root))})
        return open_warehouse(settings, stage)
    raise DataError(f"unknown source {params.source!r}: use 'local' or 'bigquery'")
