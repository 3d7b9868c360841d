"""The blocks that open and close every report.

The opening block (status line, summary of findings, contents) is HTML in a markdown cell
inserted after the notebook's title; the closing one (run details and parameters, collapsed)
is the last cell. So both show in JupyterLab and in both HTML versions of the report. The
contents list is filled in at render time (``bqlab.report.render``) from the headings nbconvert gives
anchors to.
"""

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from bqlab.report.findings import code_html

LOCAL_ENVIRONMENT = "local environment (no container)"  # where a run outside a container ran

TOC_PLACEHOLDER = '<nav class="bqlab-toc" id="contents"></nav>'
DETAILS_ID = "run-details"


def facts(provenance: Mapping[str, Any], stage: Mapping[str, Any], status: str) -> list[tuple[str, str]]:
    """Return the (label, HTML) rows that say where this report came from."""
    git, data, soft = provenance["git"], provenance["data"], provenance["software"]
    commit = (
        f"{code_html(git['commit'])}{' (uncommitted changes)' if git['dirty'] else ''}"
        if git["commit"]
        else "not a git checkout"
    )
    packages = ", ".join(f"{escape(k)} {escape(v)}" for k, v in soft["packages"].items())
    profile = f" · profile {escape(provenance['profile'])}" if provenance.get("profile") else ""
    return [
        ("Run", f"{code_html(provenance['run_id'])}{profile}"),
        ("Status", f'<span class="bqlab-status {escape(status)}">{escape(status)}</span>'),
        ("Date", f"{escape(stage['started'])} → {escape(stage['ended'])} (UTC)"),
        ("Code", commit),
        (
            "Data",
            f"{code_html(data['table'])} ({escape(data['source'])}): {data['rows']:,} rows, "
            f"fingerprint sha256 {code_html(data['content_sha256'][:16])}",
        ),
        ("Software", f"Python {escape(soft['python'])} on {escape(soft['platform'])}; {packages}"),
        ("Environment", escape(provenance.get("image") or LOCAL_ENVIRONMENT)),
        ("Params", ", ".join(code_html(f) for f in provenance["params_files"])),
    ]


def key_values(values: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Nested settings as readable (key, value) rows: ``bigquery.project``; lists joined by commas."""
    rows = []
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            rows.extend(key_values(value, f"{name}."))
        elif isinstance(value, list | tuple):
            rows.append((name, ", ".join(str(v) for v in value) if value else "(none)"))
        elif isinstance(value, Mapping) or value is None:
            rows.append((name, "(none)"))
        else:
            rows.append((name, str(value)))
    return rows


def versions_html(stem: str) -> str:
    """The links between a report's two versions, as the contents line ends with them.

    A copy for readers only (``make publish AUDIENCE=readers``) has no version with code: the
    publisher removes this text from its findings pages.
    """
    findings, code = escape(stem) + ".findings.html", escape(stem) + ".html"
    return f' · <a href="{findings}">findings only</a> · <a href="{code}">with code</a>'


def header_html(
    provenance: Mapping[str, Any], stage: Mapping[str, Any], status: str, summary: Sequence[str], stem: str
) -> str:
    """Return the block that opens the report (``summary`` sentences are HTML already).

    What matters leads: the run's status line, the summary of findings, then a one-line list
    of the sections. The run's details and parameters close the report (``details_html``).
    ``stem`` names the report's two versions, which link to each other.
    """
    data = provenance["data"]
    commit = provenance["git"]["commit"] or "no git commit"
    runline = (
        f'<span class="bqlab-status {escape(status)}">{escape(status)}</span> '
        f"run {code_html(provenance['run_id'])} · {escape(stage['ended'][:16].replace('T', ' '))} UTC · "
        f"commit {code_html(commit)} · {code_html(data['table'])} ({escape(data['source'])}, "
        f"fingerprint {code_html(data['content_sha256'][:12])})"
    )
    versions = versions_html(stem)
    findings = "\n".join(f"<li>{line}</li>" for line in summary)
    return (
        '<div class="bqlab-header">\n'
        f'<p class="bqlab-runline">{runline}</p>\n'
        f"<h2>Summary</h2>\n<ul>\n{findings}\n</ul>\n"
        f'<div class="bqlab-contents"><strong>Contents:</strong> {TOC_PLACEHOLDER} · '
        f'<a href="#{DETAILS_ID}">run details</a>{versions}</div>\n'
        "</div>"
    )


def details_html(
    provenance: Mapping[str, Any], stage: Mapping[str, Any], status: str, parameters: Mapping[str, Any]
) -> str:
    """Return the collapsed block that closes the report: where the run came from, and its parameters."""
    rows = "\n".join(f"<tr><th>{label}</th><td>{value}</td></tr>" for label, value in facts(provenance, stage, status))
    params = "\n".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in key_values(parameters))
    return (
        f'<details class="bqlab-details" id="{DETAILS_ID}">\n'
        "<summary>Run details and parameters</summary>\n"
        f"<h3>Run</h3>\n<table>\n{rows}\n</table>\n"
        f'<h3>Parameters</h3>\n<table class="bqlab-params">\n{params}\n</table>\n'
        "</details>"
    )
