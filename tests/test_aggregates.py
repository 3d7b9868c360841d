"""Data-analysis statistics computed in SQL: values on the penguins table, and awkward tables."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from bqlab.analysis import aggregates, features, queries
from bqlab.errors import DataError
from bqlab.sources.datasets import PENGUINS_TABLE
from bqlab.sources.embedded import LocalSource
from bqlab.tasks import CLASSIFICATION

from .conftest import ROOT

NUMERIC = ["culmen_length_mm", "culmen_depth_mm", "flipper_length_mm", "body_mass_g"]
TABLE = "my-project.lab.odd"


def test_statistics_match_the_rows_they_summarise(penguins_source, penguins_frame):
    frame = penguins_frame
    balance = aggregates.class_counts(penguins_source, PENGUINS_TABLE, "species")
    assert dict(zip(balance["species"], balance["rows"], strict=True)) == frame["species"].value_counts().to_dict()
    assert balance["rows"].is_monotonic_decreasing and balance["share_pct"].sum() == pytest.approx(100, abs=0.05)

    stats = aggregates.numeric_summary(penguins_source, PENGUINS_TABLE, "species", NUMERIC)
    assert len(stats) == 4 * 3
    mass = stats[(stats["column"] == "body_mass_g") & (stats["species"].str.startswith("Gentoo"))].iloc[0]
    gentoo = frame.loc[frame["species"].str.startswith("Gentoo"), "body_mass_g"]
    assert mass["count"] == gentoo.count() and mass["mean"] == pytest.approx(gentoo.mean(), abs=1e-3)
    assert mass["std"] == pytest.approx(gentoo.std(), abs=1e-3)
    assert (mass["min"], mass["max"]) == (gentoo.min(), gentoo.max())
    assert mass["min"] <= mass["q1"] <= mass["median"] <= mass["q3"] <= mass["max"]
    assert mass["median"] == pytest.approx(gentoo.median(), rel=0.03)  # approximate quantiles

    corr = aggregates.correlation_matrix(
        aggregates.correlation_pairs(penguins_source, PENGUINS_TABLE, NUMERIC), NUMERIC
    )
    expected = frame[NUMERIC].corr()
    assert np.allclose(corr.to_numpy(), expected.to_numpy(), atol=1e-3)

    distinct = aggregates.distinct_counts(penguins_source, PENGUINS_TABLE, ["species", "island", "sex"])
    assert distinct == {"species": 3, "island": 3, "sex": 3}  # MALE, FEMALE and the "." placeholder


def test_category_counts_keep_the_most_frequent_values_per_class(penguins_source, penguins_frame):
    counts = aggregates.category_counts(penguins_source, PENGUINS_TABLE, "species", ["island", "sex"], top_values=2)
    assert list(counts.index.get_level_values("column").unique()) == ["island", "sex"]
    assert set(counts.loc["sex"].index) == {"MALE", "FEMALE"}, "only the two most frequent values"
    biscoe = penguins_frame[penguins_frame["island"] == "Biscoe"]["species"].value_counts()
    assert counts.loc[("island", "Biscoe")][biscoe.index].to_dict() == biscoe.to_dict()


def test_sample_is_bounded_deterministic_and_independent_of_row_order(tmp_path, penguins_frame):
    shuffled = tmp_path / "shuffled.parquet"
    penguins_frame.sample(frac=1, random_state=7).to_parquet(shuffled)
    columns = ["species", "island", "body_mass_g"]
    a = queries.sample_rows(LocalSource(), PENGUINS_TABLE, columns, 50, seed=3)
    b = queries.sample_rows(LocalSource({PENGUINS_TABLE: shuffled}), PENGUINS_TABLE, columns, 50, seed=3)
    assert len(a) == 50
    pd.testing.assert_frame_equal(a, b)
    c = queries.sample_rows(LocalSource(), PENGUINS_TABLE, columns, 50, seed=4)
    assert not a.equals(c), "another seed, another sample"


def test_the_embedded_sample_is_a_fair_sample_by_duckdbs_own_hash(tmp_path):
    # The embedded engine orders a sample by DuckDB's HASH (FARM_FINGERPRINT there is a Python call
    # per row). It must still be a fair sample: checked here against the table itself, counted
    # by pandas. Half the rows are copies of one row: numbered, they are sampled one by one (the
    # sample holds about half of them); a hash of the values alone would keep all or none.
    rng = np.random.default_rng(11)
    distinct = pd.DataFrame({"label": rng.choice(["a", "b", "c"], 10_000, p=[0.6, 0.3, 0.1]), "x": np.arange(10_000.0)})
    copies = pd.DataFrame({"label": ["copy"] * 10_000, "x": [-1.0] * 10_000})
    path = tmp_path / "copies.parquet"
    pd.concat([distinct, copies]).sample(frac=1, random_state=3).to_parquet(path)
    source = LocalSource({TABLE: path})
    statement, _ = queries.sample_statement(queries.as_view(source, TABLE), ["label", "x"], 2_000, 5)
    assert "FARM_FINGERPRINT(" not in statement and "HASH(@seed" in statement
    sample = queries.sample_rows(source, TABLE, ["label", "x"], 2_000, seed=5)
    assert len(sample) == 2_000
    shares = sample["label"].value_counts(normalize=True)
    table = pd.concat([distinct, copies])["label"].value_counts(normalize=True)
    for label, share in table.items():  # 2,000 draws: a share's standard error is at most 1.1 points
        assert abs(shares.get(label, 0) - share) < 0.045, (label, shares.get(label, 0), share)
    drawn = sample.loc[sample["label"] != "copy", "x"]
    assert drawn.is_unique and drawn.isin(distinct["x"]).all(), "rows of the table, each once"
    assert abs(drawn.mean() - 4_999.5) < 4 * 2_887 / np.sqrt(len(drawn)), "spread over the whole table"
    shuffled = tmp_path / "shuffled.parquet"
    pd.read_parquet(path).sample(frac=1, random_state=8).to_parquet(shuffled)
    again = queries.sample_rows(LocalSource({TABLE: shuffled}), TABLE, ["label", "x"], 2_000, seed=5)
    pd.testing.assert_frame_equal(sample, again)  # the same rows whatever the order, copies too
    farm = dataclasses.replace(queries.as_view(source, TABLE), native_hash="FARM_FINGERPRINT")
    statement, _ = queries.sample_statement(farm, ["label", "x"], 2_000, 5)
    assert "HASH(" not in statement.replace("FARM_FINGERPRINT(", ""), "BigQuery's sample is FARM_FINGERPRINT's"


def test_a_sample_larger_than_the_table_is_the_whole_table(penguins_source):
    sample = queries.sample_rows(penguins_source, PENGUINS_TABLE, ["species"], 5000, seed=1)
    assert len(sample) == 344


def test_a_sample_of_zero_rows_is_refused(penguins_source):
    with pytest.raises(DataError, match="sample_rows=0: a sample needs at least one row"):
        queries.sample_rows(penguins_source, PENGUINS_TABLE, ["species"], 0, seed=1)


@pytest.fixture
def odd_table(tmp_path):
    """A class with a single row and a numeric column that is entirely NULL."""
    frame = pd.DataFrame(
        {
            "label": ["a"] * 6 + ["b"] * 5 + ["lonely"],
            "x": np.arange(12, dtype="float64"),
            "empty": pd.Series([None] * 12, dtype="float64"),
            "kind": ["u", "v"] * 6,
        }
    )
    path = tmp_path / "odd.parquet"
    frame.to_parquet(path)
    return LocalSource({TABLE: path})


def test_a_single_row_class_and_an_all_null_column_are_summarised_not_fatal(odd_table):
    stats = aggregates.numeric_summary(odd_table, TABLE, "label", ["x", "empty"])
    lonely = stats[(stats["column"] == "x") & (stats["label"] == "lonely")].iloc[0]
    assert lonely["count"] == 1 and lonely["mean"] == 11 and np.isnan(lonely["std"])
    empty = stats[stats["column"] == "empty"]
    assert (empty["count"] == 0).all() and empty["mean"].isna().all() and empty["median"].isna().all()
    corr = aggregates.correlation_matrix(aggregates.correlation_pairs(odd_table, TABLE, ["x", "empty"]), ["x", "empty"])
    assert np.isnan(corr.loc["x", "empty"])
    from bqlab.analysis import plots

    figure = plots.distributions_by_class(stats, "label")  # the empty column draws an empty panel
    assert [ax.get_title() for ax in figure.axes if ax.get_visible()] == ["x by label", "empty by label"]


def test_training_on_a_feature_with_no_value_is_refused_with_the_column_named(odd_table):
    train, _ = queries.fetch_split(odd_table, TABLE, ["label", "x", "empty"], ["label", "x", "empty"], 0.25, 1)
    with pytest.raises(DataError, match=r"feature\(s\) \['empty'\] have no value in any of the .* rows read"):
        features.split_xy(train, "label", ["x", "empty"])


def test_no_query_selects_every_column():
    # BigQuery bills the columns a query reads: every named query lists its columns.
    for sql in sorted((ROOT / "src/bqlab/sql").glob("*.sql")):
        code = "\n".join(line.split("--")[0] for line in sql.read_text().splitlines())
        assert "*" not in code.replace("COUNT(*)", ""), f"{sql.name} selects every column"


def test_correlations_of_many_columns_come_from_the_sample_and_agree_with_sql(tmp_path, monkeypatch):
    from bqlab.sources.synthetic import wide_table

    path = tmp_path / "w.parquet"
    wide_table(rows=300, columns=8).to_parquet(path)
    source = LocalSource({TABLE: path})
    columns = [f"f{i:03d}" for i in range(8)]
    exact = aggregates.pairwise_correlations(source, TABLE, columns, sample_rows=300, seed=1)
    queries = len(source.log)
    monkeypatch.setattr(aggregates, "SQL_CORRELATION_MAX_COLUMNS", 4)  # 8 columns: "many"
    sampled = aggregates.pairwise_correlations(source, TABLE, columns, sample_rows=300, seed=1)
    assert len(source.log) == queries + 1, "one query: the sample"
    pd.testing.assert_frame_equal(exact, sampled, atol=1e-3)  # the sample is the whole table here
    assert sampled.iloc[0].tolist()[:2] == ["f000", "f001"] and sampled.iloc[0]["r"] > 0.99
    assert len(sampled) == 28


def test_placeholders_are_never_listed_as_category_values(penguins_source):
    listed = aggregates.category_counts(penguins_source, PENGUINS_TABLE, "species", ["sex"], 5)
    assert "." in listed.loc["sex"].index, "the penguins table has sex = '.' once"
    cleaned = aggregates.category_counts(penguins_source, PENGUINS_TABLE, "species", ["sex"], 5, missing_values=["."])
    assert list(cleaned.loc["sex"].index) == ["FEMALE", "MALE"]


def test_a_class_of_a_float_label_is_written_as_every_page_writes_it(tmp_path):
    from bqlab.analysis import aggregates, targets

    path = tmp_path / "t.csv"
    pd.DataFrame({"rating": [5.0, 4.0, 5.0, 1.5], "x": [1, 2, 3, 4]}).to_csv(path, index=False)
    counts = aggregates.class_counts(LocalSource({"p-abcdef.d.t": path}), "p-abcdef.d.t", "rating")
    assert sorted(map(str, counts["rating"])) == ["1.5", "4", "5"], "5, not 5.0, as the evaluation writes it"
    assert set(map(str, targets.label_values(pd.Series([5.0, 4.0, 1.5]), CLASSIFICATION))) == {"5", "4", "1.5"}
