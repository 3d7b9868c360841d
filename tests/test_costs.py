"""The cost forecast of a sweep on BigQuery, on the emulator, with byte figures injected.

The emulator's dry runs report 0 bytes (FIELD-NOTES), so each test gives every dry run the
bytes BigQuery would bill: 10 MiB for each penguins column the statement reads. The real client
still sends every dry run to the emulator; the tests count the jobs that are not dry runs.
"""

import re
import shutil

import pytest
from google.cloud import bigquery
from google.cloud.bigquery.job import QueryJob

from bqlab.analysis import aggregates
from bqlab.errors import DataError
from bqlab.runner import sweeps
from bqlab.sources import table_view
from bqlab.sources.bigquery import BigQuerySource
from bqlab.sources.query_cache import QueryCache

from .conftest import ROOT, run_cli, write_yaml
from .emulator import PENGUINS, bigquery_emulator  # noqa: F401 - fixture

MIB = 1024**2
COLUMNS = {"species", "island", "culmen_length_mm", "culmen_depth_mm", "flipper_length_mm", "body_mass_g", "sex"}


def billed(sql: str) -> int:
    """What BigQuery would bill for ``sql`` here: 10 MiB per penguins column it reads."""
    return 10 * MIB * len(set(re.findall(r"`([^`]+)`", sql)) & COLUMNS)


@pytest.fixture
def jobs(monkeypatch):
    """Every job sent, as (dry run?, SQL); dry runs report ``billed(sql)`` bytes."""
    sent = []
    query = bigquery.Client.query

    def recording(client, sql, *args, job_config=None, **kwargs):
        sent.append((bool(job_config and job_config.dry_run), sql))
        return query(client, sql, *args, job_config=job_config, **kwargs)

    monkeypatch.setattr(bigquery.Client, "query", recording)
    monkeypatch.setattr(QueryJob, "total_bytes_processed", property(lambda job: billed(job.query)))
    return sent


def warehouse_project(root, emulator, *, cache: bool = False, cap: str = "10GiB"):
    for folder in ("params", "notebooks"):
        shutil.copytree(ROOT / folder, root / folder, dirs_exist_ok=True)
    common = (root / "params/common.yaml").read_text()
    for old, new in {
        "table: bigquery-public-data.ml_datasets.penguins": f"table: {PENGUINS}",
        "source: local": "source: bigquery",
        "  project: null": "  project: test-project",
        "  api_endpoint: null": f"  api_endpoint: {emulator.endpoint}",
        "  storage_api_endpoint: null": f"  storage_api_endpoint: {emulator.storage_endpoint}",
        "  cache_dir: .cache/bigquery": f"  cache_dir: {'.cache/bigquery' if cache else 'null'}",
    }.items():
        assert old in common
        common = common.replace(old, new)
    (root / "params/common.yaml").write_text(common)
    runner = (root / "params/runner.yaml").read_text().replace("sweep_maximum_bytes_billed: 10GiB", "")
    (root / "params/runner.yaml").write_text(runner + f"\nsweep_maximum_bytes_billed: {cap}\n")
    return root


def forecast(project, grid: str):
    write_yaml(project / "params/sweeps/s.yaml", f"profile: ci\ngrid: {grid}\n")
    sweep = sweeps.read_sweep(project / "params", "s")
    checked = sweeps.check_sweep(sweep, project / "params")
    return sweeps.cost_forecast(checked, project / "notebooks", project / "reports")


def test_a_statement_many_points_send_is_billed_once(bigquery_emulator, tmp_path, jobs):  # noqa: F811
    project = warehouse_project(tmp_path, bigquery_emulator)
    one = forecast(project, "{model: [random_forest]}")
    assert one.points == 1 and one.stages == 3 and one.reused == 0 and one.bytes > 0
    # Another model: the same data analysis (shared), the same split statement (sent once).
    two = forecast(project, "{model: [random_forest, hist_gradient_boosting]}")
    assert (two.points, two.stages, two.reused) == (2, 6, 1)  # the second point shares its data analysis
    assert (two.statements, two.bytes) == (one.statements, one.bytes)
    # Other features: a data analysis and a split of their own, reading fewer columns.
    three = forecast(project, "{model: [random_forest], features: [[island, sex], [island, body_mass_g]]}")
    assert three.reused == 0 and three.statements > one.statements
    assert all(dry for dry, _ in jobs), "a forecast sends dry runs only"
    assert three.line().endswith("the sweep cap is 10.0 GiB"), three.line()
    assert f"{three.statements} distinct statements for 2 points (0 of 6 stages reused, 0 answered" in three.line()


def test_a_sweep_over_its_cap_is_refused_before_any_byte_is_billed(bigquery_emulator, tmp_path, jobs, capsys):  # noqa: F811
    project = warehouse_project(tmp_path, bigquery_emulator, cap="200MB")
    write_yaml(project / "params/sweeps/s.yaml", "profile: ci\ngrid: {features: [[island, sex], [sex, body_mass_g]]}\n")
    assert run_cli(project, "sweep", "s") == 2
    err = capsys.readouterr().err
    assert "over sweep_maximum_bytes_billed = 190.7 MiB in params/runner.yaml; nothing was run or billed" in err
    assert jobs and all(dry for dry, _ in jobs), "only dry runs reached BigQuery"
    assert not list((project / "reports").rglob("run.json"))
    # One of the two points alone fits under the cap.
    assert forecast(project, "{features: [[island, sex]]}").bytes < 200 * 10**6


@pytest.mark.slow
def test_stages_a_finished_run_made_and_cached_statements_are_not_billed(bigquery_emulator, tmp_path, jobs):  # noqa: F811
    project = warehouse_project(tmp_path, bigquery_emulator, cache=True)
    assert run_cli(project, "report", "--profile", "ci", "--quiet") == 0
    jobs.clear()
    # cv_folds 3 is what the ci profile sets: every stage is the finished run's; 4 re-trains and re-evaluates.
    planned = forecast(project, "{cv_folds: [3, 4]}")
    assert (planned.points, planned.stages, planned.reused) == (2, 6, 4)
    # The checks' statements and the split are the run's own, answered by the query cache.
    assert planned.cached == planned.statements and planned.bytes == 0, planned.line()
    assert not jobs, "cached statements are not even dry-run"
    (project / ".cache").rename(project / ".cache-gone")  # without the cache: billed again
    again = forecast(project, "{cv_folds: [3, 4]}")
    assert again.cached == 0 and again.bytes > 0 and again.statements == planned.statements


def test_the_query_cache_says_what_it_holds(bigquery_emulator, tmp_path):  # noqa: F811
    source = BigQuerySource(bigquery_emulator.client, cache=QueryCache(tmp_path))
    sql = aggregates.class_counts_sql(table_view(source, PENGUINS), "species")
    assert not source.cached(sql)
    source.query(sql)
    assert source.cached(sql) and not source.cached(sql, {"unused": 1})


def test_a_forecast_of_a_sweep_on_the_embedded_engine_says_nothing_is_billed(project, capsys):
    write_yaml(project / "params/sweeps/s.yaml", "profile: ci\ngrid: {cv_folds: [3, 4]}\n")
    assert run_cli(project, "sweep", "s", "--forecast") == 0
    out = capsys.readouterr().out
    assert "sweep s: 2 points checked; the embedded engine bills nothing" in out
    assert not (project / "reports" / "runs").exists()


def test_an_over_cap_statement_alone_is_refused_by_maximum_bytes_billed(bigquery_emulator, tmp_path, jobs):  # noqa: F811
    project = warehouse_project(tmp_path, bigquery_emulator)
    common = (project / "params/common.yaml").read_text()
    (project / "params/common.yaml").write_text(common.replace("billed: 1073741824", "billed: 50000000"))
    with pytest.raises(DataError, match="over maximum_bytes_billed"):
        forecast(project, "{cv_folds: [3]}")
    assert all(dry for dry, _ in jobs)


def test_a_point_naming_a_missing_column_is_refused_from_metadata_alone(bigquery_emulator, tmp_path, jobs, capsys):  # noqa: F811
    project = warehouse_project(tmp_path, bigquery_emulator)
    write_yaml(project / "params/sweeps/s.yaml", "profile: ci\npoints: [{features: [island]}, {features: [islnd]}]\n")
    assert run_cli(project, "sweep", "s") == 2
    err = capsys.readouterr().err
    assert "point 2/2 (features=[\"islnd\"]): column 'islnd' (key 'features', used by eda) is not in table" in err, err
    assert "did you mean 'island'?" in err
    assert not jobs, "not even a dry run was sent"


def test_a_statement_counts_at_least_ten_megabytes_per_table(bigquery_emulator, tmp_path, jobs, monkeypatch):  # noqa: F811
    project = warehouse_project(tmp_path, bigquery_emulator)
    monkeypatch.setattr(QueryJob, "total_bytes_processed", property(lambda job: 1000))  # a tiny table
    planned = forecast(project, "{cv_folds: [3]}")
    assert planned.statements > 3 and planned.bytes == planned.statements * 10 * MIB, planned.line()
