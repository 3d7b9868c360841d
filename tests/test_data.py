import pandas as pd
import pytest

from bqlab import sources
from bqlab.analysis import queries
from bqlab.errors import DataError
from bqlab.sources.datasets import PENGUINS_TABLE, penguins
from bqlab.sources.embedded import LocalSource


def test_named_parameters_are_bound_not_formatted(penguins_source):
    frame = penguins_source.query(
        f"SELECT COUNT(*) AS n FROM `{PENGUINS_TABLE}` WHERE island = @island AND body_mass_g > @mass",
        {"island": "Biscoe", "mass": 5000},
    )
    rows = penguins()
    assert frame["n"].iloc[0] == ((rows["island"] == "Biscoe") & (rows["body_mass_g"] > 5000)).sum() == 61


def test_a_parameter_value_carrying_sql_stays_a_value(penguins_source):
    frame = penguins_source.query(
        f"SELECT COUNT(*) AS n FROM `{PENGUINS_TABLE}` WHERE island = @island",
        {"island": "Biscoe' OR '1'='1"},
    )
    assert frame["n"].iloc[0] == 0


def test_array_parameters_work_with_in_unnest(penguins_source):
    frame = penguins_source.query(
        f"SELECT COUNTIF(sex IN UNNEST(@values)) AS n FROM `{PENGUINS_TABLE}`", {"values": [".", "MALE"]}
    )
    assert frame["n"].iloc[0] == 169
    assert str(frame["n"].dtype) == "Int64"  # INT64 as in BigQuery, not DuckDB's HUGEINT->float


@pytest.mark.parametrize(
    "params, message",
    [({}, r"missing \['island'\]"), ({"island": "Dream", "extra": 1}, r"not used \['extra'\]")],
)
def test_parameters_must_match_the_sql(penguins_source, params, message):
    with pytest.raises(DataError, match=message):
        penguins_source.query(f"SELECT * FROM `{PENGUINS_TABLE}` WHERE island = @island", params)


def test_invalid_sql_is_reported_as_such(penguins_source):
    with pytest.raises(DataError, match="not valid BigQuery Standard SQL"):
        penguins_source.query("SELECT FROM WHERE (")


def test_an_unknown_table_names_the_table_and_how_to_map_a_file():
    with pytest.raises(DataError, match=r"'proj-xyz.ds.missing' is not available.*local_tables"):
        LocalSource().query("SELECT a FROM `proj-xyz.ds.missing`")


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_local_files_are_served_under_bigquery_style_ids(tmp_path, suffix):
    frame = pd.DataFrame({"id": [1, 2, 3], "label": ["a", "b", "a"], "x": [0.5, 1.5, None]})
    path = tmp_path / f"extract{suffix}"
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path)
    source = LocalSource({"my-project.sales.orders": path})
    assert source.schema("my-project.sales.orders") == {"id": "INT64", "label": "STRING", "x": "FLOAT64"}
    out = source.query("SELECT label, COUNT(*) AS n FROM `my-project.sales.orders` GROUP BY label ORDER BY label")
    assert out.to_dict("list") == {"label": ["a", "b"], "n": [2, 1]}


def test_a_missing_local_file_is_named(tmp_path):
    source = LocalSource({"proj-abc.ds.t": tmp_path / "nope.csv"})
    with pytest.raises(DataError, match=r"nope\.csv; fix its path under local_tables"):
        source.schema("proj-abc.ds.t")


def test_a_cut_short_parquet_file_gets_parquet_advice_not_csv_advice(tmp_path):
    path = tmp_path / "t.parquet"
    path.write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match=r"t\.parquet .*check that the file is a whole Parquet file") as err:
        LocalSource({"proj-abc.ds.t": path}).schema("proj-abc.ds.t")
    assert "delimiter" not in str(err.value)


def test_fetch_columns_returns_only_the_named_columns(penguins_source):
    frame = queries.fetch_columns(penguins_source, PENGUINS_TABLE, ["sex", "body_mass_g"])
    assert list(frame.columns) == ["sex", "body_mass_g"]
    assert len(frame) == 344


def test_fetch_columns_refuses_an_empty_table(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("label,x\n", encoding="utf-8")
    source = LocalSource({"proj-abc.ds.empty": path})
    with pytest.raises(DataError, match="returned no rows"):
        queries.fetch_columns(source, "proj-abc.ds.empty", ["label", "x"])


def test_fetch_columns_rejects_a_column_name_carrying_sql(penguins_source):
    with pytest.raises(DataError, match="column name"):
        queries.fetch_columns(penguins_source, PENGUINS_TABLE, ["sex FROM x; --"])


def test_column_profile_counts_nulls_and_placeholders_in_sql(penguins_source):
    profile = queries.column_profile(penguins_source, PENGUINS_TABLE, ["sex", "body_mass_g", "species"], ["."])
    assert profile.to_dict("list") == {
        "column_name": ["sex", "body_mass_g", "species"],
        "row_count": [344, 344, 344],
        "null_count": [10, 2, 0],
        "placeholder_count": [1, 0, 0],
        "cast_failed_count": [0, 0, 0],
        "numeric_text_count": [0, 0, 0],  # counted for text columns only: body_mass_g is a number
        "separated_number_count": [0, 0, 0],
    }


def test_bigquery_source_without_a_billing_project_says_how_to_set_one(monkeypatch):
    from bqlab.config import CommonParams

    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    params = CommonParams(source="bigquery", features=["x"], label="y")
    with pytest.raises(
        DataError, match="no billing project for BigQuery: set bigquery.project .* GOOGLE_CLOUD_PROJECT"
    ):
        sources.open_source(params)


def test_a_nan_label_is_unlabelled_like_null(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("y,x\n" + "".join(f"{v},{i}\n" for i, v in enumerate(["1.5", "NaN", "2.5", "", "3.5"] * 20)))
    train, test = queries.fetch_split(
        LocalSource({"p-abcdef.d.t": path}), "p-abcdef.d.t", ["y", "x"], ["y", "x"], 0.3, 1
    )
    assert len(train) + len(test) == 60 and not pd.concat([train, test])["y"].isna().any()


def test_decimal_and_unsigned_parquet_columns_have_bigquery_types(tmp_path):
    import decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "t.parquet"
    table = pa.table(
        {
            "price": pa.array([decimal.Decimal("1.25"), decimal.Decimal("2.50")], pa.decimal128(10, 2)),
            "count": pa.array([1, 2], pa.uint32()),
        }
    )
    pq.write_table(table, path)
    assert LocalSource({"p-abcdef.d.t": path}).schema("p-abcdef.d.t") == {"price": "NUMERIC", "count": "INT64"}
