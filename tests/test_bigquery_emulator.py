"""The BigQuery source with the official client against a local emulator (no network)."""

import json

import pandas as pd
import pytest

from bqlab import sources
from bqlab.analysis import queries
from bqlab.errors import DataError
from bqlab.sources import base
from bqlab.sources.bigquery import BigQuerySource
from bqlab.sources.datasets import PENGUINS_TABLE
from bqlab.tasks import CLASSIFICATION, REGRESSION

from .emulator import PENGUINS, bigquery_emulator  # noqa: F401 - fixture

COLUMNS = ["species", "island", "culmen_length_mm", "culmen_depth_mm", "flipper_length_mm", "body_mass_g", "sex"]


@pytest.fixture(scope="module")
def warehouse(bigquery_emulator):  # noqa: F811
    return BigQuerySource(bigquery_emulator.client, labels={"pipeline": "bqlab", "stage": "test"})


def _normalised(frame: pd.DataFrame) -> pd.DataFrame:
    """Same values whatever the engine: plain object/float/int columns, rows in a fixed order."""
    out = frame.copy()
    for column in out.columns:
        if pd.api.types.is_numeric_dtype(out[column]):
            out[column] = out[column].astype("float64")
        else:
            out[column] = out[column].astype(object).where(out[column].notna(), None)
    return out.sort_values(list(out.columns), na_position="last").reset_index(drop=True)


def test_schema_matches_the_embedded_table(warehouse, penguins_source):
    assert warehouse.schema(PENGUINS) == penguins_source.schema(PENGUINS_TABLE)


def test_named_queries_return_equal_frames_on_both_engines(warehouse, penguins_source):
    pairs = [
        (
            queries.fetch_columns(warehouse, PENGUINS, COLUMNS),
            queries.fetch_columns(penguins_source, PENGUINS_TABLE, COLUMNS),
        ),
        (
            queries.column_profile(warehouse, PENGUINS, COLUMNS, ["."]),
            queries.column_profile(penguins_source, PENGUINS_TABLE, COLUMNS, ["."]),
        ),
    ]
    for remote, local in pairs:
        pd.testing.assert_frame_equal(_normalised(remote), _normalised(local))


def test_the_split_selects_the_same_rows_in_the_same_order_on_both_engines(warehouse, penguins_source):
    key = ["species", "island", "culmen_length_mm", "flipper_length_mm", "body_mass_g", "sex"]
    for seed, max_rows in ((1, None), (42, None), (7, 120)):
        args = ([*key, "culmen_depth_mm"], key, 0.25, seed, ["."], max_rows)
        remote = queries.fetch_split(warehouse, PENGUINS, *args)
        local = queries.fetch_split(penguins_source, PENGUINS_TABLE, *args)
        assert max_rows is None or len(remote[0]) + len(remote[1]) == max_rows
        for remote_side, local_side in zip(remote, local, strict=True):
            assert len(remote_side) == len(local_side) > 20
            pd.testing.assert_frame_equal(
                remote_side.astype({"sex": object}), local_side.astype({"sex": object}), check_dtype=False
            )


def test_the_sample_and_the_sql_statistics_agree_on_both_engines(warehouse, penguins_source):
    from bqlab.analysis import aggregates

    # BigQuery samples by FARM_FINGERPRINT, its own hash; the embedded engine gives the same rows
    # for the same statement (its own samples are ordered by DuckDB's hash: other rows).
    sample_remote = queries.sample_rows(warehouse, PENGUINS, COLUMNS, 40, seed=3)
    statement = queries.sample_statement(queries.as_view(warehouse, PENGUINS), COLUMNS, 40, 3)
    sample_local = penguins_source.query(statement[0].replace(PENGUINS, PENGUINS_TABLE), statement[1])
    pd.testing.assert_frame_equal(sample_remote.astype({"sex": object}), sample_local.astype({"sex": object}))
    numeric = ["culmen_length_mm", "body_mass_g"]
    pairs = [
        (
            aggregates.class_counts(warehouse, PENGUINS, "species"),
            aggregates.class_counts(penguins_source, PENGUINS_TABLE, "species"),
        ),
        (
            aggregates.correlation_matrix(aggregates.correlation_pairs(warehouse, PENGUINS, numeric), numeric),
            aggregates.correlation_matrix(
                aggregates.correlation_pairs(penguins_source, PENGUINS_TABLE, numeric), numeric
            ),
        ),
        (
            aggregates.category_counts(warehouse, PENGUINS, "species", ["island", "sex"], 2),
            aggregates.category_counts(penguins_source, PENGUINS_TABLE, "species", ["island", "sex"], 2),
        ),
        (
            aggregates.category_counts(warehouse, PENGUINS, "species", ["sex"], 5, missing_values=["."]),
            aggregates.category_counts(penguins_source, PENGUINS_TABLE, "species", ["sex"], 5, missing_values=["."]),
        ),
    ]
    for remote, local in pairs:
        pd.testing.assert_frame_equal(remote, local, check_dtype=False)
    remote = aggregates.numeric_summary(warehouse, PENGUINS, "species", numeric)
    local = aggregates.numeric_summary(penguins_source, PENGUINS_TABLE, "species", numeric)
    exact = ["column", "species", "count", "mean", "std", "min", "max"]
    pd.testing.assert_frame_equal(remote[exact], local[exact], check_dtype=False)


def test_large_results_come_through_the_storage_read_api(bigquery_emulator):  # noqa: F811
    from bqlab.sources.bigquery import storage_read_client

    class Counting:
        """The real Storage Read client, counting the read sessions it opens."""

        def __init__(self, client):
            self.client, self.sessions = client, 0

        def __getattr__(self, name):
            return getattr(self.client, name)

        def create_read_session(self, *args, **kwargs):
            self.sessions += 1
            return self.client.create_read_session(*args, **kwargs)

    reader = Counting(storage_read_client(bigquery_emulator.storage_endpoint))
    # 50-row REST pages make the 344 rows "large": more than the first page holds.
    source = BigQuerySource(bigquery_emulator.client, storage=reader, page_size=50)
    over_storage = queries.fetch_columns(source, PENGUINS, COLUMNS)
    assert reader.sessions >= 1
    over_rest = queries.fetch_columns(BigQuerySource(bigquery_emulator.client, storage=False), PENGUINS, COLUMNS)
    assert len(over_storage) == 344
    pd.testing.assert_frame_equal(_normalised(over_storage), _normalised(over_rest))


def test_parameters_are_bound_in_the_warehouse(warehouse):
    sql = f"SELECT COUNT(*) AS n FROM `{PENGUINS}` WHERE island = @island"
    assert warehouse.query(sql, {"island": "Biscoe"})["n"].iloc[0] == 168
    assert warehouse.query(sql, {"island": "Biscoe' OR '1'='1"})["n"].iloc[0] == 0


def test_a_missing_table_is_named(warehouse):
    with pytest.raises(DataError, match=r"table 'test-project.ml_datasets.absent': not found"):
        warehouse.schema("test-project.ml_datasets.absent")


def test_missing_credentials_say_how_to_log_in(monkeypatch, tmp_path):
    from bqlab.config import BigQueryParams
    from bqlab.sources.bigquery import open_warehouse

    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))  # no gcloud application-default file
    monkeypatch.setenv("NO_GCE_CHECK", "True")  # and no metadata-server probe: nothing leaves this machine
    with pytest.raises(DataError, match="default credentials were not found.*gcloud auth application-default login"):
        open_warehouse(BigQueryParams(project="my-project-1"))


def test_a_missing_key_file_is_named_with_google_auths_words(monkeypatch, tmp_path):
    from bqlab.config import BigQueryParams
    from bqlab.sources.bigquery import open_warehouse

    key = tmp_path / "absent-key.json"
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
    with pytest.raises(DataError, match=rf"File {key} was not found\. To fix: GOOGLE_APPLICATION_CREDENTIALS is"):
        open_warehouse(BigQueryParams(project="my-project-1"))


def test_a_repeated_query_comes_from_the_cache_until_the_table_changes(bigquery_emulator, tmp_path):  # noqa: F811
    from google.cloud import bigquery

    from bqlab.sources.query_cache import QueryCache

    client = bigquery_emulator.client
    table = "test-project.ml_datasets.cache_probe"
    client.load_table_from_json(
        [{"x": 1}], table, job_config=bigquery.LoadJobConfig(schema=[bigquery.SchemaField("x", "INT64")])
    ).result()
    source = BigQuerySource(client, cache=QueryCache(tmp_path))
    sql = f"SELECT SUM(x) AS total FROM `{table}`"
    assert source.query(sql)["total"].iloc[0] == 1
    assert source.query(sql)["total"].iloc[0] == 1
    assert list(source.query_log()["cache"]) == ["miss", "hit"]
    assert source.query_log()["bytes"].iloc[1] == 0
    client.load_table_from_json(
        [{"x": 2}], table, job_config=bigquery.LoadJobConfig(write_disposition="WRITE_APPEND")
    ).result()
    assert source.query(sql)["total"].iloc[0] == 3, "a changed table misses the cache"
    assert list(source.query_log()["cache"]) == ["miss", "hit", "miss"]


class FlakyProxy:
    """An HTTP proxy on 127.0.0.1 in front of the emulator that answers the first ``failures``
    requests with the given BigQuery error status (429, or 403 with reason rateLimitExceeded, or
    500), then forwards every request."""

    def __init__(self, upstream: str, status: int, failures: int) -> None:
        import http.server
        import threading
        import urllib.error
        import urllib.request

        proxy = self
        self.failed, self.forwarded = 0, 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _handle(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if proxy.failed < failures:
                    proxy.failed += 1
                    reason = "backendError" if status >= 500 else "rateLimitExceeded"
                    error = {"code": status, "message": "injected", "errors": [{"reason": reason}]}
                    return self._send(status, json.dumps({"error": error}).encode(), "application/json")
                proxy.forwarded += 1
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                request = urllib.request.Request(upstream + self.path, data=body or None, headers=headers)
                request.method = self.command
                try:
                    with urllib.request.urlopen(request, timeout=30) as response:
                        self._send(response.status, response.read(), response.headers.get("Content-Type"))
                except urllib.error.HTTPError as err:
                    self._send(err.code, err.read(), err.headers.get("Content-Type"))

            def _send(self, code, payload, kind):
                self.send_response(code)
                self.send_header("Content-Type", kind or "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("status", [429, 403, 500])
def test_the_warehouse_answering_errors_a_few_times_then_succeeding(bigquery_emulator, status, capsys):  # noqa: F811
    from .emulator import client_for_endpoint

    proxy = FlakyProxy(bigquery_emulator.endpoint, status, failures=3)
    try:
        source = BigQuerySource(client_for_endpoint(proxy.endpoint), first_wait=0.05, storage=False)
        frame = source.query(f"SELECT COUNT(*) AS n FROM `{PENGUINS}` WHERE island = @island", {"island": "Dream"})
        assert frame["n"].iloc[0] == 124
        assert proxy.failed == 3 and proxy.forwarded >= 2
        reason = "backendError" if status == 500 else "rateLimitExceeded"
        said = capsys.readouterr().err.splitlines()
        assert [line.split(": ", 2)[1] for line in said] == [reason] * 3, "one line per new try, with the reason"
    finally:
        proxy.close()


def test_the_warehouse_failing_for_good_ends_with_the_reason(bigquery_emulator):  # noqa: F811
    from .emulator import client_for_endpoint

    proxy = FlakyProxy(bigquery_emulator.endpoint, 500, failures=10_000)
    try:
        source = BigQuerySource(client_for_endpoint(proxy.endpoint), first_wait=0.01, retry_timeout=1)
        with pytest.raises(DataError, match=r"dry run: BigQuery kept failing for 1 s \(backendError: .*injected"):
            source.query(f"SELECT COUNT(*) AS n FROM `{PENGUINS}`")
    finally:
        proxy.close()


TEXT_TABLE = "test-project.lab.text_numbers"


def _load(client, path, table: str, schema):
    """Load a Parquet file into the emulator with ``schema``; return the embedded engine on the same file."""
    from google.cloud import bigquery

    from bqlab.sources.embedded import LocalSource

    client.create_dataset("lab", exists_ok=True)
    config = bigquery.LoadJobConfig(source_format=bigquery.SourceFormat.PARQUET, schema=schema)
    with open(path, "rb") as handle:
        client.load_table_from_file(handle, table, job_config=config).result()
    return LocalSource({table: path})


@pytest.fixture(scope="module")
def text_numbers(bigquery_emulator, tmp_path_factory):  # noqa: F811
    """A table with an integer label and numbers stored as text, in the emulator and on the embedded engine."""
    from google.cloud import bigquery

    from . import tables

    frame = tables.binary_int().drop(columns="signup")
    path = tmp_path_factory.mktemp("text-numbers") / "t.parquet"
    frame.to_parquet(path)
    schema = [bigquery.SchemaField(n, t) for n, t in [("churned", "INT64"), ("tenure", "INT64"), ("plan", "STRING")]]
    schema += [bigquery.SchemaField(name, "STRING") for name in ("spend", "flag", "visits")]
    return _load(bigquery_emulator.client, path, TEXT_TABLE, schema)


def test_casts_chunked_statistics_and_feature_choice_agree_on_both_engines(warehouse, text_numbers, monkeypatch):
    from bqlab.analysis import aggregates, selection

    monkeypatch.setattr(base, "COLUMNS_PER_QUERY", 1)  # every per-column query in several statements
    monkeypatch.setattr(aggregates, "DISTINCT_PER_QUERY", 2)
    monkeypatch.setattr(aggregates, "PAIRS_PER_QUERY", 1)
    casts = {"spend": "FLOAT64", "flag": "BOOL", "visits": "INT64"}
    views = [sources.table_view(s, TEXT_TABLE, casts) for s in (warehouse, text_numbers)]
    expected = {"churned": "INT64", "tenure": "INT64", "plan": "STRING"} | casts
    assert views[0].schema == views[1].schema == expected
    for s, v in zip((warehouse, text_numbers), views, strict=True):  # the same values where engines' casts differ
        frame = queries.fetch_columns(s, v, ["flag", "visits"])
        flags = frame["flag"].astype(object)
        assert (flags.isna().sum(), (flags == True).sum(), (flags == False).sum()) == (160, 160, 80)  # noqa: E712
        assert frame["visits"].dropna().astype(int).value_counts().to_dict() == {3: 80, 7: 80, 1000: 80}
    both = [(warehouse, views[0]), (text_numbers, views[1])]
    columns = ["churned", "tenure", "plan", "spend"]
    profiles = [queries.column_profile(s, v, columns, ["n/a"]) for s, v in both]
    pd.testing.assert_frame_equal(*profiles, check_dtype=False)
    spend = profiles[0].set_index("column_name").loc["spend"]
    assert (spend["placeholder_count"], spend["cast_failed_count"]) == (12, 5), "n/a is a placeholder, 12,5 fails"
    numeric = ["tenure", "spend"]
    exact = ["column", "churned", "count", "mean", "std", "min", "max"]
    stats = [aggregates.numeric_summary(s, v, "churned", numeric) for s, v in both]
    pd.testing.assert_frame_equal(stats[0][exact], stats[1][exact], check_dtype=False)
    assert stats[0].set_index(["column", "churned"]).loc[("spend", 0), "count"] > 100, "cast values are numbers"
    pairs = [aggregates.correlation_pairs(s, v, [*numeric, "churned"]) for s, v in both]
    pd.testing.assert_frame_equal(*pairs)
    assert len(pairs[0]) == 3
    distinct = [aggregates.distinct_counts(s, v, columns) for s, v in both]
    assert distinct[0] == distinct[1] and distinct[0]["churned"] == 2
    means = [aggregates.category_counts(s, v, "tenure", ["plan"], 5, REGRESSION) for s, v in both]
    pd.testing.assert_frame_equal(*means, check_dtype=False)
    chosen = [
        selection.plot_features(s, v, CLASSIFICATION, st, "churned", numeric, 1)
        for (s, v), st in zip(both, stats, strict=True)
    ]
    assert chosen[0] == chosen[1] == ["tenure"], "the planted signal is the feature most associated with the label"
    strength = [aggregates.label_correlations(s, v, "churned", numeric) for s, v in both]
    pd.testing.assert_series_equal(*strength)
    assert strength[0]["tenure"] > 0.15 > strength[0]["spend"], "|r| with a numeric label, in SQL"
    splits = [queries.fetch_split(s, v, columns, columns, 0.25, 42, ["n/a"]) for s, v in both]
    for remote, local in zip(*splits, strict=True):
        pd.testing.assert_frame_equal(remote, local, check_dtype=False)


def test_a_key_path_that_is_a_folder_is_named_not_a_traceback(monkeypatch, tmp_path):
    from bqlab.config import BigQueryParams
    from bqlab.sources.bigquery import open_warehouse

    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path))
    with pytest.raises(DataError, match=rf"cannot read {tmp_path} \(Is a directory\)\. To fix: GOOGLE_APPLICATION"):
        open_warehouse(BigQueryParams(project="my-project-1"))


REAL_TABLE = "test-project.lab.real_world"


@pytest.fixture(scope="module")
def real_world(bigquery_emulator, tmp_path_factory):  # noqa: F811
    """Columns real tables have, in the emulator and on the embedded engine: flexible names, repeated rows,
    numbers written with separators, a DATE and a TIMESTAMP."""
    import numpy as np
    from google.cloud import bigquery

    rng = np.random.default_rng(11)
    rows = 600
    day = pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 700, rows), unit="D")
    seen = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 500_000, rows), unit="min")
    amount = np.array([f"{v:,}" for v in rng.integers(0, 20, rows) * 250], dtype=object)  # 3,750
    frame = pd.DataFrame(
        {
            "espèce": rng.choice(["yes", "no"], rows, p=[0.3, 0.7]),
            "bill length mm": rng.integers(30, 34, rows).astype(float),
            "île-name": rng.choice(["Biscoe", "Dream"], rows),
            "amount": amount,
            "prix": np.array([f"{v},5" for v in rng.integers(0, 9, rows)], dtype=object),  # 12,5
            "signup": day.date,
            "last seen": seen,
            "weight": rng.normal(50, 5, rows).round(0),
            "customer": rng.integers(0, 60, rows),
        }
    )
    path = tmp_path_factory.mktemp("real") / "t.parquet"
    frame.to_parquet(path)
    types = {"bill length mm": "FLOAT64", "weight": "FLOAT64", "customer": "INT64", "signup": "DATE"}
    types["last seen"] = "TIMESTAMP"
    schema = [bigquery.SchemaField(c, types.get(c, "STRING")) for c in frame.columns]
    return _load(bigquery_emulator.client, path, REAL_TABLE, schema)


def test_splits_quoting_casts_and_date_parts_agree_on_both_engines(warehouse, real_world):
    from bqlab.analysis import dates
    from bqlab.config import NumberCast

    casts = {
        "amount": NumberCast(type="INT64", thousands=","),
        "prix": NumberCast(type="FLOAT64", thousands=".", decimal=","),
    }
    features = ["bill length mm", "île-name", "amount", "prix", "signup", "last seen"]
    views = [sources.table_view(s, REAL_TABLE, casts, features) for s in (warehouse, real_world)]
    both = list(zip((warehouse, real_world), views, strict=True))
    assert views[0].schema == views[1].schema
    columns = ["espèce", *views[0].model_columns(features)]
    frames = [queries.fetch_columns(s, v, columns) for s, v in both]
    pd.testing.assert_frame_equal(_normalised(frames[0]), _normalised(frames[1]))
    assert frames[0]["amount"].max() == 4750 and set(frames[0]["prix"]) <= {v + 0.5 for v in range(9)}
    assert frames[0]["signup_day_of_week"].between(1, 7).all() and frames[0]["last seen_year"].isin([2024, 2025]).all()
    profiles = [queries.column_profile(s, v, features, ["."]) for s, v in both]
    pd.testing.assert_frame_equal(*profiles, check_dtype=False)
    months = [dates.monthly_table(s, v, "espèce", ["signup", "last seen"], CLASSIFICATION) for s, v in both]
    pd.testing.assert_frame_equal(*months, check_dtype=False)
    for task, label, group in (
        (CLASSIFICATION, "espèce", None),
        (REGRESSION, "weight", None),
        (CLASSIFICATION, "espèce", "customer"),
    ):
        key = [label, *views[0].model_columns(features), *([group] if group else [])]
        splits = [queries.fetch_split(s, v, key, key, 0.25, 42, ["."], 400, task, group) for s, v in both]
        for remote, local in zip(*splits, strict=True):
            pd.testing.assert_frame_equal(remote, local, check_dtype=False)
        if group:
            assert not set(splits[0][0]["customer"]) & set(splits[0][1]["customer"])
        elif task.classes:
            read = pd.concat(splits[0])["espèce"].value_counts()
            assert splits[0][1]["espèce"].value_counts().to_dict() == {c: int(n * 0.25 + 0.5) for c, n in read.items()}
