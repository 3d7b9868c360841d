"""HTML output: each executed notebook through nbconvert, and the index of all runs."""

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

KEY_METRICS = {
    "eda": [("rows", "rows"), ("missing_cells", "missing cells")],
    "train": [("cv_accuracy_mean", "CV accuracy"), ("cv_accuracy_std", "± std")],
    "evaluate": [("accuracy", "test accuracy"), ("macro_f1", "macro F1")],
}


@cache
def _exporter():
    from nbconvert import HTMLExporter

    return HTMLExporter(template_name="lab")


def write_atomically(path: Path, text: str) -> Path:
    """Write ``text`` to a temporary name beside ``path``, then rename it into place."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def render_html(notebook: Path, html: Path) -> Path:
    """Render an executed notebook (failed ones included) to an HTML report."""
    import nbformat

    body, _ = _exporter().from_notebook_node(nbformat.read(notebook, as_version=4))
    return write_atomically(html, body)


def write_index(reports_dir: Path) -> Path:
    """Write ``reports/index.html``: every run, newest first, with status, metrics and links."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("bqlab", "templates"), autoescape=True, undefined=jinja2.StrictUndefined
    )
    page = env.get_template("index.html.j2").render(runs=load_runs(reports_dir), key_metrics=KEY_METRICS)
    return write_atomically(reports_dir / "index.html", page)


def load_runs(reports_dir: Path) -> list[dict[str, Any]]:
    """Return every finished run's record (``runs/<id>/run.json``), newest first."""
    runs = []
    for path in (reports_dir / "runs").glob("*/run.json"):
        try:
            runs.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError):
            continue
    return sorted(runs, key=lambda r: r.get("run_id", ""), reverse=True)
