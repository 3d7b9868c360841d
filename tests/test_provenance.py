import nbformat
import pytest

from bqlab import provenance
from bqlab.render import finish_notebook, render_html


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


def test_published_notebook_and_html_carry_no_secret_and_show_provenance(tmp_path):
    parameters = {"table": "p.d.t", "api_token": "tok-123456"}
    _executed_notebook(tmp_path / "nb.ipynb", parameters)
    nb = finish_notebook(tmp_path / "nb.ipynb", provenance.redact(parameters), "**Provenance** of this run")
    html = render_html(nb, tmp_path / "nb.html").read_text()
    on_disk = (tmp_path / "nb.ipynb").read_text()
    for text in (on_disk, html):
        assert "tok-123456" not in text
        assert provenance.REDACTED in text
    assert nb.cells[1].source == "**Provenance** of this run", "provenance follows the title"
    assert nb.metadata.papermill.parameters["table"] == "p.d.t"


def test_markdown_names_commit_data_and_software():
    prov = {
        "run_id": "r1",
        "profile": "ci",
        "git": {"commit": "abc123", "dirty": True},
        "data": {"table": "p.d.t", "source": "local", "rows": 344, "content_sha256": "f" * 64},
        "software": {"python": "3.11.7", "platform": "Linux", "packages": {"pandas": "3.1.1"}},
        "image": None,
        "params_files": ["params/common.yaml"],
    }
    text = provenance.markdown(prov, {"started": "t0", "ended": "t1"})
    for expected in ("`abc123` (uncommitted changes)", "344 rows", "ffffffffffffffff", "Python 3.11.7", "pandas 3.1.1"):
        assert expected in text
    assert "none (host)" in text
