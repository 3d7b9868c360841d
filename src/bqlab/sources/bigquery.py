"""The BigQuery source: the official client, named parameters, a cost guard, clear errors.

Every query is first dry-run (free) to learn how many bytes it would process; a query over
``maximum_bytes_billed`` is refused before it runs, and the cap is also set on the job so
BigQuery itself enforces it. Jobs carry labels naming the pipeline and stage. Results come
back through ``to_arrow()`` (``to_dataframe()`` is deprecated in the client): large ones
through the BigQuery Storage Read API, falling back to REST when that API is refused.

Selected with ``source: bigquery`` in params; ``bigquery.api_endpoint`` points the client at a
local emulator (no credentials) for tests.
"""

import datetime as dt
import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from bqlab.errors import CostLimitError, DataError
from bqlab.sources.base import QUERY_LOG_COLUMNS, tables_in
from bqlab.sources.identifiers import validate_table_id

GIB = 1024**3
USD_PER_TIB = 6.25  # on-demand price per TiB scanned (first TiB per month free)
_TYPES = {"FLOAT": "FLOAT64", "INTEGER": "INT64", "BOOLEAN": "BOOL", "RECORD": "STRUCT"}
# Errors of the Storage Read API after which the same rows are read over REST instead.
_STORAGE_REFUSED = ("PermissionDenied", "Forbidden", "Unauthenticated", "ServiceUnavailable", "Unimplemented")
_RETRYABLE = ("TooManyRequests", "InternalServerError", "ServiceUnavailable", "BadGateway", "GatewayTimeout")


def human_bytes(count: int) -> str:
    """Return a byte count as B, KiB, MiB, GiB or TiB."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.2f} TiB"


def estimated_cost_usd(count: int) -> float:
    """On-demand cost of scanning ``count`` bytes, before the monthly free tier."""
    return count / 1024**4 * USD_PER_TIB


def _scalar_type(value: Any) -> str:
    if isinstance(value, bool):
        return "BOOL"
    if isinstance(value, int):
        return "INT64"
    if isinstance(value, float):
        return "FLOAT64"
    if isinstance(value, dt.datetime):
        return "TIMESTAMP" if value.tzinfo else "DATETIME"
    if isinstance(value, dt.date):
        return "DATE"
    if isinstance(value, bytes):
        return "BYTES"
    return "STRING"


def query_parameters(params: Mapping[str, Any] | None) -> list:
    """Turn ``{name: value}`` into BigQuery named query parameters (lists become arrays)."""
    from google.cloud import bigquery

    out: list[bigquery.ScalarQueryParameter | bigquery.ArrayQueryParameter] = []
    for name, value in (params or {}).items():
        if isinstance(value, list | tuple):
            kinds = {_scalar_type(v) for v in value if v is not None} or {"STRING"}
            if len(kinds) > 1:
                raise DataError(f"query parameter @{name} mixes types {sorted(kinds)}: use one type per list")
            out.append(bigquery.ArrayQueryParameter(name, kinds.pop(), list(value)))
        else:
            out.append(bigquery.ScalarQueryParameter(name, _scalar_type(value), value))
    return out


def explain(err: Exception, what: str) -> DataError:
    """Map a client error to a message that says what is wrong and how to fix it."""
    name = type(err).__name__
    if name == "DefaultCredentialsError":
        return DataError(
            "no Google Cloud credentials found: run `gcloud auth application-default login`, "
            "or set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file"
        )
    if name == "NotFound":
        return DataError(
            f"{what}: not found ({getattr(err, 'message', err)}); check the project, dataset and table ids"
        )
    if name == "Forbidden":
        return DataError(
            f"{what}: permission denied ({getattr(err, 'message', err)}); the account needs "
            "roles/bigquery.jobUser on the billing project and roles/bigquery.dataViewer on the table"
        )
    if name in _RETRYABLE:
        return DataError(f"{what}: BigQuery kept failing after retries ({name}: {getattr(err, 'message', err)})")
    return DataError(f"{what}: {name}: {getattr(err, 'message', err)}")


# The client's own retries are off on every call (they wait up to 10 minutes, silently):
# with_retries below is the one retry loop, bounded and visible.
NO_CLIENT_RETRY = {"retry": None}
NO_CLIENT_JOB_RETRY = {"retry": None, "job_retry": None}


def with_retries(call: Callable[[], Any], what: str, attempts: int = 6, first_wait: float = 1.0) -> Any:
    """Run ``call``, retrying rate limits and server errors with exponential backoff.

    Each retry is said on stderr; with the defaults the waits add up to about 31 s before
    the last error is reported with its reason.
    """
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except DataError:
            raise
        except Exception as err:  # noqa: BLE001 - every client error is mapped below
            if type(err).__name__ in _RETRYABLE and attempt < attempts:
                wait = first_wait * 2 ** (attempt - 1)
                print(
                    f"BigQuery {what}: {type(err).__name__} ({getattr(err, 'message', err)}); "
                    f"retrying in {wait:.1f} s (attempt {attempt + 1} of {attempts})",
                    file=sys.stderr,
                )
                time.sleep(wait)
                continue
            raise explain(err, what) from err
    raise AssertionError("unreachable")


class BigQuerySource:
    """Runs BigQuery Standard SQL in the warehouse, billed to ``project``."""

    name = "bigquery"

    def __init__(
        self,
        client,
        *,
        maximum_bytes_billed: int = GIB,
        labels: Mapping[str, str] | None = None,
        cache=None,
        first_wait: float = 1.0,
        storage: bool | object = True,
        page_size: int | None = None,
    ) -> None:
        """Wrap ``client``; the keywords are the guard, the labels and how results are read.

        ``storage`` is True to let the client open a Storage Read client when a result is large,
        a Storage Read client to use, or False for REST only. ``page_size`` is rows per REST page
        (the client's default when None): a result larger than its first page is large.
        """
        self.client = client
        self.storage = storage
        self.page_size = page_size
        self.maximum_bytes_billed = maximum_bytes_billed
        self.labels = dict(labels or {"pipeline": "bqlab"})
        self.cache = cache
        self.first_wait = first_wait
        self.log: list[dict[str, Any]] = []  # one per query: bytes, cost, cache hit, for the report

    def _config(self, params: Mapping[str, Any] | None, dry_run: bool):
        from google.cloud import bigquery

        return bigquery.QueryJobConfig(
            query_parameters=query_parameters(params),
            labels=self.labels,
            maximum_bytes_billed=self.maximum_bytes_billed,
            dry_run=dry_run,
            use_query_cache=not dry_run,
        )

    def estimate(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        """Return the bytes a query would process (a free dry run); refuse it if over the cap.

        Raises:
            CostLimitError: with the estimate and how to raise the cap.
        """
        job = with_retries(
            lambda: self.client.query(sql, job_config=self._config(params, True), **NO_CLIENT_JOB_RETRY),
            "dry run",
            first_wait=self.first_wait,
        )
        count = int(job.total_bytes_processed or 0)
        if count > self.maximum_bytes_billed:
            raise CostLimitError(
                f"query would process {human_bytes(count)} (about ${estimated_cost_usd(count):.2f} on demand), over "
                f"maximum_bytes_billed = {human_bytes(self.maximum_bytes_billed)}; nothing was run or billed. "
                "Select fewer columns or rows, or raise maximum_bytes_billed in params if the cost is intended"
            )
        return count

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """Return the rows of one statement: from the cache, or after a dry run, from BigQuery."""
        key = None
        if self.cache is not None:
            versions = {t: self.table_version(t) for t in tables_in(sql)}
            key = self.cache.key(sql, params, versions)
            cached = self.cache.get(key)
            if cached is not None:
                self.log.append({"rows": len(cached), "bytes": 0, "estimated_bytes": None, "usd": 0.0, "cache": "hit"})
                return cached
        count = self.estimate(sql, params)

        def run():
            job = self.client.query(sql, job_config=self._config(params, False), **NO_CLIENT_JOB_RETRY)
            return self._download(job).to_pandas()

        frame = with_retries(run, "query", first_wait=self.first_wait)
        usd = estimated_cost_usd(count)
        cache = "miss" if key else "off"
        self.log.append({"rows": len(frame), "bytes": count, "estimated_bytes": count, "usd": usd, "cache": cache})
        if key:
            self.cache.put(key, frame)
        return frame

    def _download(self, job):
        """Return a finished job's rows as Arrow: Storage Read API for large results, else REST.

        The client reads a result that fits its first REST page over REST. A refused Storage Read
        (the API disabled, or no roles/bigquery.readSessionUser) is said once on stderr, and
        that query and the later ones read over REST.
        """
        if self.storage is not False:
            storage = {"create_bqstorage_client": True} if self.storage is True else {"bqstorage_client": self.storage}
            try:
                return job.result(page_size=self.page_size, **NO_CLIENT_JOB_RETRY).to_arrow(**storage)
            except Exception as err:  # noqa: BLE001 - only the refusals below fall back
                if type(err).__name__ not in _STORAGE_REFUSED:
                    raise
                print(
                    f"BigQuery Storage Read API refused ({type(err).__name__}: {getattr(err, 'message', err)}); "
                    "reading results over REST, which is slower for large results. To use it, enable the "
                    "BigQuery Storage API and grant roles/bigquery.readSessionUser, or set bigquery.storage_api: false",
                    file=sys.stderr,
                )
                self.storage = False
        return job.result(page_size=self.page_size, **NO_CLIENT_JOB_RETRY).to_arrow(create_bqstorage_client=False)

    def query_log(self) -> pd.DataFrame:
        """Return one row per query of this source: rows, bytes billed (estimated), cost, cache."""
        return pd.DataFrame(self.log, columns=QUERY_LOG_COLUMNS)

    def _table(self, table_id: str):
        validate_table_id(table_id)
        return with_retries(
            lambda: self.client.get_table(table_id, **NO_CLIENT_RETRY),
            f"table {table_id!r}",
            first_wait=self.first_wait,
        )

    def schema(self, table_id: str) -> dict[str, str]:
        """Return the table's columns and BigQuery types (a free metadata call)."""
        table = self._table(table_id)
        return {field.name: _TYPES.get(field.field_type, field.field_type) for field in table.schema}

    def row_count(self, table_id: str) -> int:
        """Return the table's number of rows from its metadata (free)."""
        table = self._table(table_id)
        return int(table.num_rows or 0)

    def table_version(self, table_id: str) -> dict[str, Any]:
        """Return what identifies the table's content: last modification time and size (free)."""
        table = self._table(table_id)
        modified = table.modified.isoformat() if table.modified else None
        return {"table": table_id, "modified": modified, "rows": table.num_rows, "bytes": table.num_bytes}


def open_warehouse(settings, stage: str | None = None) -> BigQuerySource:
    """Build the client from params (``bigquery:`` in common.yaml) and wrap it as a source.

    Raises:
        DataError: no billing project, or no credentials (with how to provide them).
    """
    from google.cloud import bigquery

    project = settings.project or os.environ.get("GOOGLE_CLOUD_PROJECT")
    if not project:
        raise DataError(
            "no billing project for BigQuery: set bigquery.project in params/common.yaml "
            "or the GOOGLE_CLOUD_PROJECT environment variable"
        )
    labels = {"pipeline": "bqlab", **({"stage": stage} if stage else {})}
    if settings.api_endpoint:  # a local emulator: no credentials
        from google.api_core.client_options import ClientOptions
        from google.auth.credentials import AnonymousCredentials

        client = bigquery.Client(
            project=project,
            location=settings.location,
            credentials=AnonymousCredentials(),
            client_options=ClientOptions(api_endpoint=settings.api_endpoint),
        )
    else:
        client = with_retries(lambda: bigquery.Client(project=project, location=settings.location), "BigQuery client")
    storage = settings.storage_api
    if storage and settings.storage_api_endpoint:  # a local emulator's Storage Read API: plain gRPC
        storage = storage_read_client(settings.storage_api_endpoint)
    cache = None
    if settings.cache_dir and os.environ.get("BQLAB_QUERY_CACHE", "on") != "off":
        from bqlab.sources.query_cache import QueryCache

        cache = QueryCache(settings.cache_dir)
    return BigQuerySource(
        client, maximum_bytes_billed=settings.maximum_bytes_billed, labels=labels, cache=cache, storage=storage
    )


def storage_read_client(endpoint: str):
    """A Storage Read API client of a local emulator at ``host:port`` (no TLS, no credentials)."""
    import grpc
    from google.cloud import bigquery_storage_v1
    from google.cloud.bigquery_storage_v1.services.big_query_read.transports import BigQueryReadGrpcTransport

    return bigquery_storage_v1.BigQueryReadClient(
        transport=BigQueryReadGrpcTransport(channel=grpc.insecure_channel(endpoint))
    )
