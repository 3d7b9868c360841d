import pandas as pd
import pytest

from bqlab.sources.query_cache import QueryCache


def test_results_round_trip_and_keys_follow_sql_params_and_table_versions(tmp_path):
    cache = QueryCache(tmp_path / "cache")
    key = cache.key("SELECT 1", {"a": 1}, {"d.t": "2026-01-01"})
    assert cache.get(key) is None
    frame = pd.DataFrame({"n": [1, 2], "s": ["x", None]})
    cache.put(key, frame)
    pd.testing.assert_frame_equal(cache.get(key), frame)
    assert (
        len(
            {
                key,
                cache.key("SELECT 2", {"a": 1}, {"d.t": "2026-01-01"}),
                cache.key("SELECT 1", {"a": 2}, {"d.t": "2026-01-01"}),
                cache.key("SELECT 1", {"a": 1}, {"d.t": "2026-02-01"}),
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


def test_a_size_bound_removes_the_results_used_longest_ago(tmp_path):
    import os

    cache = QueryCache(tmp_path)
    frame = pd.DataFrame({"n": range(1000)})
    keys = [cache.key(f"SELECT {n}", None, {}) for n in range(3)]
    for n, key in enumerate(keys):
        cache.put(key, frame)
        os.utime(tmp_path / f"{key}.parquet", ns=(n * 10**9, n * 10**9))  # put one second apart
    assert cache.get(keys[0]) is not None  # used now: the newest
    size = (tmp_path / f"{keys[0]}.parquet").stat().st_size
    cache.put(cache.key("SELECT 3", None, {}), frame, max_bytes=2 * size)
    assert [cache.holds(k) for k in keys] == [True, False, False], "the two used longest ago are gone"


@pytest.fixture
def local(tmp_path, monkeypatch):
    """A local source on a Parquet file, with a result cache that keeps every result."""
    from bqlab.sources import embedded

    monkeypatch.setattr(embedded, "CACHE_SECONDS", 0.0)
    path = tmp_path / "t.parquet"
    pd.DataFrame({"x": [1.0, 2.0, None], "s": ["a", None, "c"]}).to_parquet(path)
    return embedded.LocalSource({"d.t": path}, cache=QueryCache(tmp_path / "results")), path


def test_the_embedded_engine_keeps_slow_results_and_reads_them_back_unchanged(local):
    source, _ = local
    sql = "SELECT s, SUM(x) AS total, COUNTIF(x > 1) AS n FROM d.t GROUP BY s ORDER BY s"
    first, again = source.query(sql), source.query(sql)
    pd.testing.assert_frame_equal(first, again)
    assert [e["cache"] for e in source.log] == ["kept", "hit"]
    assert first["n"].dtype == "Int64", "as the engine returns it: BigQuery's INT64"


def test_a_statement_another_notebook_is_computing_is_waited_for_and_read_back(local):
    # The data analysis and the training send the split's statement at once: the second waits for
    # the first one's result instead of computing it again. Here a holder of the statement's lock
    # keeps a marked result (not the real one) and lets go: the waiting query returns the marked rows.
    import threading

    import sqlglot

    source, _ = local
    sql = "SELECT SUM(x) AS total FROM d.t"
    key = source._cache_key(sqlglot.parse_one(sql, read="bigquery"), sql, None, ["d.t"])
    answers = []
    with source.cache.computing(key):
        waiting = threading.Thread(target=lambda: answers.append(source.query(sql)))
        waiting.start()
        waiting.join(timeout=0.5)
        assert waiting.is_alive() and not answers, "the query waits while another holds its statement"
        source.cache.put(key, pd.DataFrame({"total": [-1.0]}))
    waiting.join(timeout=30)
    assert answers[0]["total"].tolist() == [-1.0], "the kept result, not a result of its own"
    assert source.log[-1]["cache"] == "hit"


def test_a_cache_folder_that_refuses_locks_still_answers(local, monkeypatch):
    import errno
    import fcntl

    def refused(*_):
        raise OSError(errno.ENOLCK, "No locks available")

    source, _ = local
    monkeypatch.setattr(fcntl, "flock", refused)
    assert source.query("SELECT SUM(x) AS total FROM d.t")["total"].tolist() == [3.0]
    assert source.log[-1]["cache"] == "kept", "computed and kept, without the lock"


def test_locks_are_left_only_for_kept_results_and_an_old_held_one_stays(local, monkeypatch):
    import os
    import time

    from bqlab.sources import embedded

    source, _ = local
    source.query("SELECT SUM(x) AS total FROM d.t")  # kept (CACHE_SECONDS is 0 here)
    monkeypatch.setattr(embedded, "CACHE_SECONDS", 3600.0)
    source.query("SELECT COUNT(*) AS n FROM d.t")  # quick: not kept, no lock file left
    locks = list((source.cache.folder / "locks").iterdir())
    assert len(locks) == 1 and source.cache.holds(locks[0].name)
    held = source.cache.folder / "locks" / "held"
    with source.cache.computing("held"):
        os.utime(held, (time.time() - 7200, time.time() - 7200))  # an hour old or more, but held
        source.cache.put("other", pd.DataFrame({"n": [1]}), max_bytes=10**9)  # the size bound runs
        assert held.exists(), "a held lock is not removed"
    os.utime(locks[0], (time.time() - 7200, time.time() - 7200))
    source.cache.put("other", pd.DataFrame({"n": [1]}), max_bytes=10**9)
    assert not locks[0].exists(), "an old lock nobody holds is removed"


def test_a_lock_removed_while_waited_on_is_never_held_twice(tmp_path):
    # A holds a statement and keeps nothing, so it removes the lock file as it leaves; B waited on
    # that file; C comes after. B must take the lock anew, so B and C never hold it at once.
    import threading
    import time

    cache = QueryCache(tmp_path)
    spans, a_left = {}, threading.Event()

    def hold(name: str, seconds: float) -> None:
        with cache.computing("k"):
            start = time.monotonic()
            time.sleep(seconds)
            spans[name] = (start, time.monotonic())

    def a() -> None:
        hold("a", 0.4)
        a_left.set()

    def c() -> None:
        a_left.wait()
        time.sleep(0.05)
        hold("c", 0.4)

    threads = [threading.Thread(target=a)]
    threads[0].start()
    time.sleep(0.1)
    threads += [threading.Thread(target=hold, args=("b", 0.4)), threading.Thread(target=c)]
    for thread in threads[1:]:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    (b0, b1), (c0, c1) = spans["b"], spans["c"]
    assert b1 <= c0 or c1 <= b0, f"b {spans['b']} and c {spans['c']} held the lock at once"


def test_a_result_cache_that_cannot_be_written_still_answers(tmp_path):
    from bqlab.sources import embedded

    (tmp_path / "a-file").write_text("")  # its folder cannot be made, as root too
    source = embedded.LocalSource(cache=QueryCache(tmp_path / "a-file" / "results"))
    assert source.query("SELECT 1 + 1 AS n")["n"].tolist() == [2]


def test_a_file_written_again_misses_the_kept_result(local):
    import os

    source, path = local
    sql = "SELECT SUM(x) AS total FROM d.t"
    assert source.query(sql)["total"].iloc[0] == 3.0
    stat = path.stat()
    pd.DataFrame({"x": [5.0, 2.0, None], "s": ["a", None, "c"]}).to_parquet(path)  # the same size and inode
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))  # a nanosecond later (the runner's digests too)
    assert path.stat().st_size == stat.st_size and path.stat().st_ino == stat.st_ino
    source = type(source)({"d.t": path}, cache=source.cache)  # a new kernel: DuckDB reads the file again
    assert source.query(sql)["total"].iloc[0] == 7.0
    assert source.log[-1]["cache"] == "kept"


def test_statements_with_another_answer_each_time_are_never_kept(local):
    source, _ = local
    for sql in ["SELECT RAND() AS r FROM d.t", "SELECT CURRENT_DATE() AS d, x FROM d.t", "SELECT GENERATE_UUID() AS u"]:
        source.query(sql)
    assert [e["cache"] for e in source.log] == ["n/a"] * 3
    assert not list(source.cache.folder.glob("*.parquet"))


def test_bqlab_query_cache_off_keeps_nothing_locally(monkeypatch, tmp_path):
    from bqlab.sources.kinds import local_result_cache

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert local_result_cache().folder == tmp_path / "bqlab" / "local-results"
    monkeypatch.setenv("BQLAB_QUERY_CACHE", "off")
    assert local_result_cache() is None


def test_a_csv_changed_after_the_engine_read_it_is_neither_answered_nor_kept(tmp_path, monkeypatch):
    import os

    from bqlab.sources import embedded

    monkeypatch.setattr(embedded, "CACHE_SECONDS", 0.0)
    path = tmp_path / "t.csv"
    path.write_text("x\n1\n2\n")
    cache = QueryCache(tmp_path / "results")
    sql = "SELECT SUM(x) AS total FROM d.t"
    source = embedded.LocalSource({"d.t": path}, cache=cache)
    assert source.query(sql)["total"].iloc[0] == 3
    path.write_text("x\n10\n50\n")  # the kernel's table still holds 1 and 2
    os.utime(path, ns=(0, path.stat().st_mtime_ns + 1))
    assert source.query(sql)["total"].iloc[0] == 3 and source.log[-1]["cache"] == "n/a", "not kept under the new key"
    fresh = embedded.LocalSource({"d.t": path}, cache=cache)
    assert fresh.query(sql)["total"].iloc[0] == 60 and fresh.log[-1]["cache"] == "kept"


def test_a_sampled_statement_is_never_kept(local):
    source, _ = local
    source.query("SELECT x FROM d.t TABLESAMPLE SYSTEM (50 PERCENT)")
    assert source.log[-1]["cache"] == "n/a"
