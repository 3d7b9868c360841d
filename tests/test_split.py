"""The train/test split in SQL: BigQuery's FARM_FINGERPRINT, computed identically by the embedded engine."""

import numpy as np
import pandas as pd
import pytest

from bqlab.analysis import queries
from bqlab.errors import DataError
from bqlab.sources.datasets import PENGUINS_TABLE
from bqlab.sources.embedded import LocalSource

TABLE = "my-project.lab.rows"
KEY = ["label", "x", "cat"]


def test_farm_fingerprint_equals_bigquerys_documented_values(penguins_source):
    # The values BigQuery's documentation gives for FARM_FINGERPRINT, and 'abc' as the emulator returned it.
    frame = penguins_source.query(
        "SELECT FARM_FINGERPRINT(CONCAT(CAST(x AS STRING), y, CAST(z AS STRING))) AS h FROM UNNEST(["
        "STRUCT(1 AS x, 'foo' AS y, TRUE AS z), STRUCT(2, 'apple', FALSE), STRUCT(3, '', TRUE)]) "
        "UNION ALL SELECT FARM_FINGERPRINT('abc') UNION ALL SELECT FARM_FINGERPRINT(CAST(NULL AS STRING))"
    )
    assert frame["h"].tolist()[:4] == [
        -1541654101129638711,
        2794438866806483259,
        -4880158226897771312,
        2640714258260161385,
    ]
    assert pd.isna(frame["h"].iloc[4])


@pytest.fixture
def rows() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "label": rng.choice(["a", "b", "c", "."], 400, p=[0.3, 0.3, 0.3, 0.1]),
            "x": rng.normal(size=400).round(3),
            "cat": rng.choice(["u", "v", ".", None], 400),
            "extra": np.arange(400),
        }
    )


def split(frame: pd.DataFrame, tmp_path, name="rows.csv", key=KEY, seed=7, fraction=0.25):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return queries.fetch_split(LocalSource({TABLE: path}), TABLE, key, key, fraction, seed, ["."])


def test_split_drops_unlabelled_rows_and_keeps_every_other_row_once(rows, tmp_path):
    rows.loc[:4, "label"] = None
    train, test = split(rows, tmp_path)
    labelled = rows[rows["label"].notna() & (rows["label"] != ".")]
    assert len(train) + len(test) == len(labelled)
    assert not pd.concat([train, test])["label"].isin(["."]).any()
    assert 0.18 < len(test) / len(labelled) < 0.32


def test_split_is_independent_of_row_order_and_returns_rows_in_hash_order(rows, tmp_path):
    train, test = split(rows, tmp_path)
    train2, test2 = split(rows.sample(frac=1, random_state=1), tmp_path, "shuffled.csv")
    pd.testing.assert_frame_equal(train, train2)
    pd.testing.assert_frame_equal(test, test2)


def test_split_changes_with_the_seed(rows, tmp_path):
    _, test_a = split(rows, tmp_path, seed=1)
    _, test_b = split(rows, tmp_path, seed=2)
    assert not test_a.equals(test_b)


def test_split_ignores_columns_outside_the_key(rows, tmp_path):
    path = tmp_path / "rows.csv"
    rows.to_csv(path, index=False)
    source = LocalSource({TABLE: path})
    _, with_extra = queries.fetch_split(source, TABLE, [*KEY, "extra"], KEY, 0.25, 7, ["."])
    _, without = queries.fetch_split(source, TABLE, KEY, KEY, 0.25, 7, ["."])
    pd.testing.assert_frame_equal(with_extra.drop(columns="extra"), without)


def test_split_that_leaves_a_side_empty_is_an_error(tmp_path):
    tiny = pd.DataFrame({"label": ["a"], "x": [1.0], "cat": ["u"]})
    with pytest.raises(DataError, match="leaves .* training and .* test rows out of 1 labelled"):
        split(tiny, tmp_path, fraction=0.5)


def test_a_key_column_of_an_unhashable_type_is_named(tmp_path):
    frame = pd.DataFrame({"label": ["a", "b"], "when": pd.to_datetime(["2024-01-01", "2024-01-02"])})
    frame.to_parquet(tmp_path / "t.parquet")
    source = LocalSource({TABLE: tmp_path / "t.parquet"})
    with pytest.raises(DataError, match=r"column 'when' has type DATETIME, which cannot key the train/test split"):
        queries.fetch_split(source, TABLE, ["label", "when"], ["label", "when"], 0.25, 7)


def test_an_unknown_column_is_named(penguins_source):
    with pytest.raises(DataError, match=r"columns \['beak'\] are not in table"):
        queries.fetch_split(penguins_source, PENGUINS_TABLE, ["species", "beak"], ["species", "beak"], 0.25, 7)


def test_a_table_of_few_distinct_rows_is_refused_with_the_reason(tmp_path):
    path = tmp_path / "t.csv"
    pd.DataFrame({"y": ["a", "b"] * 100, "x": ["u", "v"] * 100}).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"the 200 labelled rows hold only 2 distinct combinations .* same side"):
        queries.fetch_split(LocalSource({TABLE: path}), TABLE, ["y", "x"], ["y", "x"], 0.01, 1)
