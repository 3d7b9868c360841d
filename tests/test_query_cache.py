import pandas as pd
import pytest

from bqlab.sources.query_cache import QueryCache


def test_results_round_trip_and_keys_follow_sql_params_and_table_versions(tmp_path):
    cache = QueryCache(tmp_path / "cache")
    key = cache.key("SELECT 1", {"a": 1}, {"p.d.t": "2026-01-01"})
    assert cache.get(key) is None
    frame = pd.DataFrame({"n": [1, 2], "s": ["x", None]})
    cache.put(key, frame)
    pd.testing.assert_frame_equal(cache.get(key), frame)
    assert (
        len(
            {
                key,
                cache.key("SELECT 2", {"a": 1}, {"p.d.t": "2026-01-01"}),
                cache.key("SELECT 1", {"a": 2}, {"p.d.t": "2026-01-01"}),
                cache.key("SELECT 1", {"a": 1}, {"p.d.t": "2026-02-01"}),
            }
        )
        == 4
    )
    assert not list((tmp_path / "cache").glob(".*")), "no temporary file is left"


def test_a_corrupt_cache_file_is_ignored_with_a_warning_and_removed(tmp_path):
    cache = QueryCache(tmp_path)
    key = cache.key("SELECT 1", None, {})
    (tmp_path / f"{key}.parquet").write_bytes(b"PAR1 truncated")
    with pytest.warns(UserWarning, match="ignoring unreadable query cache file"):
        assert cache.get(key) is None
    assert not (tmp_path / f"{key}.parquet").exists()
