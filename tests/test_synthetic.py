"""Synthetic penguins at any size: the real table's schema and per-class distributions."""

import pyarrow.parquet as pq
import pytest

from bqlab.analysis import aggregates
from bqlab.errors import DataError
from bqlab.sources.datasets import PENGUINS_TABLE
from bqlab.sources.embedded import LocalSource
from bqlab.sources.synthetic import write_synthetic_penguins

TABLE = "synthetic-project.lab.penguins"


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    path = write_synthetic_penguins(50_000, tmp_path_factory.mktemp("synthetic") / "penguins.parquet", seed=1)
    return path, LocalSource({TABLE: path})


def test_same_schema_and_row_count_as_asked(synthetic, penguins_source):
    path, source = synthetic
    assert pq.read_metadata(path).num_rows == 50_000
    assert source.schema(TABLE) == penguins_source.schema(PENGUINS_TABLE)


def test_class_shares_and_per_class_means_follow_the_real_table(synthetic, penguins_source):
    _, source = synthetic
    real = aggregates.class_counts(penguins_source, PENGUINS_TABLE, "species").set_index("species")["share_pct"]
    fake = aggregates.class_counts(source, TABLE, "species").set_index("species")["share_pct"]
    assert (fake - real).abs().max() < 1.5  # percentage points
    columns = ["body_mass_g", "flipper_length_mm"]
    real_stats = aggregates.numeric_summary(penguins_source, PENGUINS_TABLE, "species", columns).set_index(
        ["column", "species"]
    )
    fake_stats = aggregates.numeric_summary(source, TABLE, "species", columns).set_index(["column", "species"])
    relative = ((fake_stats["mean"] - real_stats["mean"]) / real_stats["mean"]).abs()
    assert relative.max() < 0.01
    placeholders = source.query(f"SELECT COUNTIF(sex = '.') AS dots, COUNTIF(sex IS NULL) AS nulls FROM `{TABLE}`")
    assert placeholders["dots"].iloc[0] > 0 and placeholders["nulls"].iloc[0] > 0, "the real table's oddities too"


def test_the_same_seed_gives_the_same_rows_and_an_existing_file_is_kept(tmp_path):
    a = write_synthetic_penguins(3_000, tmp_path / "a.parquet", seed=5)
    b = write_synthetic_penguins(3_000, tmp_path / "b.parquet", seed=5)
    assert pq.read_table(a).equals(pq.read_table(b))
    before = a.stat().st_mtime_ns
    assert write_synthetic_penguins(3_000, a, seed=5).stat().st_mtime_ns == before
    with pytest.raises(DataError, match="rows=0: a synthetic table needs at least one row"):
        write_synthetic_penguins(0, tmp_path / "c.parquet")
