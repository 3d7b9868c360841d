"""Unit tests of the BigQuery source's own logic: parameters, cost guard, retries, errors.

Emulators report no bytes and enforce no cap, so the cost guard is tested here against a
stand-in for the client's network calls; the end-to-end tests against a local emulator
come with the BigQuery profile.
"""

import datetime as dt

import pyarrow as pa
import pytest
import requests
from google.api_core import exceptions
from google.api_core.retry import Retry
from google.auth.exceptions import DefaultCredentialsError, RefreshError

from bqlab.errors import CostLimitError, DataError
from bqlab.sources.bigquery import GIB, BigQuerySource, human_bytes, query_parameters


class StandInClient:
    """Answers like google.cloud.bigquery.Client: dry runs report bytes, real runs return rows.

    Like the client, it sends each request through the ``retry`` it is given; ``failures`` are
    raised by the next requests, one each.
    """

    def __init__(self, dry_bytes=1000, failures=(), table=None, storage_error=None, job_failures=()):
        self.dry_bytes, self.failures, self.calls = dry_bytes, list(failures), []
        self.job_failures = list(job_failures)
        self.table = table if table is not None else pa.table({"n": [3]})
        self.storage_error, self.reads = storage_error, []  # reads: "storage" or "rest", one per download

    def query(self, sql, job_config, retry, job_retry):
        assert isinstance(retry, Retry) and job_retry is None, "the client's silent 10-minute job retry is off"
        return retry(self._insert)(sql, job_config)

    def _insert(self, sql, job_config):
        self.calls.append((sql, job_config))
        if self.failures:
            raise self.failures.pop(0)
        client = self

        class Job:
            total_bytes_processed = client.dry_bytes if job_config.dry_run else None

            def result(self, page_size=None, retry=None, job_retry=None):
                assert isinstance(retry, Retry) and job_retry is None
                if not job_config.dry_run and client.job_failures:
                    raise client.job_failures.pop(0)  # the job ended with this error

                class Rows:
                    def to_arrow(self, create_bqstorage_client=False, bqstorage_client=None):
                        storage = create_bqstorage_client or bqstorage_client is not None
                        client.reads.append("storage" if storage else "rest")
                        if storage and client.storage_error is not None:
                            raise client.storage_error
                        return client.table

                return Rows()

        return Job()

    def get_table(self, table_id, retry):
        return retry(self._get_table)(table_id)

    def _get_table(self, table_id):
        self.calls.append((table_id, None))
        if self.failures:
            raise self.failures.pop(0)
        raise AssertionError("not used")


def test_parameters_get_bigquery_types():
    params = {p.name: p for p in query_parameters({"s": "x", "i": 3, "f": 1.5, "b": True, "d": dt.date(2024, 1, 2)})}
    assert {n: p.type_ for n, p in params.items()} == {
        "s": "STRING",
        "i": "INT64",
        "f": "FLOAT64",
        "b": "BOOL",
        "d": "DATE",
    }
    array = query_parameters({"values": [".", "MALE"]})[0]
    assert (array.name, array.array_type, array.values) == ("values", "STRING", [".", "MALE"])


def test_mixed_list_parameter_is_refused():
    with pytest.raises(DataError, match=r"@v mixes types \['INT64', 'STRING'\]"):
        query_parameters({"v": [1, "a"]})


def test_a_value_carrying_sql_travels_as_a_parameter_not_as_sql_text():
    client = StandInClient()
    sql = "SELECT COUNT(*) AS n FROM `p-roject.d.t` WHERE island = @island"
    BigQuerySource(client).query(sql, {"island": "x' OR '1'='1"})
    for sent_sql, config in client.calls:
        assert sent_sql == sql
        assert config.query_parameters[0].value == "x' OR '1'='1"


def test_query_is_dry_run_first_and_the_job_carries_cap_and_labels():
    client = StandInClient(dry_bytes=28_947)
    source = BigQuerySource(client, maximum_bytes_billed=GIB, labels={"pipeline": "bqlab", "stage": "eda"})
    frame = source.query("SELECT 3 AS n")
    assert frame["n"].tolist() == [3]
    (_, dry), (_, real) = client.calls
    assert dry.dry_run and not dry.use_query_cache
    assert not real.dry_run and real.maximum_bytes_billed == GIB
    assert real.labels == {"pipeline": "bqlab", "stage": "eda"}
    assert source.log == [
        {
            "rows": 1,
            "bytes": 28_947,
            "estimated_bytes": 28_947,
            "usd": pytest.approx(28_947 / 1024**4 * 6.25),
            "cache": "off",
        }
    ]


def test_a_query_over_the_cap_is_refused_before_it_runs():
    client = StandInClient(dry_bytes=2 * GIB)
    with pytest.raises(CostLimitError, match=r"would process 2\.0 GiB .* over maximum_bytes_billed = 1\.0 GiB.*raise"):
        BigQuerySource(client, maximum_bytes_billed=GIB).query("SELECT * FROM `p-roject.d.big`")
    assert len(client.calls) == 1 and client.calls[0][1].dry_run, "only the free dry run was sent"


def rate_limited(status=exceptions.Forbidden, reason="rateLimitExceeded"):
    """An error as the client raises it from BigQuery's JSON: the status's class, the reason in ``errors``."""
    return status(f"Exceeded rate limits: {reason}", errors=[{"reason": reason, "message": "injected"}])


def test_rate_limits_server_errors_and_lost_connections_are_retried_then_succeed(capsys):
    failures = [
        rate_limited(),  # a 403 that is a rate limit, not a permission
        exceptions.InternalServerError("oops"),
        requests.exceptions.ConnectionError("connection reset by peer"),
    ]
    client = StandInClient(failures=failures)
    frame = BigQuerySource(client, first_wait=0.01).query("SELECT 3 AS n")
    assert frame["n"].tolist() == [3]
    assert len(client.calls) == 5  # three failed dry runs, the dry run, the query
    said = capsys.readouterr().err.splitlines()
    assert said == [
        "BigQuery dry run: rateLimitExceeded: Exceeded rate limits: rateLimitExceeded; trying again (try 2; "
        "giving up after 120 s)",
        "BigQuery dry run: InternalServerError: oops; trying again (try 3; giving up after 120 s)",
        "BigQuery dry run: ConnectionError: connection reset by peer; trying again (try 4; giving up after 120 s)",
    ]


def test_a_job_that_failed_for_a_passing_reason_runs_again(capsys):
    failure = exceptions.InternalServerError("job failed", errors=[{"reason": "jobBackendError"}])
    client = StandInClient(job_failures=[failure])
    assert BigQuerySource(client, first_wait=0.01).query("SELECT 3 AS n")["n"].tolist() == [3]
    assert [config.dry_run for _, config in client.calls] == [True, False, False], "dry run, failed job, new job"
    assert "BigQuery query: jobBackendError: job failed; trying again (try 2" in capsys.readouterr().err


def test_persistent_server_errors_end_with_the_reason_after_the_time_limit():
    client = StandInClient(failures=[exceptions.ServiceUnavailable("down")] * 1000)
    with pytest.raises(DataError, match=r"dry run: BigQuery kept failing for 0.2 s \(ServiceUnavailable: down\)"):
        BigQuerySource(client, first_wait=0.001, retry_timeout=0.2).query("SELECT 1")
    assert 2 < len(client.calls) < 1000


@pytest.mark.parametrize(
    "error, message",
    [
        (
            exceptions.NotFound("Table p-roject:d.t was not found", errors=[{"reason": "notFound"}]),
            r"table 'p-roject.d.t': not found \(notFound: Table p-roject:d.t was not found\); check the project",
        ),
        (
            exceptions.Forbidden("Access Denied: Table p-roject:d.t", errors=[{"reason": "accessDenied"}]),
            r"permission denied \(accessDenied: Access Denied: Table p-roject:d.t\).*roles/bigquery.dataViewer",
        ),
        (
            rate_limited(reason="quotaExceeded"),
            r"a BigQuery quota is used up \(quotaExceeded: .*\); wait for it to reset",
        ),
        (
            RefreshError("invalid_grant: Token has been expired or revoked."),
            r"credentials were refused \(invalid_grant: Token has been expired or revoked\).*application-default",
        ),
        (
            requests.exceptions.SSLError("certificate verify failed"),
            r"table 'p-roject.d.t': SSLError: certificate verify failed",
        ),
    ],
    ids=["not-found", "access-denied", "quota", "expired-credentials", "certificate"],
)
def test_errors_that_another_try_cannot_mend_fail_at_once_and_say_what_to_fix(error, message, capsys):
    client = StandInClient(failures=[error, error])
    with pytest.raises(DataError, match=message):
        BigQuerySource(client, first_wait=0.01).schema("p-roject.d.t")
    assert len(client.calls) == 1, "not retried"
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    "error, key, explained, fix",
    [
        (
            DefaultCredentialsError(
                "Your default credentials were not found. To set up Application Default Credentials, see "
                "https://cloud.google.com/docs/authentication/external/set-up-adc for more information."
            ),
            None,
            "Your default credentials were not found",
            "run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS",
        ),
        (
            DefaultCredentialsError("File /keys/sa.json was not found."),
            "/keys/sa.json",
            "File /keys/sa.json was not found",
            "GOOGLE_APPLICATION_CREDENTIALS is '/keys/sa.json': point it at a valid service-account JSON key file",
        ),
        (
            DefaultCredentialsError(
                "Failed to load service account credentials from /keys/sa.json",
                ValueError("Service account info was not in the expected format, missing fields client_email."),
            ),
            "/keys/sa.json",
            "Failed to load service account credentials from /keys/sa.json: Service account info was not in the "
            "expected format, missing fields client_email",
            "GOOGLE_APPLICATION_CREDENTIALS is '/keys/sa.json': point it at a valid service-account JSON key file "
            "(a new key can be downloaded in the console), or unset it and run "
            "`gcloud auth application-default login`",
        ),
    ],
    ids=["none", "missing-key-file", "malformed-key"],
)
def test_credential_errors_keep_google_auths_explanation_and_add_the_fix(error, key, explained, fix, monkeypatch):
    from bqlab.sources.bigquery import explain

    if key:
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", key)
    else:
        monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    message = str(explain(error, "BigQuery client"))
    assert message.startswith(f"Google Cloud credentials: {explained}")
    assert f". To fix: {fix}" in message


def test_malformed_table_id_is_refused_before_any_call():
    client = StandInClient()
    with pytest.raises(DataError, match="is not valid"):
        BigQuerySource(client).schema("p.d.t; DROP TABLE x")
    assert client.calls == []


@pytest.mark.parametrize(
    "count, text", [(512, "512 B"), (28_947, "28.3 KiB"), (3 * GIB, "3.0 GiB"), (5 * 1024**4, "5.00 TiB")]
)
def test_human_bytes(count, text):
    assert human_bytes(count) == text


def test_results_are_read_through_the_storage_api_when_allowed():
    client = StandInClient()
    BigQuerySource(client).query("SELECT 3 AS n")
    BigQuerySource(client, storage=False).query("SELECT 3 AS n")
    assert client.reads == ["storage", "rest"]


def test_a_refused_storage_read_falls_back_to_rest_once_and_says_why(capsys):
    client = StandInClient(storage_error=exceptions.PermissionDenied("bigquery.readsessions.create denied"))
    source = BigQuerySource(client)
    assert source.query("SELECT 3 AS n")["n"].tolist() == [3]
    assert source.query("SELECT 3 AS n")["n"].tolist() == [3]
    assert client.reads == ["storage", "rest", "rest"], "after one refusal, later queries go straight to REST"
    err = capsys.readouterr().err
    assert err.count("Storage Read API refused") == 1 and "roles/bigquery.readSessionUser" in err


def test_other_storage_errors_are_not_hidden_by_the_fallback():
    client = StandInClient(storage_error=exceptions.BadRequest("invalid read session"))
    with pytest.raises(DataError, match="invalid read session"):
        BigQuerySource(client).query("SELECT 3 AS n")
