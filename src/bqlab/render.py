"""HTML output: each executed notebook through nbconvert, and the index of all runs."""

import os
import threading
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from bqlab.runs import load_runs

KEY_METRICS = {
    "eda": [("rows", "rows"), ("missing_cells", "missing cells")],
    "train": [("cv_accuracy_mean", "CV accuracy"), ("cv_accuracy_std", "± std")],
    "evaluate": [("accuracy", "test accuracy"), ("macro_f1", "macro F1")],
}


_RENDER_LOCK = threading.Lock()  # one exporter, shared by the threads that run notebooks
_EXPORTER_LOCK = threading.Lock()


def prepare_exporter() -> None:
    """Import nbconvert and build the exporter in the background, while notebooks run."""
    threading.Thread(target=_exporter, daemon=True).start()


def _exporter():
    with _EXPORTER_LOCK:
        return _build_exporter()


@cache
def _build_exporter():
    from bqlab.execution import fast_notebook_imports

    fast_notebook_imports()
    from nbconvert import HTMLExporter

    return HTMLExporter(template_name="lab")


def write_atomically(path: Path, text: str) -> Path:
    """Write ``text`` to a temporary name beside ``path``, then rename it into place."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def finish_notebook(path: Path, parameters: dict[str, Any], provenance_markdown: str):
    """Make an executed notebook fit to publish; return it.

    The parameters papermill recorded (injected cell and metadata) are replaced by their
    redacted form, and the provenance block is inserted after the title cell.
    """
    from bqlab.execution import fast_notebook_imports

    fast_notebook_imports()
    import nbformat
    from papermill.translators import translate_parameters

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell.source = translate_parameters("bqlab", "python", parameters, "Parameters")
    nb.metadata.setdefault("papermill", {})["parameters"] = parameters
    position = 1 if nb.cells and nb.cells[0].cell_type == "markdown" else 0
    nb.cells.insert(position, nbformat.v4.new_markdown_cell(provenance_markdown, id="provenance"))
    tmp = path.with_name(f".{path.name}.tmp")
    nbformat.write(nb, tmp)
    os.replace(tmp, path)
    return nb


def render_html(nb, html: Path) -> Path:
    """Render an executed notebook (failed ones included) to an HTML report."""
    exporter = _exporter()
    with _RENDER_LOCK:
        body, _ = exporter.from_notebook_node(nb)
    return write_atomically(html, body)


def write_index(reports_dir: Path) -> Path:
    """Write ``reports/index.html``: every run, newest first, with status, metrics and links."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("bqlab", "templates"), autoescape=True, undefined=jinja2.StrictUndefined
    )
    page = env.get_template("index.html.j2").render(runs=load_runs(reports_dir), key_metrics=KEY_METRICS)
    return write_atomically(reports_dir / "index.html", page)
