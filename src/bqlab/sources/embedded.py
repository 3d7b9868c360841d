"""The embedded engine: DuckDB in memory, speaking BigQuery Standard SQL through sqlglot.

It serves the embedded public tables and any CSV or Parquet file mapped to a BigQuery-style
table id. BigQuery functions DuckDB lacks are registered as DuckDB functions with BigQuery's
exact results (FARM_FINGERPRINT, through FarmHash's own Fingerprint64), so a query returns the
same rows here as in the warehouse; only a statement built for this engine's own ``HASH`` (a
sample: ``native_hash``) differs.
"""

import contextlib
import hashlib
import os
import shutil
import tempfile
import time
import uuid
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb
import farmhash
import numpy as np
import pandas as pd
import pyarrow as pa
import sqlglot
from duckdb.func import ARROW
from sqlglot import exp

from bqlab.digests import file_stamp
from bqlab.errors import DataError, interrupted
from bqlab.sources.base import QUERY_LOG_COLUMNS, named_query, tables_in
from bqlab.sources.datasets import EMBEDDED_TABLES
from bqlab.sources.identifiers import quote_table, split_table_id, validate_table_id
from bqlab.sources.query_cache import QueryCache

# DuckDB column types as the BigQuery types a user would see in the warehouse.
_BIGQUERY_TYPES = {
    "VARCHAR": "STRING",
    "DOUBLE": "FLOAT64",
    "FLOAT": "FLOAT64",
    "BIGINT": "INT64",
    "INTEGER": "INT64",
    "SMALLINT": "INT64",
    "TINYINT": "INT64",
    "HUGEINT": "INT64",
    "UTINYINT": "INT64",
    "USMALLINT": "INT64",
    "UINTEGER": "INT64",
    "UBIGINT": "INT64",
    "BOOLEAN": "BOOL",
    "DATE": "DATE",
    "TIMESTAMP": "DATETIME",
    "TIMESTAMP WITH TIME ZONE": "TIMESTAMP",
    "BLOB": "BYTES",
}


# The column types guessed from a CSV file's text, as BigQuery's schema detection guesses them.
_CSV_TYPES = ("BIGINT", "DOUBLE", "DATE", "TIMESTAMP", "TIMESTAMPTZ", "VARCHAR")

# Defaults of params' local_engine: DuckDB's memory cap (beyond it, sorts spill to a private
# temporary folder) and its threads (None: one per core).
MEMORY_LIMIT = "256MB"

# Results that took this long to compute are kept in the result cache (``LocalSource``'s ``cache``):
# the split the training computes is the one the evaluation asks for (11.7 s of the evaluation at
# 10M rows), and a stage re-run with other params asks again for the samples and the split. What
# takes less is computed again (the penguins report keeps nothing).
CACHE_SECONDS = 1.0
# The result cache's size: beyond it the results used longest ago are removed.
CACHE_BYTES = 512 * 1024**2
# Functions whose statements are never kept: another answer on every run.
_VOLATILE = (
    exp.Rand, exp.Uuid, exp.CurrentDate, exp.CurrentDatetime, exp.CurrentTime, exp.CurrentTimestamp, exp.TableSample
)  # fmt: skip
# This module's own text stands for how it reads files and what its functions return: a change misses.
_ENGINE = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


def _stamp(path: Path) -> list[int] | None:
    """``file_stamp``, or None for a file that cannot be read (the query then names the problem)."""
    try:
        return file_stamp(path)
    except OSError:
        return None


def farm_fingerprint(values: pa.Array) -> pa.Array:
    """BigQuery's FARM_FINGERPRINT: FarmHash Fingerprint64 of the UTF-8 bytes, as a signed INT64."""
    strings = values.to_pylist()  # a list, not an object array: 15% faster on 10M rows
    if values.null_count:
        hashes = np.array([0 if s is None else farmhash.fingerprint64(s) for s in strings], dtype=np.uint64)
        return pa.array(hashes.view(np.int64), mask=values.is_null().to_numpy(zero_copy_only=False))
    # map() over the C function: no Python bytecode per row (a third faster on 10M rows).
    hashes = np.fromiter(map(farmhash.fingerprint64, strings), dtype=np.uint64, count=len(strings))
    return pa.array(hashes.view(np.int64))


@contextlib.contextmanager
def _signals_raised():
    """Raise Ctrl-C or SIGTERM as themselves: DuckDB turns them into its own error during a statement."""
    try:
        yield
    except RuntimeError as err:
        if str(err) == "Query interrupted":
            raise interrupted() from None
        raise


class LocalSource:
    """DuckDB in memory, speaking BigQuery SQL through sqlglot."""

    name = "local"
    # DuckDB's own 64-bit hash: a row key's FARM_FINGERPRINT is a Python call (2.5 s per 10M rows).
    native_hash = "HASH"

    def __init__(
        self, local_tables: Mapping[str, Any] | None = None, engine: Any = None, cache: QueryCache | None = None
    ) -> None:
        """Open the engine.

        Args:
            local_tables: table id -> file path, or an object with ``path``, ``encoding`` and
                ``delimiter`` (``bqlab.config.LocalFile``).
            engine: an object with ``memory_limit`` and ``threads`` (``bqlab.config.LocalEngineParams``).
            cache: where to keep the results of statements that took ``CACHE_SECONDS`` or more,
                keyed by the statement, its parameters and each file's size, time and inode
                (a file written again misses), or None to keep nothing.
        """
        self.cache = cache
        self._con = duckdb.connect(":memory:")
        # Bounded memory on any table size: DuckDB spills large sorts (the split's ORDER BY over
        # every row) to a private temporary folder instead of growing past the limit. DuckDB makes
        # the folder only when it spills and removes it when the connection closes, so a query that
        # never spills leaves nothing in the temp folder (making it here left one per notebook).
        self._spill = os.path.join(tempfile.gettempdir(), f"bqlab-duckdb-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        weakref.finalize(self, shutil.rmtree, self._spill, ignore_errors=True)
        memory = getattr(engine, "memory_limit", None) or MEMORY_LIMIT
        self._con.execute(f"SET memory_limit = '{memory.replace(' ', '')}'")  # validated by params
        if getattr(engine, "threads", None):
            self._con.execute(f"SET threads = {int(engine.threads)}")
        self._con.execute(f"SET temp_directory = '{self._spill}'")
        self._con.execute("SET TimeZone = 'UTC'")  # as BigQuery: a TIMESTAMP's DATE is its day in UTC
        # Outside Jupyter, DuckDB draws a progress bar on stdout for a query over 2 s. In a kernel
        # it would use ipywidgets, which the environment does not have: DuckDB then draws none,
        # and refuses to change the setting (so the error is expected there).
        with contextlib.suppress(duckdb.Error):
            self._con.execute("SET enable_progress_bar = false")
        self._con.create_function(
            "farm_fingerprint", farm_fingerprint, [duckdb.sqltype("VARCHAR")], duckdb.sqltype("BIGINT"), type=ARROW
        )
        self._files = {validate_table_id(t): _file_entry(p) for t, p in (local_tables or {}).items()}
        self._loaded: set[str] = set()
        self._loaded_stamps: dict[str, list[int]] = {}  # a file's stamp when DuckDB read it (a CSV is read once)
        self.log: list[dict[str, Any]] = []

    def _ensure_table(self, table_id: str) -> str:
        """Create ``table_id`` in DuckDB on first use; return its DuckDB name."""
        project, dataset, table = split_table_id(table_id)
        catalog = f'"{project}"' if project else "memory"
        target = f'{catalog}."{dataset}"."{table}"'
        if table_id in self._loaded:
            return target
        if table_id in self._files:
            stamp = _stamp(self._files[table_id][0])
            kind, loader = self._file_relation(table_id)
            if stamp is not None:
                self._loaded_stamps[table_id] = stamp
        elif table_id in EMBEDDED_TABLES:
            frame = EMBEDDED_TABLES[table_id]()  # noqa: F841 - read by DuckDB's replacement scan
            kind, loader = "TABLE", "SELECT * FROM frame"
        else:
            known = sorted(set(self._files) | set(EMBEDDED_TABLES))
            raise DataError(
                f"table {table_id!r} is not available to the local source: map it to a CSV or "
                f"Parquet file under 'local_tables' in params/common.yaml (known: {known})"
            )
        if project and project not in self._attached():
            self._con.execute(f"ATTACH ':memory:' AS \"{project}\"")
        self._con.execute(f'CREATE SCHEMA IF NOT EXISTS {catalog}."{dataset}"')
        with _signals_raised():  # a signal while a CSV file is read
            try:
                self._con.execute(f"CREATE {kind} {target} AS {loader}")
            except duckdb.Error as err:
                raise _unreadable(table_id, self._files.get(table_id), err) from None
        self._loaded.add(table_id)
        return target

    def _file_relation(self, table_id: str) -> tuple[str, str]:
        """Return how to create the mapped file's table in DuckDB: ("VIEW" or "TABLE", its SELECT).

        A Parquet file stays on disk and is scanned by each query (columnar, in parallel), so a
        table of any size costs no memory to open; a CSV file is parsed once into a table.
        """
        path, encoding, delimiter = self._files[table_id]
        if not path.is_file():
            raise DataError(
                f"local file for table {table_id!r} not found: {path}; fix its path under local_tables "
                "in params (or put the file there)"
            )
        literal = _string_literal(str(path))
        if path.suffix.lower() == ".parquet":
            return "VIEW", f"SELECT * FROM read_parquet({literal})"
        if path.suffix.lower() in {".csv", ".gz"}:
            options = f", encoding = {_string_literal(encoding)}"
            options += f", delim = {_string_literal(delimiter)}" if delimiter else ""
            self._check_header(table_id, literal, options)
            # The types BigQuery's own CSV load would give: no BOOL guessed from text (DuckDB reads
            # yes/no, y/n and t/f as BOOL), so text stays text; column_types casts it on request.
            types = ", ".join(f"'{t}'" for t in _CSV_TYPES)
            return (
                "TABLE",
                f"SELECT * FROM read_csv({literal}, header = true{options}, auto_type_candidates = [{types}])",
            )
        raise DataError(f"local file for table {table_id!r} must be .csv or .parquet: {path}")

    def _check_header(self, table_id: str, literal: str, options: str) -> None:
        """Refuse a CSV header that names a column twice (DuckDB would rename the second one ``name_1``)."""
        try:
            names = self._con.execute(
                f"SELECT * FROM read_csv({literal}, header = false{options}, all_varchar = true) LIMIT 1"
            ).fetchone()
        except duckdb.Error as err:
            raise _unreadable(table_id, self._files.get(table_id), err) from None
        seen: dict[str, tuple[str, int]] = {}
        twice = []
        for position, name in enumerate(names or (), start=1):  # BigQuery's names ignore case
            if str(name).lower() in seen:
                first, at = seen[str(name).lower()]
                twice.append(
                    f"{first!r} and {name!r} (columns {at} and {position})"
                    if first != name
                    else f"{name!r} (columns {at} and {position})"
                )
            seen.setdefault(str(name).lower(), (name, position))
        if twice:
            path = self._files[table_id][0]
            raise DataError(
                f"cannot read {path} (table {table_id!r}): its header names {', '.join(twice)} more than once "
                "(names that differ only in case are the same column); give each column its own name in the "
                "file's first line"
            )

    def _attached(self) -> set[str]:
        return {row[0] for row in self._con.execute("SELECT database_name FROM duckdb_databases()").fetchall()}

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """Translate ``sql`` from BigQuery Standard SQL to DuckDB and run it (or read its kept result)."""
        try:
            tree = sqlglot.parse_one(sql, read="bigquery")
        except sqlglot.errors.ParseError as err:
            raise DataError(f"query is not valid BigQuery Standard SQL: {err}") from err
        tables = tables_in(tree)
        _check_parameters(tree, params or {})
        key = self._cache_key(tree, sql, params, tables)
        if self.cache is None or key is None:  # nothing to read or keep for this statement
            return self._run(tree, params, tables, None)
        with self.cache.computing(key):  # the same statement sent by another notebook at once: computed once
            kept = self.cache.get(key)
            return self._logged(kept, "hit") if kept is not None else self._run(tree, params, tables, key)

    def _run(self, tree: exp.Expr, params: Mapping[str, Any] | None, tables: list[str], key: str | None):
        """Run the statement on DuckDB; keep its result under ``key`` if it took ``CACHE_SECONDS`` or more."""
        for table_id in tables:
            self._ensure_table(table_id)
        started = time.perf_counter()
        with _signals_raised():
            try:
                relation = self._con.execute(tree.sql(dialect="duckdb", copy=False), dict(params or {}))
                frame = relation.df()
            except duckdb.Error as err:
                raise DataError(f"query failed on the local source: {err}") from err
        # DuckDB widens integer aggregates (COUNTIF, SUM) to HUGEINT; BigQuery returns INT64.
        wide = [name for name, kind, *_ in relation.description if str(kind) == "HUGEINT"]
        frame = frame.astype({name: "Int64" for name in wide}) if wide else frame
        if self.cache and key and time.perf_counter() - started >= CACHE_SECONDS:
            try:
                self.cache.put(key, frame, max_bytes=CACHE_BYTES)
                return self._logged(frame, "kept")
            except Exception:  # noqa: BLE001 - a result that cannot be kept (disk full, column names) is not kept
                pass
        return self._logged(frame, "off" if self.cache is None else "n/a")

    def _logged(self, frame: pd.DataFrame, cache: str) -> pd.DataFrame:
        """Log one statement's rows and what the result cache did with it; return the rows."""
        self.log.append({"rows": len(frame), "bytes": None, "estimated_bytes": None, "usd": 0.0, "cache": cache})
        return frame

    def _cache_key(self, tree: exp.Expr, sql: str, params: Mapping[str, Any] | None, tables) -> str | None:
        """The statement's key in the result cache: its text, parameters, the engines' versions, each file's state.

        None when a file cannot be read (the query then runs and names the problem), when the statement
        gives another answer each time (RAND, CURRENT_DATE, GENERATE_UUID, TABLESAMPLE, as BigQuery's own
        cache), when a CSV changed since this engine read it, or there is no cache.
        """
        if self.cache is None or any(isinstance(node, _VOLATILE) for node in tree.walk()):
            return None
        versions: dict[str, Any] = {"duckdb": duckdb.__version__, "sqlglot": sqlglot.__version__, "engine": _ENGINE}
        for table_id in tables:
            if table_id in self._files:
                path, encoding, delimiter = self._files[table_id]
                stamp = _stamp(path)
                # A CSV table holds the file as it was read: one changed since is neither read nor kept.
                if stamp is None or self._loaded_stamps.get(table_id, stamp) != stamp:
                    return None
                versions[table_id] = [str(path), *stamp, encoding, delimiter]
            else:
                versions[table_id] = "embedded"
        return self.cache.key(sql, params, versions)

    def table_version(self, table_id: str) -> dict[str, Any]:
        """What stands for the table's version: its rows and schema (the runner hashes local files instead)."""
        return {"rows": self.row_count(table_id), "schema": self.schema(table_id)}

    def query_log(self) -> pd.DataFrame:
        """Return one row per query: rows returned (nothing is billed on the embedded engine)."""
        return pd.DataFrame(self.log, columns=QUERY_LOG_COLUMNS)

    def row_count(self, table_id: str) -> int:
        """Return the table's number of rows."""
        return int(self.query(named_query("row_count", table=quote_table(table_id)))["row_count"].iloc[0])

    def schema(self, table_id: str) -> dict[str, str]:
        """Return the table's columns and BigQuery types (loading the table if needed)."""
        target = self._ensure_table(validate_table_id(table_id))
        rows = self._con.execute(f"DESCRIBE {target}").fetchall()
        return {name: _bigquery_type(str(kind)) for name, kind, *_ in rows}


def _bigquery_type(duckdb_type: str) -> str:
    """The BigQuery type a user would see for a DuckDB column type (DECIMAL(p, s) is NUMERIC)."""
    kind = duckdb_type.upper()
    if kind.startswith("DECIMAL"):
        return "NUMERIC"
    return _BIGQUERY_TYPES.get(kind, kind)


def _file_entry(entry: Any) -> tuple[Path, str, str | None]:
    if isinstance(entry, str | Path):
        return Path(entry), "utf-8", None
    return Path(entry.path), entry.encoding, entry.delimiter


def _string_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _unreadable(table_id: str, entry: tuple[Path, str, str | None] | None, err: Exception) -> DataError:
    """One line that names the file, what went wrong and the setting that fixes it."""
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if entry is None:
        return DataError(f"table {table_id!r} could not be loaded: {first}")
    path, encoding, _ = entry
    text = str(err).lower()
    if path.suffix.lower() == ".parquet":
        fix = "check that the file is a whole Parquet file (write it again if it was cut short)"
    elif "unicode" in text or "encoding" in text or "utf" in text:
        fix = (
            f"the file is not {encoding} text: set its encoding in params/common.yaml, e.g. "
            f"local_tables: {{{table_id}: {{path: ..., encoding: latin-1}}}} (utf-8, utf-16 or latin-1)"
        )
    else:
        fix = (
            "check the file, or set its delimiter in params/common.yaml, e.g. "
            f"local_tables: {{{table_id}: {{path: ..., delimiter: ';'}}}}"
        )
    return DataError(f"cannot read {path} (table {table_id!r}): {first.removeprefix('Invalid Input Error: ')}; {fix}")


def _check_parameters(tree: exp.Expr, params: Mapping[str, Any]) -> None:
    used = {p.name for p in tree.find_all(exp.Parameter)}
    missing, unused = sorted(used - set(params)), sorted(set(params) - used)
    if missing or unused:
        raise DataError(
            f"query parameters do not match the SQL: missing {missing}, not used {unused}; "
            "pass exactly the @names the query uses"
        )
