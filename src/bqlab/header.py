"""The block that opens every report: facts of the run, summary of findings, parameters, contents.

It is HTML in a markdown cell inserted after the notebook's title, so it shows in JupyterLab
and in both HTML versions of the report. The contents list is filled in at render time
(``bqlab.render``) from the headings nbconvert gives anchors to.
"""

import json
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from bqlab.findings import code_html

TOC_PLACEHOLDER = '<nav class="bqlab-toc" id="contents"></nav>'


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
        ("Container", escape(provenance["image"] or "none (host)")),
        ("Params", ", ".join(code_html(f) for f in provenance["params_files"])),
    ]


def _value(value: Any) -> str:
    return escape(value if isinstance(value, str) else json.dumps(value, default=str))


def header_html(
    provenance: Mapping[str, Any],
    stage: Mapping[str, Any],
    status: str,
    summary: Sequence[str],
    parameters: Mapping[str, Any],
    stem: str,
) -> str:
    """Return the report's opening block (``summary`` sentences are HTML already).

    What matters leads: the run's status line, then the summary of findings and the contents;
    the run's details and the parameters follow. ``stem`` names the report's two versions,
    which link to each other.
    """
    data = provenance["data"]
    commit = provenance["git"]["commit"] or "no git commit"
    runline = (
        f'<span class="bqlab-status {escape(status)}">{escape(status)}</span> '
        f"run {code_html(provenance['run_id'])} · {escape(stage['ended'][:16].replace('T', ' '))} UTC · "
        f"commit {code_html(commit)} · {code_html(data['table'])} ({escape(data['source'])}, "
        f"fingerprint {code_html(data['content_sha256'][:12])})"
    )
    versions = (
        f'<a href="{escape(stem)}.findings.html">findings only</a> (for readers of results) · '
        f'<a href="{escape(stem)}.html">with code</a> (for analysts)'
    )
    pairs = [*facts(provenance, stage, status), ("Versions", versions)]
    rows = "\n".join(f"<tr><th>{label}</th><td>{value}</td></tr>" for label, value in pairs)
    findings = "\n".join(f"<li>{line}</li>" for line in summary)
    params = "\n".join(f"<tr><td>{escape(k)}</td><td>{_value(v)}</td></tr>" for k, v in parameters.items())
    return (
        '<div class="bqlab-header">\n'
        f'<p class="bqlab-runline">{runline}</p>\n'
        f"<h2>Summary</h2>\n<ul>\n{findings}\n</ul>\n"
        f"<h2>Contents</h2>\n{TOC_PLACEHOLDER}\n"
        f"<h2>Run details</h2>\n<table>\n{rows}\n</table>\n"
        f'<h2>Parameters</h2>\n<table class="bqlab-params">\n{params}\n</table>\n'
        "</div>"
    )
