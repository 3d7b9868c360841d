from bqlab.runner.doctor import run_doctor

from .emulator import PENGUINS, bigquery_emulator  # noqa: F401 - fixture


def _doctor(project, profile=None):
    lines = []
    failures = run_doctor(project / "params", project / "notebooks", profile, echo=lines.append)
    return failures, lines


def test_local_set_up_passes_every_check(project):
    failures, lines = _doctor(project)
    assert failures == 0
    assert [line.split(":")[0] for line in lines] == [
        "ok    Python",
        "ok    Jupyter kernel",
        "ok    container engine",
        "ok    params",
        "ok    data source and credentials",
        "ok    table and columns",
    ]
    assert "344 rows, label and features present" in lines[-1]


def test_bigquery_without_a_project_fails_with_the_fix_and_skips_what_depends_on_it(project, monkeypatch):
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    failures, lines = _doctor(project, "bigquery")
    assert failures == 1
    assert "FAIL  data source and credentials: no billing project" in lines[4] and "GOOGLE_CLOUD_PROJECT" in lines[4]
    assert lines[5] == "skip  table and columns: an earlier check failed"


def test_bigquery_checks_reach_the_table_with_a_free_dry_run(project, bigquery_emulator):  # noqa: F811
    (project / "params/profiles/emulator.yaml").write_text(
        "common:\n  source: bigquery\n"
        f"  table: {PENGUINS}\n"
        f"  bigquery: {{project: test-project, api_endpoint: '{bigquery_emulator.endpoint}'}}\n"
    )
    failures, lines = _doctor(project, "emulator")
    assert failures == 0, lines
    assert "BigQuery, billed to test-project" in lines[4]
    assert f"{PENGUINS}: 344 rows" in lines[5] and "a full read costs 0 B" in lines[5]
