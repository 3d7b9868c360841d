"""Unit tests of the BigQuery source's own logic: parameters, cost guard, retries, errors.

Emulators report no bytes and enforce no cap, so the cost guard is tested here against a
stand-in for the client's network calls; the end-to-end tests against a local emulator
come with the BigQuery profile.
"""

import datetime as dt

import pyarrow as pa
import pytest
from google.api_core import exceptions
from google.auth.exceptions import DefaultCredentialsError

from bqlab.errors import CostLimitError, DataError
from bqlab.sources.bigquery import GIB, BigQuerySource, human_bytes, query_parameters


class StandInClient:
    """Answers like google.cloud.bigquery.Client: dry runs report bytes, real runs return rows."""

    def __init__(self, dry_bytes=1000, failures=(), table=None, storage_error=None):
        self.dry_bytes, self.failures, self.calls = dry_bytes, list(failures), []
        self.table = table if table is not None else pa.table({"n": [3]})
        self.storage_error, self.reads = storage_error, []  # reads: "storage" or "rest", one per download

    def query(self, sql, job_config, retry, job_retry):
        assert retry is None and job_retry is None, "the client's own silent retries are off"
        self.calls.append((sql, job_config))
        if self.failures:
            raise self.failures.pop(0)
        client = self

        class Job:
            total_bytes_processed = client.dry_bytes if job_config.dry_run else None

            def result(self, page_size=None, retry=None, job_retry=None):
                assert retry is None and job_retry is None

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
        assert retry is None
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


def test_rate_limits_and_server_errors_are_retried_then_succeed(capsys):
    failures = [exceptions.TooManyRequests("slow down"), exceptions.InternalServerError("oops")]
    client = StandInClient(failures=failures)
    frame = BigQuerySource(client, first_wait=0.01).query("SELECT 3 AS n")
    assert frame["n"].tolist() == [3]
    assert len(client.calls) == 4  # two failed dry runs, the dry run, the query
    said = capsys.readouterr().err.splitlines()
    assert said[0].startswith("BigQuery dry run: TooManyRequests (") and "attempt 2 of 6" in said[0]
    assert "InternalServerError" in said[1] and "attempt 3 of 6" in said[1]


def test_persistent_server_errors_end_with_the_reason():
    client = StandInClient(failures=[exceptions.ServiceUnavailable("down")] * 10)
    with pytest.raises(DataError, match="kept failing after retries .*ServiceUnavailable.*down"):
        BigQuerySource(client, first_wait=0.01).query("SELECT 1")


@pytest.mark.parametrize(
    "error, message",
    [
        (
            exceptions.NotFound("Table p-roject:d.t was not found"),
            r"table 'p-roject.d.t': not found .* check the project",
        ),
        (exceptions.Forbidden("Access Denied"), r"permission denied .*roles/bigquery.dataViewer"),
        (DefaultCredentialsError("none"), r"gcloud auth application-default login.*GOOGLE_APPLICATION_CREDENTIALS"),
    ],
)
def test_client_errors_say_what_to_fix(error, message):
    with pytest.raises(DataError, match=message):
        BigQuerySource(StandInClient(failures=[error])).schema("p-roject.d.t")


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
