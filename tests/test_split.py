"""The train/test split in SQL: BigQuery's FARM_FINGERPRINT, computed identically by the embedded engine."""

import numpy as np
import pandas as pd
import pytest

from bqlab.analysis import queries
from bqlab.errors import DataError
from bqlab.sources.datasets import PENGUINS_TABLE
from bqlab.sources.embedded import LocalSource
from bqlab.tasks import REGRESSION

from . import tables

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


def test_columns_outside_the_key_leave_the_same_rows_on_each_side(rows, tmp_path):
    path = tmp_path / "rows.csv"
    pd.concat([rows, rows.assign(extra=-rows["extra"])]).to_csv(path, index=False)  # copies that differ outside
    source = LocalSource({TABLE: path})
    with_extra = queries.fetch_split(source, TABLE, [*KEY, "extra"], KEY, 0.25, 7, ["."])
    without = queries.fetch_split(source, TABLE, KEY, KEY, 0.25, 7, ["."])
    for side, other in zip(with_extra, without, strict=True):
        pd.testing.assert_frame_equal(side.drop(columns="extra"), other)


@pytest.mark.parametrize("check", ["FARM_FINGERPRINT", LocalSource.native_hash])
@pytest.mark.parametrize("first", [1, 37, 500, 2000])
def test_the_first_units_are_the_first_rows_of_every_rows_numbering(rows, tmp_path, first, check):
    # first_units numbers copies over the row hash alone and reads again only the rows it keeps; it
    # must give exactly the rows and unit hashes of numbering every row with all its columns, then
    # taking the first by unit hash. Copies here are many and differ outside the key (extra). The
    # second read's check (BigQuery's FARM_FINGERPRINT, the embedded engine's HASH) changes nothing.
    path = tmp_path / "copies.csv"
    copies = pd.concat([rows, rows.assign(extra=-rows["extra"]), rows.iloc[:50], rows.iloc[:50].assign(extra=7)])
    copies.to_csv(path, index=False)
    source = LocalSource({TABLE: path})
    view = queries.as_view(source, TABLE)
    columns, where = [*KEY, "extra"], "TRUE"
    full = queries._units(view, view.schema, columns, KEY, where)
    every = source.query(f"SELECT * FROM ({full}) ORDER BY bqlab_unit_hash LIMIT @n", {"seed": 3, "n": first})
    bounded = queries._units(view, view.schema, columns, KEY, where, first="@n", check=check)
    kept = source.query(f"SELECT * FROM ({bounded}) ORDER BY bqlab_unit_hash", {"seed": 3, "n": first})
    assert len(kept) == min(first, len(copies))
    pd.testing.assert_frame_equal(kept, every)
    assert kept["bqlab_unit_hash"].is_unique


@pytest.mark.parametrize("first", [3, 40, 400])
def test_the_embedded_check_keeps_rows_whose_keys_join_alike(tmp_path, first):
    # Rows whose values differ but whose key texts are equal are copies of one row on BigQuery:
    # 'a|b' then 'c' and 'a' then 'b|c'; NULL and '' text. The embedded engine's check hashes the
    # values, not their text; first_units must still read them as copies, as its FARM check does.
    rng = np.random.default_rng(5)
    base = pd.DataFrame(
        {
            "label": rng.choice(["a|b", "a", "u", "u|v"], 300),
            "cat": rng.choice(["c", "b|c", "", None, "v|w", "w"], 300),
            "n": rng.choice([1.0, 2.5, None], 300),
            "extra": np.arange(300),
        }
    )
    path = tmp_path / "bars.parquet"
    base.to_parquet(path)
    source = LocalSource({TABLE: path})
    view = queries.as_view(source, TABLE)
    key, columns = ["label", "cat", "n"], ["label", "cat", "n", "extra"]
    full = queries._units(view, view.schema, columns, key, "TRUE")
    every = source.query(f"SELECT * FROM ({full}) ORDER BY bqlab_unit_hash LIMIT @n", {"seed": 3, "n": first})
    for check in ("FARM_FINGERPRINT", LocalSource.native_hash):
        bounded = queries._units(view, view.schema, columns, key, "TRUE", first="@n", check=check)
        kept = source.query(f"SELECT * FROM ({bounded}) ORDER BY bqlab_unit_hash", {"seed": 3, "n": first})
        pd.testing.assert_frame_equal(kept, every)
    number = base["n"].map(lambda v: "" if pd.isna(v) else str(round(v * 1_000_000)))
    joined = base["label"] + "|" + base["cat"].fillna("") + "|" + number
    assert joined.nunique() < len(base.drop(columns="extra").drop_duplicates()), "keys that join alike are here"


def test_split_that_leaves_a_side_empty_is_an_error(tmp_path):
    tiny = pd.DataFrame({"label": ["a"], "x": [1.0], "cat": ["u"]})
    with pytest.raises(DataError, match="leaves .* training and .* test rows out of 1 labelled rows"):
        split(tiny, tmp_path, fraction=0.25)


def test_a_key_column_of_an_unhashable_type_is_named(tmp_path):
    frame = pd.DataFrame({"label": ["a", "b"], "when": pd.to_datetime(["2024-01-01", "2024-01-02"])})
    frame.to_parquet(tmp_path / "t.parquet")
    source = LocalSource({TABLE: tmp_path / "t.parquet"})
    with pytest.raises(DataError, match=r"column 'when' has type DATETIME, which cannot key the train/test split"):
        queries.fetch_split(source, TABLE, ["label", "when"], ["label", "when"], 0.25, 7)


def test_an_unknown_column_is_named(penguins_source):
    with pytest.raises(DataError, match=r"columns \['beak'\] are not in table"):
        queries.fetch_split(penguins_source, PENGUINS_TABLE, ["species", "beak"], ["species", "beak"], 0.25, 7)


@pytest.mark.parametrize("fraction", [0.2, 0.25, 0.37])
def test_copies_of_a_row_spread_and_each_class_holds_out_test_fraction_to_the_row(tmp_path, fraction):
    frame = tables.few_distinct()
    assert len(frame.drop_duplicates()) < 30
    train, test = split(frame, tmp_path, key=["label", "a", "b", "c"], fraction=fraction)
    counts = frame["label"].value_counts()
    held_out = test["label"].value_counts()
    for value, n in counts.items():
        assert held_out[value] == int(np.floor(n * fraction + 0.5)), f"class {value}: {held_out[value]} of {n}"
    assert len(train) + len(test) == len(frame)
    # Each distinct row is split like the table: its copies are on both sides, not all on one.
    both = pd.merge(
        train.value_counts().rename("train"), test.value_counts().rename("test"), left_index=True, right_index=True
    )
    big = frame.value_counts()
    assert set(both.index) >= set(big[big >= 20].index)


def test_class_counts_match_scikit_learns_stratified_split(tmp_path):
    from sklearn.model_selection import train_test_split

    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"label": rng.choice(["a", "b", "c"], 997, p=[0.7, 0.25, 0.05]), "x": rng.normal(size=997)})
    _, test = split(frame, tmp_path, key=["label", "x"], fraction=0.25)
    _, sk_test = train_test_split(frame, test_size=0.25, stratify=frame["label"], random_state=0)
    ours, theirs = test["label"].value_counts(), sk_test["label"].value_counts()
    assert (ours - theirs).abs().max() <= 1, f"{ours.to_dict()} against scikit-learn's {theirs.to_dict()}"


def test_a_regression_split_holds_out_test_fraction_of_every_part_of_the_label(tmp_path):
    rng = np.random.default_rng(5)
    price = np.round(rng.lognormal(3, 1, 400), 0)
    frame = pd.concat([pd.DataFrame({"price": price, "rooms": rng.integers(1, 4, 400)})] * 3)  # repeated rows
    path = tmp_path / "r.csv"
    frame.to_csv(path, index=False)
    train, test = queries.fetch_split(
        LocalSource({TABLE: path}), TABLE, ["price", "rooms"], ["price", "rooms"], 0.25, 7, task=REGRESSION
    )
    assert len(test) == 300 and len(train) == 900
    for q in (0.1, 0.5, 0.9):  # stratified by quantile bins: the sides' label distributions agree
        a, b = train["price"].quantile(q), test["price"].quantile(q)
        assert abs(a - b) <= 0.15 * frame["price"].quantile(q) + 1, (q, a, b)


def test_a_bounded_read_samples_copies_like_other_rows(tmp_path):
    frame = pd.concat([pd.DataFrame({"label": ["a", "b"] * 10, "x": np.arange(20)})] * 50)  # 20 rows x 50 copies
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    train, test = queries.fetch_split(
        LocalSource({TABLE: path}), TABLE, ["label", "x"], ["label", "x"], 0.25, 1, max_rows=200
    )
    read = pd.concat([train, test])
    assert len(read) == 200 and read["x"].nunique() == 20, "not the copies of the first few rows only"
    assert test["label"].value_counts().to_dict() == {
        v: int(np.floor(n * 0.25 + 0.5)) for v, n in read["label"].value_counts().items()
    }


def test_a_group_never_spans_both_sides(tmp_path):
    rng = np.random.default_rng(2)
    customers = rng.integers(0, 150, 1200)
    frame = pd.DataFrame(
        {
            "label": np.where(customers % 3 == 0, "churn", "stay"),
            "x": rng.normal(size=1200).round(2),
            "customer": customers,
        }
    )
    frame.loc[:9, "customer"] = None  # rows without a group are each a group of their own
    path = tmp_path / "g.csv"
    frame.to_csv(path, index=False)
    source = LocalSource({TABLE: path})
    train, test = queries.fetch_split(
        source, TABLE, ["label", "x"], ["label", "x", "customer"], 0.25, 3, group="customer"
    )
    assert len(train) + len(test) == len(frame) and "customer" not in train.columns
    train, test = queries.fetch_split(
        source, TABLE, ["label", "x", "customer"], ["label", "x", "customer"], 0.25, 3, group="customer"
    )
    assert not set(train["customer"].dropna()) & set(test["customer"].dropna())
    for value, n in frame["label"].value_counts().items():
        assert abs((test["label"] == value).sum() / n - 0.25) < 0.06, "stratified as closely as groups allow"
    again = queries.fetch_split(
        source, TABLE, ["label", "x", "customer"], ["label", "x", "customer"], 0.25, 3, group="customer"
    )
    pd.testing.assert_frame_equal(test, again[1])
