import nbformat
import pytest

from bqlab.report.header import details_html, header_html
from bqlab.report.render import finish_notebook, render_reports
from bqlab.runner import provenance

from .conftest import needs_git


@pytest.mark.parametrize(
    "key", ["api_token", "password", "db_passwd", "client_secret", "credentials", "api_key", "private_key", "key"]
)
def test_secret_looking_keys_are_redacted(key):
    assert provenance.redact({key: "s3cr3t"}) == {key: provenance.REDACTED}


def test_redaction_reaches_nested_values_and_spares_ordinary_keys():
    value = {"table": "p.d.t", "hyperparameters": {"C": 1.0}, "bq": [{"access_token": "abc"}], "keyword": "x"}
    assert provenance.redact(value) == {
        "table": "p.d.t",
        "hyperparameters": {"C": 1.0},
        "bq": [{"access_token": provenance.REDACTED}],
        "keyword": "x",
    }


def test_empty_secrets_stay_visible_as_empty():
    assert provenance.redact({"token": None, "password": ""}) == {"token": None, "password": ""}


def _executed_notebook(path, parameters):
    nb = nbformat.v4.new_notebook(
        metadata={"kernelspec": {"name": "bqlab", "language": "python", "display_name": "bqlab"}}
    )
    injected = nbformat.v4.new_code_cell("# Parameters\n" + "\n".join(f"{k} = {v!r}" for k, v in parameters.items()))
    injected.metadata["tags"] = ["injected-parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# Title"), injected, nbformat.v4.new_code_cell("1 + 1")]
    nb.metadata["papermill"] = {"parameters": parameters}
    nbformat.write(nb, path)


PROVENANCE = {
    "run_id": "r1",
    "profile": "ci",
    "git": {"commit": "abc123", "dirty": True},
    "data": {"table": "p.d.t", "source": "local", "rows": 344, "content_sha256": "f" * 64},
    "software": {"python": "3.11.7", "platform": "Linux", "packages": {"pandas": "3.1.1"}},
    "image": None,
    "params_files": ["params/common.yaml"],
}
STAGE = {"started": "2026-11-28T10:00:00Z", "ended": "2026-11-28T10:00:09Z"}


def test_published_notebook_and_both_reports_carry_no_secret_and_open_with_the_header(tmp_path):
    parameters = {"table": "p.d.t", "api_token": "tok-123456"}
    _executed_notebook(tmp_path / "nb.ipynb", parameters)
    redacted = provenance.redact(parameters)
    header = header_html(PROVENANCE, STAGE, "ok", ["One finding."], "nb")
    details = details_html(PROVENANCE, STAGE, "ok", redacted)
    nb = finish_notebook(tmp_path / "nb.ipynb", redacted, header, details)
    names = render_reports(nb, tmp_path, "nb")
    assert names == ("nb.html", "nb.findings.html")
    on_disk = (tmp_path / "nb.ipynb").read_text()
    for text in (on_disk, *((tmp_path / name).read_text() for name in names)):
        assert "tok-123456" not in text
        assert provenance.REDACTED in text
    assert nb.cells[1].id == "report-header" and nb.cells[1].source == header, "the header follows the title"
    assert nb.cells[-1].id == "report-details" and nb.cells[-1].source == details, "the details close the report"
    assert nb.metadata.papermill.parameters["table"] == "p.d.t"
    with_code, findings = ((tmp_path / name).read_text() for name in names)
    assert "hl-ipython3" in with_code and "hl-ipython3" not in findings, "the findings version has no code"


def test_header_leads_with_status_and_summary_and_the_details_close_the_report_collapsed():
    header = header_html(PROVENANCE, STAGE, "failed", ["<b>x</b> happened."], "01-eda")
    assert header.index("bqlab-status failed") < header.index("Summary") < header.index("Contents")
    for expected in (
        "run <code>r1</code> · 2026-11-28 10:00 UTC · commit <code>abc123</code>",
        "<li><b>x</b> happened.</li>",
        'href="#run-details"',
        'href="01-eda.findings.html"',
        'href="01-eda.html"',
    ):
        assert expected in header, expected
    assert "Parameters" not in header and "Python" not in header, "run details and params close the report"
    parameters = {"seed": 42, "features": ["a", "b"], "bigquery": {"project": "p", "location": None}, "x": {}}
    details = details_html(PROVENANCE, STAGE, "failed", parameters)
    assert details.startswith('<details class="bqlab-details" id="run-details">'), "collapsed until opened"
    for expected in (
        "<code>r1</code> · profile ci",
        "2026-11-28T10:00:00Z → 2026-11-28T10:00:09Z",
        "<code>abc123</code> (uncommitted changes)",
        "344 rows",
        "<code>ffffffffffffffff</code>",
        "Python 3.11.7",
        "pandas 3.1.1",
        "<tr><th>Environment</th><td>local environment (no container)</td></tr>",
        "<tr><th>seed</th><td>42</td></tr>",
        "<tr><th>features</th><td>a, b</td></tr>",
        "<tr><th>bigquery.project</th><td>p</td></tr>",
        "<tr><th>bigquery.location</th><td>(none)</td></tr>",
        "<tr><th>x</th><td>(none)</td></tr>",
    ):
        assert expected in details, expected
    assert "{" not in details and "&quot;" not in details, "nested params are rows, not JSON"


@needs_git
def test_a_checkout_is_dirty_for_changed_tracked_files_not_for_untracked_ones(tmp_path):
    import subprocess

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("add", "code.py")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c")
    (tmp_path / "data.csv").write_text("a\n1\n")
    assert provenance.git_state(tmp_path)["dirty"] is False, "an untracked data file is not a code change"
    (tmp_path / "code.py").write_text("x = 2\n")
    assert provenance.git_state(tmp_path)["dirty"] is True


def test_outside_a_checkout_the_image_names_the_commit_it_was_built_from(tmp_path, monkeypatch):
    monkeypatch.delenv("BQLAB_COMMIT", raising=False)
    assert provenance.git_state(tmp_path) == {"commit": None, "dirty": None}
    monkeypatch.setenv("BQLAB_COMMIT", "0123456789ab-dirty")  # what make docker-build writes
    assert provenance.git_state(tmp_path) == {"commit": "0123456789ab", "dirty": True}
    monkeypatch.setenv("BQLAB_COMMIT", "0123456789ab")
    assert provenance.git_state(tmp_path) == {"commit": "0123456789ab", "dirty": False}


def test_a_run_outside_a_container_says_local_environment(monkeypatch):
    from bqlab.runner import provenance

    monkeypatch.delenv("BQLAB_IMAGE", raising=False)
    monkeypatch.setattr(provenance, "Path", lambda _: type("P", (), {"exists": lambda self: False})())
    assert provenance.container_image() == "local environment (no container)"
    monkeypatch.setenv("BQLAB_IMAGE", "bqlab:1.0")
    assert provenance.container_image() == "bqlab:1.0"
