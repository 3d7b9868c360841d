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
