"""The kinds of source params may name (``source:`` in common.yaml), one entry each.

An entry gives the name, the params keys that configure it (their models are in ``bqlab.config``),
whether its data is files of this project (fingerprinted by their bytes, so a no-op run is known
without opening anything) or a warehouse table (known by the table's version), how to open it,
and what ``make doctor`` says of it. The params check, ``open_source``, the doctor, the
fingerprints and the training params saved beside a model all read this; none compares a
kind's name (``tests/test_source_kinds.py`` checks). A new engine is one module and one entry.
The engines import heavy libraries, so each is imported when it is opened.
"""

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bqlab.project import cache_dir, rooted

if TYPE_CHECKING:  # base imports pandas and sqlglot: params validation imports this module
    from bqlab.sources.base import Source


@dataclass(frozen=True)
class SourceKind:
    """One kind of source."""

    name: str
    settings: tuple[str, ...]  # the keys of params/common.yaml that configure it
    local: bool  # its data is files of the project: digested by their bytes, never a warehouse call
    open: Callable[[Any, str | None, Path], "Source"]  # (common params, stage, project root) -> Source
    doctor: Callable[[Any], str]  # make doctor's line about the opened Source
    read_cost: Callable[["Source", Any], str] | None = None  # make doctor: what a full read of the table costs


def _open_local(params, stage: str | None, root: Path) -> "Source":
    # lazy: DuckDB, pandas, pyarrow and sqlglot (about 0.46 s); load_params imports this module
    from bqlab.sources.embedded import LocalSource

    files = {t: f.model_copy(update={"path": str(rooted(f.path, root))}) for t, f in params.local_files.items()}
    return LocalSource(files, params.local_engine, cache=local_result_cache())


def local_result_cache():
    """The embedded engine's result cache, ``$XDG_CACHE_HOME/bqlab/local-results`` (None: ``BQLAB_QUERY_CACHE=off``)."""
    # lazy: the cache reads and writes Parquet with pandas (about 0.3 s)
    from bqlab.sources.query_cache import QueryCache, switched_off

    return None if switched_off() else QueryCache(cache_dir() / "local-results")


def _open_bigquery(params, stage: str | None, root: Path) -> "Source":
    # lazy: google-cloud-bigquery and pandas (about 0.41 s), for a BigQuery source only
    from bqlab.sources.bigquery import open_warehouse

    settings = params.bigquery
    if settings.cache_dir:
        settings = settings.model_copy(update={"cache_dir": str(rooted(settings.cache_dir, root))})
    return open_warehouse(settings, stage)


def _bigquery_read_cost(engine, common) -> str:
    # lazy: google-cloud-bigquery costs about 0.5 s; the default local source never needs it
    from bqlab.sources.base import named_query
    from bqlab.sources.bigquery import estimated_cost_usd, human_bytes
    from bqlab.sources.identifiers import quote_column, quote_table

    columns = ", ".join(quote_column(c) for c in common.columns)
    count = engine.estimate(named_query("select_columns", table=quote_table(common.table), columns=columns))
    return f"a full read costs {human_bytes(count)} (about ${estimated_cost_usd(count):.4f}, free dry run)"


KINDS: dict[str, SourceKind] = {
    k.name: k
    for k in (
        SourceKind(
            "local",
            ("local_tables", "local_engine"),
            local=True,
            open=_open_local,
            doctor=lambda engine: "embedded engine (DuckDB), offline",
        ),
        SourceKind(
            "bigquery",
            ("bigquery",),
            local=False,
            open=_open_bigquery,
            doctor=lambda engine: f"BigQuery, billed to {engine.client.project}",
            read_cost=_bigquery_read_cost,
        ),
    )
}
DEFAULT = "local"
# Where the data lives and the engine's resources: not what a model was trained on.
SETTINGS = frozenset(key for k in KINDS.values() for key in k.settings)


def kind(name: str) -> SourceKind:
    """The kind of source called ``name``.

    Raises:
        ValueError: no kind has that name; the message gives the closest and the list.
    """
    if name not in KINDS:
        close = difflib.get_close_matches(str(name), KINDS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown source {name!r}{hint}: use one of {', '.join(KINDS)}")
    return KINDS[name]
