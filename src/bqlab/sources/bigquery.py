"""The BigQuery source: the official client, named parameters, a cost guard, clear errors.

Every query is first dry-run (free) to learn how many bytes it would process; a query over
``maximum_bytes_billed`` is refused before it runs, and the cap is also set on the job so
BigQuery itself enforces it. Jobs carry labels naming the pipeline and stage. Results come
back through ``to_arrow()`` (``to_dataframe()`` is deprecated in the client): large ones
through the BigQuery Storage Read API, falling back to REST when that API is refused.
Every call passes the client a ``Retry`` that tries again on the reason BigQuery gives (rate
limits and backend errors, even behind a 403) and on a lost connection, saying each new try
on stderr; permission, not-found and quota errors fail at once with the client's own words.

Selected with ``source: bigquery`` in params; ``bigquery.api_endpoint`` points the client at a
local emulator (no credentials) for tests.
"""

import datetime as dt
import itertools
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import grpc
import pandas as pd
import requests
from google.api_core import exceptions as api_errors
from google.api_core.client_options import ClientOptions
from google.api_core.retry import Retry
from google.auth import exceptions as auth_errors
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery, bigquery_storage_v1
from google.cloud.bigquery_storage_v1.services.big_query_read.transports import BigQueryReadGrpcTransport

from bqlab.errors import CostLimitError, DataError
from bqlab.gcloud import auth_problem, unreadable_key
from bqlab.sources.base import QUERY_LOG_COLUMNS, tables_in
from bqlab.sources.identifiers import validate_table_id
from bqlab.sources.query_cache import QueryCache, switched_off
from bqlab.sources.views import FARM_FINGERPRINT

GIB = 1024**3
USD_PER_TIB = 6.25  # on-demand price per TiB scanned (first TiB per month free)
_TYPES = {"FLOAT": "FLOAT64", "INTEGER": "INT64", "BOOLEAN": "BOOL", "RECORD": "STRUCT"}
T = TypeVar("T")


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


# Errors worth another try, by the reason BigQuery gives (a 403 can be a rate limit, not a
# permission) or, when there is no reason, by type: server errors and a lost connection.
RETRIED_REASONS = frozenset(
    {"rateLimitExceeded", "backendError", "internalError", "badGateway"}
    | {"jobRateLimitExceeded", "jobBackendError", "jobInternalError"}  # a failed job, run again
)
RETRIED_TYPES = (
    api_errors.TooManyRequests,
    api_errors.InternalServerError,
    api_errors.BadGateway,
    api_errors.ServiceUnavailable,
    api_errors.GatewayTimeout,
    ConnectionError,
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.Timeout,
    auth_errors.TransportError,
)
QUOTA_REASONS = frozenset({"quotaExceeded", "billingTierLimitExceeded"})
# Errors of the Storage Read API after which the same rows are read over REST instead.
STORAGE_REFUSED = (
    api_errors.PermissionDenied,
    api_errors.Forbidden,
    api_errors.Unauthenticated,
    api_errors.ServiceUnavailable,
    api_errors.MethodNotImplemented,
)


def error_reason(err: BaseException) -> str | None:
    """The reason BigQuery gave for an error (``rateLimitExceeded``, ``accessDenied`` ...), if any."""
    try:
        return getattr(err, "errors", None)[0]["reason"]  # type: ignore[index]
    except (TypeError, IndexError, KeyError):
        return getattr(err, "reason", None)


def retryable(err: BaseException) -> bool:
    """Whether another try may succeed: rate limits, backend errors and lost connections."""
    if isinstance(err, requests.exceptions.SSLError):  # a certificate problem does not pass
        return False
    reason = error_reason(err)
    if reason is not None:
        return reason in RETRIED_REASONS
    return isinstance(err, RETRIED_TYPES)


def describe(err: BaseException) -> str:
    """An error as its reason (or type) and the client's own message."""
    message = getattr(err, "message", None) or str(err)
    return f"{error_reason(err) or type(err).__name__}: {message}"


def explain(err: BaseException, what: str, retry_timeout: float | None = None) -> DataError:
    """Map a client error to a message that keeps the client's words and says how to fix it."""
    if isinstance(err, api_errors.RetryError):
        last = err.cause or err
        waited = f" for {retry_timeout:g} s" if retry_timeout else ""
        return DataError(
            f"{what}: BigQuery kept failing{waited} ({describe(last)}); try again later, "
            "or see https://status.cloud.google.com"
        )
    if problem := auth_problem(err, what):
        return DataError(problem)
    reason = error_reason(err)
    if reason in QUOTA_REASONS:
        return DataError(
            f"{what}: a BigQuery quota is used up ({describe(err)}); wait for it to reset, or ask "
            "for more quota on the billing project"
        )
    if isinstance(err, api_errors.NotFound):
        return DataError(f"{what}: not found ({describe(err)}); check the project, dataset and table ids")
    if isinstance(err, api_errors.Forbidden):
        return DataError(
            f"{what}: permission denied ({describe(err)}); the account needs "
            "roles/bigquery.jobUser on the billing project and roles/bigquery.dataViewer on the table"
        )
    if retryable(err):  # retried by the caller's Retry until its time ran out
        return DataError(f"{what}: BigQuery kept failing ({describe(err)}); try again later")
    return DataError(f"{what}: {describe(err)}")


class BigQuerySource:
    """Runs BigQuery Standard SQL in the warehouse, billed to ``project``."""

    name = "bigquery"
    native_hash = FARM_FINGERPRINT

    def __init__(
        self,
        client,
        *,
        maximum_bytes_billed: int = GIB,
        labels: Mapping[str, str] | None = None,
        cache=None,
        first_wait: float = 1.0,
        retry_timeout: float = 120.0,
        storage: bool | object = True,
        page_size: int | None = None,
    ) -> None:
        """Wrap ``client``; the keywords are the guard, the labels and how results are read.

        ``storage`` is True to let the client open a Storage Read client when a result is large,
        a Storage Read client to use, or False for REST only. ``page_size`` is rows per REST page
        (the client's default when None): a result larger than its first page is large.
        ``first_wait`` is the first pause before another try, and ``retry_timeout`` when to stop.
        """
        self.client = client
        self.storage = storage
        self.page_size = page_size
        self.maximum_bytes_billed = maximum_bytes_billed
        self.labels = dict(labels or {"pipeline": "bqlab"})
        self.cache = cache
        self.first_wait = first_wait
        self.retry_timeout = retry_timeout
        self.log: list[dict[str, Any]] = []  # one per query: bytes, cost, cache hit, for the report

    def _retry(self, what: str) -> Retry:
        """The client's own retry, on the error reason, saying each new try on stderr.

        It is passed as ``retry`` (each API request) and wraps a whole query (a job that failed
        for a passing reason runs again). The client's ``job_retry`` stays off: with it, the
        client wraps the job insert in a retry of its own that tries errors again silently for
        10 minutes, past this retry's time limit.
        """
        tries = itertools.count(2)

        def say(err: Exception) -> None:
            print(
                f"BigQuery {what}: {describe(err)}; trying again (try {next(tries)}; "
                f"giving up after {self.retry_timeout:g} s)",
                file=sys.stderr,
            )

        wait = self.first_wait
        return Retry(
            predicate=retryable,
            initial=wait,
            maximum=16 * wait,
            multiplier=2,
            timeout=self.retry_timeout,
            on_error=say,
        )

    def _call(self, what: str, call: Callable[[Retry], T]) -> T:
        """Run ``call`` with a retry for the client; map what still fails to a clear DataError."""
        try:
            return call(self._retry(what))
        except DataError:
            raise
        except Exception as err:  # noqa: BLE001 - every client error is explained
            raise explain(err, what, self.retry_timeout) from err

    def _config(self, params: Mapping[str, Any] | None, dry_run: bool):

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
        config = self._config(params, True)
        job = self._call("dry run", lambda r: self.client.query(sql, job_config=config, retry=r, job_retry=None))
        count = int(job.total_bytes_processed or 0)
        if count > self.maximum_bytes_billed:
            raise CostLimitError(
                f"query would process {human_bytes(count)} (about ${estimated_cost_usd(count):.2f} on demand), over "
                f"maximum_bytes_billed = {human_bytes(self.maximum_bytes_billed)}; nothing was run or billed. "
                "Select fewer columns or rows, or raise maximum_bytes_billed in params if the cost is intended"
            )
        return count

    def _cache_key(self, sql: str, params: Mapping[str, Any] | None) -> str | None:
        """The statement's key in the query cache (None without a cache): its text, parameters and tables' versions."""
        if self.cache is None:
            return None
        return self.cache.key(sql, params, {t: self.table_version(t) for t in tables_in(sql)})

    def cached(self, sql: str, params: Mapping[str, Any] | None = None) -> bool:
        """Whether the query cache holds this statement's rows, so running it would bill nothing."""
        key = self._cache_key(sql, params)
        return key is not None and self.cache is not None and self.cache.holds(key)

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """Return the rows of one statement: from the cache, or after a dry run, from BigQuery."""
        key = self._cache_key(sql, params)
        if self.cache is None or key is None:
            return self._run(sql, params, None)
        with self.cache.computing(key):  # the same statement sent by another notebook at once: billed once
            cached = self.cache.get(key)
            if cached is None:
                return self._run(sql, params, key)
            self.log.append({"rows": len(cached), "bytes": 0, "estimated_bytes": None, "usd": 0.0, "cache": "hit"})
            return cached

    def _run(self, sql: str, params: Mapping[str, Any] | None, key: str | None) -> pd.DataFrame:
        """Run the statement on BigQuery after its dry run; keep its rows under ``key``."""
        count = self.estimate(sql, params)

        config = self._config(params, False)

        def run(retry: Retry) -> pd.DataFrame:
            def attempt() -> pd.DataFrame:
                job = self.client.query(sql, job_config=config, retry=retry, job_retry=None)
                return self._download(job, retry).to_pandas()

            return retry(attempt)()  # a job that failed for a passing reason runs again

        frame = self._call("query", run)
        usd = estimated_cost_usd(count)
        cache = "miss" if key else "off"
        self.log.append({"rows": len(frame), "bytes": count, "estimated_bytes": count, "usd": usd, "cache": cache})
        if key and self.cache is not None:
            self.cache.put(key, frame)
        return frame

    def _download(self, job, retry: Retry):
        """Return a finished job's rows as Arrow: Storage Read API for large results, else REST.

        The client reads a result that fits its first REST page over REST. A refused Storage Read
        (the API disabled, or no roles/bigquery.readSessionUser) is said once on stderr, and
        that query and the later ones read over REST.
        """
        if self.storage is not False:
            storage = {"create_bqstorage_client": True} if self.storage is True else {"bqstorage_client": self.storage}
            try:
                return job.result(page_size=self.page_size, retry=retry, job_retry=None).to_arrow(**storage)
            except STORAGE_REFUSED as err:
                print(
                    f"BigQuery Storage Read API refused ({describe(err)}); "
                    "reading results over REST, which is slower for large results. To use it, enable the "
                    "BigQuery Storage API and grant roles/bigquery.readSessionUser, or set bigquery.storage_api: false",
                    file=sys.stderr,
                )
                self.storage = False
        rows = job.result(page_size=self.page_size, retry=retry, job_retry=None)
        return rows.to_arrow(create_bqstorage_client=False)

    def query_log(self) -> pd.DataFrame:
        """Return one row per query of this source: rows, bytes billed (estimated), cost, cache."""
        return pd.DataFrame(self.log, columns=QUERY_LOG_COLUMNS)

    def _table(self, table_id: str):
        validate_table_id(table_id)
        return self._call(f"table {table_id!r}", lambda retry: self.client.get_table(table_id, retry=retry))

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
        DataError: no billing project, or no usable credentials (google-auth's reason and the fix).
    """
    project = settings.project or os.environ.get("GOOGLE_CLOUD_PROJECT")
    if not project:
        raise DataError(
            "no billing project for BigQuery: set bigquery.project in params/common.yaml (or in the profile "
            "you run with, which wins) "
            "or the GOOGLE_CLOUD_PROJECT environment variable"
        )
    labels = {"pipeline": "bqlab", **({"stage": stage} if stage else {})}
    if settings.api_endpoint:  # a local emulator: no credentials
        client = bigquery.Client(
            project=project,
            location=settings.location,
            credentials=AnonymousCredentials(),
            client_options=ClientOptions(api_endpoint=settings.api_endpoint),
        )
    else:
        try:
            client = bigquery.Client(project=project, location=settings.location)
        except auth_errors.DefaultCredentialsError as err:
            raise explain(err, "BigQuery client") from err
        except OSError as err:
            raise DataError(unreadable_key(err)) from err
    storage = settings.storage_api
    if storage and settings.storage_api_endpoint:  # a local emulator's Storage Read API: plain gRPC
        storage = storage_read_client(settings.storage_api_endpoint)
    cache = None
    if settings.cache_dir and not switched_off():
        cache = QueryCache(settings.cache_dir)
    return BigQuerySource(
        client, maximum_bytes_billed=settings.maximum_bytes_billed, labels=labels, cache=cache, storage=storage
    )


def storage_read_client(endpoint: str):
    """A Storage Read API client of a local emulator at ``host:port`` (no TLS, no credentials)."""
    return bigquery_storage_v1.BigQueryReadClient(
        transport=BigQueryReadGrpcTransport(channel=grpc.insecure_channel(endpoint))
    )
