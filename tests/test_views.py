"""column_types: casts in SQL with SAFE_CAST, counted when they fail; files with their encoding."""

import pandas as pd
import pytest

from bqlab import sources
from bqlab.analysis import queries
from bqlab.config import LocalFile
from bqlab.errors import DataError
from bqlab.sources.embedded import LocalSource
from bqlab.sources.views import TableView

TABLE = "p-abcdef.lab.t"


def test_the_view_replaces_each_cast_column_and_trims_text_first():
    view = TableView(TABLE, {"spend": "STRING", "n": "INT64"}, {"spend": "FLOAT64", "n": "FLOAT64"})
    assert view.sql == (
        "(SELECT * REPLACE (SAFE_CAST(TRIM(`spend`) AS FLOAT64) AS `spend`, SAFE_CAST(`n` AS FLOAT64) AS `n`) "
        "FROM `p-abcdef.lab.t`)"
    )
    assert view.schema == {"spend": "FLOAT64", "n": "FLOAT64"}
    assert TableView(TABLE, {"a": "STRING"}).sql == "`p-abcdef.lab.t`"


@pytest.fixture
def text_numbers(tmp_path):
    path = tmp_path / "t.csv"
    pd.DataFrame({"spend": ["12.5", " 7 ", "n/a", "12,5", None], "y": list("abaab")}).to_csv(path, index=False)
    return LocalSource({TABLE: path})


def test_a_cast_column_reads_as_numbers_and_its_failures_are_counted(text_numbers):
    view = sources.table_view(text_numbers, TABLE, {"spend": "FLOAT64"})
    values = queries.fetch_columns(text_numbers, view, ["spend"])["spend"]
    assert values.dtype == "float64" and values.tolist()[:2] == [12.5, 7.0] and values.isna().sum() == 3
    profile = queries.column_profile(text_numbers, view, ["spend"], ["n/a"]).iloc[0]
    assert (profile.null_count, profile.placeholder_count, profile.cast_failed_count) == (1, 1, 1)
    assert profile.numeric_text_count == 2


def test_column_types_naming_an_absent_column_is_refused(text_numbers):
    with pytest.raises(DataError, match=r"column_types names \['spnd'\], which table .* does not have"):
        sources.table_view(text_numbers, TABLE, {"spnd": "FLOAT64"})


def test_a_latin1_csv_with_semicolons_reads_with_its_settings_and_not_without(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes("city;price\nZürich;10\nGenève;12\n".encode("latin-1"))
    entry = LocalFile(path=str(path), encoding="latin-1", delimiter=";")
    frame = queries.fetch_columns(LocalSource({TABLE: entry}), TABLE, ["city", "price"])
    assert frame["city"].tolist() == ["Zürich", "Genève"] and frame["price"].tolist() == [10, 12]
    with pytest.raises(DataError) as refused:
        LocalSource({TABLE: path}).schema(TABLE)
    message = str(refused.value)
    assert "\n" not in message and str(path) in message and "encoding: latin-1" in message


def test_bool_and_int64_casts_read_only_what_bigquery_reads(tmp_path):
    path = tmp_path / "t.csv"
    pd.DataFrame({"flag": ["true", "FALSE", "yes", "1", None], "n": ["3", "1.5", " 7 ", "1e3", "x"]}).to_csv(
        path, index=False
    )
    source = LocalSource({TABLE: path})
    frame = queries.fetch_columns(
        source, sources.table_view(source, TABLE, {"flag": "BOOL", "n": "INT64"}), ["flag", "n"]
    )
    frame = frame.astype(object).where(frame.notna(), None)
    assert frame["flag"].tolist() == [True, False, None, None, None], "DuckDB alone would read yes and 1 as true"
    assert frame["n"].tolist() == [3, None, 7, 1000, None], "DuckDB alone would round 1.5 to 2"


NUMBERS = pd.DataFrame(
    {
        "amount": ["3,750", "1,234,567.5", "37,50", "12", " 2,000 ", "n/a"],
        "eu": ["12,5", "1.234,5", "12.5", "oops", "-3", "0,25"],
        "label": list("ababab"),
    }
)


def test_numbers_with_thousands_separators_and_decimal_commas_read_as_declared(tmp_path):
    from bqlab.config import CommonParams

    path = tmp_path / "n.csv"
    NUMBERS.to_csv(path, index=False)
    params = CommonParams(
        features=["amount", "eu"],
        label="label",
        column_types={
            "amount": {"type": "FLOAT64", "thousands": ","},
            "eu": {"type": "FLOAT64", "thousands": ".", "decimal": ","},
        },
    )
    source = LocalSource({TABLE: path})
    view = sources.table_view(source, TABLE, params.column_types)
    frame = queries.fetch_columns(source, view, ["amount", "eu"])
    frame = frame.astype(object).where(frame.notna(), None)
    assert frame["amount"].tolist() == [3750.0, 1234567.5, None, 12.0, 2000.0, None], "37,50 is not grouped by three"
    assert frame["eu"].tolist() == [12.5, 1234.5, None, None, -3.0, 0.25]
    profile = queries.column_profile(source, view, ["amount", "eu"], ["n/a"]).set_index("column_name")
    assert profile["cast_failed_count"].to_dict() == {"amount": 1, "eu": 2}, "the failures are counted as today"
    assert profile.loc["amount", "placeholder_count"] == 1


def test_a_number_format_with_one_separator_for_both_is_refused():
    from pydantic import ValidationError

    from bqlab.config import NumberCast

    with pytest.raises(ValidationError, match="thousands and decimal are both ','"):
        NumberCast(type="FLOAT64", thousands=",", decimal=",")


def test_text_numbers_with_separators_are_flagged_with_the_cast_that_reads_them(tmp_path):
    from bqlab.analysis import profiling

    path = tmp_path / "n.csv"
    NUMBERS.to_csv(path, index=False)
    source = LocalSource({TABLE: path})
    view = sources.table_view(source, TABLE)
    missing = profiling.missing_table(queries.column_profile(source, view, ["amount", "eu", "label"], ["n/a"]), view)
    assert profiling.separated_number_columns(missing) == {"amount": 80.0, "eu": 50.0}
    assert profiling.numeric_text_columns(missing) == {}, "not numbers as they stand: no plain FLOAT64 hint"


def test_a_yes_no_csv_column_stays_text_and_a_duplicated_header_is_refused(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("answer,flag,n\nyes,true,1\nno,false,0\n", encoding="utf-8")
    assert LocalSource({TABLE: path}).schema(TABLE) == {"answer": "STRING", "flag": "STRING", "n": "INT64"}
    path.write_text("x,y,x\n1,2,3\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"its header names 'x' \(columns 1 and 3\) more than once"):
        LocalSource({TABLE: path}).schema(TABLE)
    path.write_text("Level,colour,level\n1,2,3\n", encoding="utf-8")  # one column to BigQuery and DuckDB
    with pytest.raises(DataError, match=r"names 'Level' and 'level' \(columns 1 and 3\) more than once"):
        LocalSource({TABLE: path}).schema(TABLE)
