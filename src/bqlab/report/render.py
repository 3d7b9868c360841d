"""HTML output: each executed notebook through nbconvert, and the index of all runs.

Every notebook becomes two self-contained reports (nothing loads from the network): the
analyst's ``<stem>.html`` with code, and the stakeholder's ``<stem>.findings.html`` without
code cells. Its figures are also saved as PNG files in ``figures/<stem>/`` for slides.
"""

import base64
import json
import os
import re
import threading
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from bqlab import tasks
from bqlab.analysis.numbers import metric_text
from bqlab.jupyter import fast_notebook_imports
from bqlab.project import write_atomically
from bqlab.report.compare import COMPARE_PAGE, comparable, previous_comparable
from bqlab.report.header import LOCAL_ENVIRONMENT, TOC_PLACEHOLDER
from bqlab.report.trends import trends
from bqlab.stages import key_metrics

ANALYST_ONLY = "analyst-only"  # cell tag: shown in the report with code, left out of the findings
# Cell tags of a text written for one task: the reports of a run of the other task leave it out.
TASK_TAGS = frozenset(tasks.NAMES)
_RENDER_LOCK = threading.Lock()  # one pair of exporters, shared by the threads that run notebooks
_EXPORTER_LOCK = threading.Lock()


def prepare_exporter() -> None:
    """Import nbconvert and build the exporter in the background, while notebooks run."""
    threading.Thread(target=_exporter, daemon=True).start()


def _exporter():
    with _EXPORTER_LOCK:
        return _build_exporter()


@cache
def _build_exporter() -> dict[str, Any]:

    fast_notebook_imports()
    # lazy: nbconvert costs about 0.45 s; it loads in a background thread while notebooks run,
    # never for prune or an index repair
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    templates = str(Path(__file__).parent / "templates" / "nbconvert")
    settings = {"template_name": "bqlab", "extra_template_basedirs": [templates]}
    # The findings version also drops cells tagged "analyst-only" (the query log, raw metrics).
    findings = Config()
    findings.TagRemovePreprocessor.enabled = True
    findings.TagRemovePreprocessor.remove_cell_tags = {ANALYST_ONLY}
    hide_code = {"exclude_input": True, "exclude_input_prompt": True, "exclude_output_prompt": True}
    return {"code": HTMLExporter(**settings), "findings": HTMLExporter(config=findings, **settings, **hide_code)}


def finish_notebook(path: Path, parameters: dict[str, Any], header: str, details: str = "", task: str | None = None):
    """Make an executed notebook fit to publish; return it.

    The parameters papermill recorded (injected cell and metadata) are replaced by their
    redacted form; the report's header (``bqlab.report.header``) is inserted after the title cell and
    its run details become the last cell. With the run's ``task``, cells tagged for the other
    task (``TASK_TAGS``) are left out, so the page speaks of this run's task only.
    """
    fast_notebook_imports()
    # lazy, after fast_notebook_imports: nbformat and papermill cost about 0.6 s that prune and
    # an index repair never need
    import nbformat
    from papermill.translators import translate_parameters

    nb = nbformat.read(path, as_version=4)
    if task in TASK_TAGS:
        nb.cells = [c for c in nb.cells if not (TASK_TAGS - {task}) & set(c.metadata.get("tags", []))]
    for cell in nb.cells:
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell.source = translate_parameters("bqlab", "python", parameters, "Parameters")
    recorded = nb.metadata.setdefault("papermill", {})
    recorded["parameters"] = parameters
    # papermill records where it read and wrote the notebook: machine paths, shown by name instead.
    recorded.update(input_path=f"notebooks/{path.name}", output_path=path.name)
    position = 1 if nb.cells and nb.cells[0].cell_type == "markdown" else 0
    nb.cells.insert(position, nbformat.v4.new_markdown_cell(header, id="report-header"))
    if details:
        nb.cells.append(nbformat.v4.new_markdown_cell(details, id="report-details"))
    tmp = path.with_name(f".{path.name}.tmp")
    nbformat.write(nb, tmp)
    os.replace(tmp, path)
    return nb


_HEADING = re.compile(r'<h2 id="([^"]+)">(.*?)<a class="anchor-link"', re.S)


def with_contents(body: str) -> str:
    """Fill the header's contents list with links to the report's section headings."""
    items = "".join(f'<li><a href="#{anchor}">{text.strip()}</a></li>' for anchor, text in _HEADING.findall(body))
    return body.replace(TOC_PLACEHOLDER, TOC_PLACEHOLDER.replace("></nav>", f"><ol>{items}</ol></nav>"), 1)


def render_reports(nb, folder: Path, stem: str) -> tuple[str, str]:
    """Write ``<stem>.html`` (with code) and ``<stem>.findings.html`` (without); return their names.

    Failed notebooks are rendered too. The figures go to ``figures/<stem>/`` as PNG files.
    """
    exporters = _exporter()
    with _RENDER_LOCK:
        bodies = {kind: exporter.from_notebook_node(nb)[0] for kind, exporter in exporters.items()}
    names = (f"{stem}.html", f"{stem}.findings.html")
    write_atomically(folder / names[0], with_contents(bodies["code"]))
    write_atomically(folder / names[1], with_contents(bodies["findings"]))
    save_figures(nb, folder / "figures" / stem)
    return names


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "figure"


def save_figures(nb, folder: Path) -> list[Path]:
    """Save every PNG figure of the notebook as ``NN-<section>.png`` (the section it appears in)."""
    folder.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    section = "figure"
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            headings = re.findall(r"^#{1,3}\s+(.+)$", cell.source, re.M)
            section = _slug(headings[-1]) if headings else section
        for output in cell.get("outputs", []):
            data = output.get("data", {}).get("image/png")
            if data:
                path = folder / f"{len(saved) + 1:02d}-{section}.png"
                path.write_bytes(base64.b64decode(data))
                saved.append(path)
    return saved


def metric_changes(runs: list[dict[str, Any]]) -> dict[tuple[str, str, str], float]:
    """Return, per (run, stage, key metric), the change against the next older comparable run that has it."""
    changes = {}
    for i, run in enumerate(runs):
        for stage in run.get("stages", []):
            for key, _ in key_metrics().get(stage.get("stage"), []):
                value = stage.get("metrics", {}).get(key)
                if not isinstance(value, int | float):
                    continue
                for older in (r for r in runs[i + 1 :] if comparable(r) == comparable(run)):
                    match = [s for s in older.get("stages", []) if s.get("stage") == stage["stage"]]
                    previous = match[0].get("metrics", {}).get(key) if match else None
                    if isinstance(previous, int | float):
                        changes[(run["run_id"], stage["stage"], key)] = round(value - previous, 4)
                        break
    return changes


def write_index(reports_dir: Path, runs: list[dict[str, Any]], leave_out: Iterable[str] = ()) -> Path:
    """Write ``reports/index.html``: trends, then every run, newest first, with status, metrics, changes and links.

    ``runs`` are the run records, newest first (``bqlab.runner.runs.load_runs``); ``leave_out``
    names runs about to be removed, so the index never links a missing run.
    """
    return write_atomically(reports_dir / "index.html", render_index(reports_dir, runs, leave_out))


def render_index(
    reports_dir: Path,
    runs: list[dict[str, Any]],
    leave_out: Iterable[str] = (),
    published: bool = False,
    readers: bool = False,
    latest_page: bool = False,
    compare_pages: set[str] | None = None,
) -> str:
    """The index page (``write_index``) as text.

    ``published``: for a copy in a bucket (``make publish``), which has files but no folders: the
    latest run is linked as ``latest/index.html``. ``readers``: without the links to the
    notebooks' versions with code (``AUDIENCE=readers`` publishes only the findings).
    ``latest_page``: the page of ``latest/`` (``latest/index.html``), the one run in ``runs``, linked
    in its folder (one page: the latest run changes at once, and nothing is copied).
    ``compare_pages``: the runs that have a comparison page (default: those whose folder here has one).
    """
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("bqlab.report", "templates"), autoescape=True, undefined=jinja2.StrictUndefined
    )
    env.globals["metric"] = metric_text
    env.globals["folder"] = (lambda run_id: f"../runs/{run_id}/") if latest_page else (lambda run_id: f"runs/{run_id}/")
    leave_out = set(leave_out)
    runs = [run for run in runs if run["run_id"] not in leave_out]
    compared = {}  # run -> the run its compare.html compares it with, while that page exists
    listed = {run["run_id"] for run in runs}
    for run in runs:  # the run it was compared with when published (a sweep's points publish in any order)
        previous = run.get("compared_with") or (previous_comparable(runs, run) or {}).get("run_id")
        if compare_pages is None:
            has_page = (reports_dir / "runs" / run["run_id"] / COMPARE_PAGE).is_file()
        else:
            has_page = run["run_id"] in compare_pages
        if (previous in listed or latest_page) and has_page:
            compared[run["run_id"]] = previous
    sweeps = []  # reports/sweeps/<name>.json and its page, beside the runs
    for path in sorted((reports_dir / "sweeps").glob("*.json")):
        try:
            sweep = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if (reports_dir / "sweeps" / f"{path.stem}.html").is_file():
            points, verdict = len(sweep.get("points", [])), sweep.get("verdict", "")
            sweeps.append({"name": path.stem, "points": points, "verdict": verdict})
    return env.get_template("index.html.j2").render(
        sweeps=sweeps,
        runs=runs,
        key_metrics=key_metrics(),
        changes=metric_changes(runs),
        compared=compared,
        compare_page=COMPARE_PAGE,
        trends=trends(runs, key_metrics()),
        local_environment=LOCAL_ENVIRONMENT,
        readers=readers,
        latest_page=latest_page,
        latest_link="latest/index.html" if published else "latest/",
    )
