"""The embedded table must match bigquery-public-data.ml_datasets.penguins."""

import pytest

from bqlab.sources.datasets import PENGUINS_SCHEMA, PENGUINS_TABLE

TABLE = f"`{PENGUINS_TABLE}`"


def test_schema_matches_the_public_table(penguins_source):
    assert penguins_source.schema(PENGUINS_TABLE) == {
        "species": "STRING",
        "island": "STRING",
        "culmen_length_mm": "FLOAT64",
        "culmen_depth_mm": "FLOAT64",
        "flipper_length_mm": "FLOAT64",
        "body_mass_g": "FLOAT64",
        "sex": "STRING",
    }
    assert list(PENGUINS_SCHEMA) == list(penguins_source.schema(PENGUINS_TABLE))


def test_row_count_and_species_use_the_full_names(penguins_source):
    counts = penguins_source.query(f"SELECT species, COUNT(*) AS n FROM {TABLE} GROUP BY species ORDER BY n DESC")
    assert counts.to_dict("list") == {
        "species": [
            "Adelie Penguin (Pygoscelis adeliae)",
            "Gentoo penguin (Pygoscelis papua)",
            "Chinstrap penguin (Pygoscelis antarctica)",
        ],
        "n": [152, 124, 68],
    }


def test_islands(penguins_source):
    counts = penguins_source.query(f"SELECT island, COUNT(*) AS n FROM {TABLE} GROUP BY island ORDER BY island")
    assert counts.to_dict("list") == {"island": ["Biscoe", "Dream", "Torgersen"], "n": [168, 124, 52]}


def test_sex_has_male_female_dot_and_null(penguins_source):
    counts = penguins_source.query(
        f"SELECT IFNULL(sex, 'NULL') AS sex, COUNT(*) AS n FROM {TABLE} GROUP BY 1 ORDER BY 1"
    )
    assert dict(zip(counts["sex"], counts["n"], strict=True)) == {".": 1, "FEMALE": 165, "MALE": 168, "NULL": 10}


def test_the_dot_is_on_the_gentoo_record_the_public_table_has(penguins_source):
    row = penguins_source.query(f"SELECT * FROM {TABLE} WHERE sex = '.'").iloc[0]
    assert row["species"] == "Gentoo penguin (Pygoscelis papua)"
    assert row["island"] == "Biscoe"
    assert (row["culmen_length_mm"], row["culmen_depth_mm"], row["flipper_length_mm"], row["body_mass_g"]) == (
        44.5,
        15.7,
        217.0,
        4875.0,
    )


def test_numeric_columns_have_two_nulls_and_known_means(penguins_source):
    stats = penguins_source.query(
        f"""SELECT COUNTIF(body_mass_g IS NULL) AS null_mass, COUNTIF(culmen_length_mm IS NULL) AS null_length,
                   AVG(body_mass_g) AS mass, AVG(flipper_length_mm) AS flipper, AVG(culmen_length_mm) AS length
            FROM {TABLE}"""
    ).iloc[0]
    assert (stats["null_mass"], stats["null_length"]) == (2, 2)
    assert stats["mass"] == pytest.approx(4201.754386, abs=1e-5)
    assert stats["flipper"] == pytest.approx(200.915205, abs=1e-5)
    assert stats["length"] == pytest.approx(43.921930, abs=1e-5)


@pytest.mark.slow  # DuckDB notices the signal between chunks: up to 20 s on this query
def test_a_signal_during_an_embedded_query_is_an_interrupt_not_duckdbs_error(monkeypatch):
    # DuckDB catches SIGINT and SIGTERM during a query and raises RuntimeError("Query interrupted");
    # the runner must see the interrupt (its clean-up, exit 130 or 143), not a traceback.
    import os
    import signal
    import threading

    from bqlab.errors import Terminated
    from bqlab.sources.embedded import LocalSource

    source = LocalSource()
    slow = (  # 10^10 rows, streamed: far longer than the signal takes to come
        "SELECT COUNT(*) AS n FROM UNNEST(GENERATE_ARRAY(1, 100000)) AS x, UNNEST(GENERATE_ARRAY(1, 100000)) AS y "
        "WHERE MOD(x * y, 7) = 3"
    )
    threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
    with pytest.raises(KeyboardInterrupt) as caught:
        source.query(slow)
    assert not isinstance(caught.value, Terminated)

    def terminate(_signum, _frame):
        Terminated.received = True
        raise Terminated()

    monkeypatch.setattr(Terminated, "received", False)
    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGTERM)).start()
        with pytest.raises(Terminated):
            source.query(slow)
    finally:
        signal.signal(signal.SIGTERM, previous)
