"""The index (changes of key metrics between runs, links to both versions) and report helpers."""

import base64
import json

import nbformat

from bqlab.report.header import TOC_PLACEHOLDER
from bqlab.report.render import metric_changes, save_figures, with_contents, write_index
from bqlab.runner.runs import load_runs


def _run(reports, run_id, accuracy):
    folder = reports / "runs" / run_id
    folder.mkdir(parents=True)
    stage = {
        "stage": "evaluate",
        "notebook": "03-evaluate.ipynb",
        "status": "ok",
        "seconds": 1.0,
        "peak_memory_mb": 412.4,
    }
    stage |= {"html": "03-evaluate.html", "findings_html": "03-evaluate.findings.html", "metrics": {}, "error": None}
    if accuracy is not None:
        stage["metrics"] = {"accuracy": accuracy, "macro_f1": 0.9}
    record = {"run_id": run_id, "started": run_id, "status": "ok", "seconds": 2.0, "profile": None, "stages": [stage]}
    (folder / "run.json").write_text(json.dumps(record))


def test_index_shows_the_change_of_each_key_metric_against_the_previous_run_that_has_it(tmp_path):
    _run(tmp_path, "20260101T000000Z-aaaaaa", 0.90)
    _run(tmp_path, "20260102T000000Z-bbbbbb", None)  # failed or older layout: skipped
    _run(tmp_path, "20260103T000000Z-cccccc", 0.95)
    _run(tmp_path, "20260104T000000Z-dddddd", 0.95)
    page = write_index(tmp_path, load_runs(tmp_path)).read_text()
    rows = page.split('<tr id="')[1:]
    assert rows[0].startswith("20260104T000000Z-dddddd") and rows[-1].startswith("20260101T000000Z-aaaaaa")
    assert 'test accuracy <strong>0.950</strong> <span class="change same"' in rows[0] and ">±0<" in rows[0]
    assert ">+0.050<" in rows[1], "0.95 against the 0.90 of the run before the one without metrics, as a score"
    assert "change" not in rows[3].split("test accuracy")[1].split("macro F1")[0], (
        "the oldest run has nothing to compare"
    )
    assert 'href="runs/20260104T000000Z-dddddd/03-evaluate.findings.html"' in rows[0]
    assert "1.0 s, 412 MiB peak" in rows[0]
    assert 'href="runs/20260104T000000Z-dddddd/03-evaluate.html">with code' in rows[0]


def test_metric_changes_compare_per_stage_and_key():
    runs = [
        {"run_id": "b", "stages": [{"stage": "eda", "metrics": {"rows": 350, "missing_cells": 19}}]},
        {"run_id": "a", "stages": [{"stage": "eda", "metrics": {"rows": 344, "missing_cells": 19}}]},
    ]
    assert metric_changes(runs) == {("b", "eda", "rows"): 6, ("b", "eda", "missing_cells"): 0}


def test_metric_changes_compare_only_runs_of_the_same_table_label_and_task():
    def run(run_id, table, label, task, rows):
        data = {"table": table, "label": label, "task": task}
        return {"run_id": run_id, "provenance": {"data": data}, "stages": [{"stage": "eda", "metrics": {"rows": rows}}]}

    runs = [
        run("d", "p-abcdef.d.t", "y", "classification", 400),
        run("c", "p-abcdef.d.t", "y", "regression", 390),  # same table and label, other task
        run("b", "p-abcdef.d.other", "y", "classification", 380),  # another table
        run("a", "p-abcdef.d.t", "y", "classification", 344),
    ]
    assert metric_changes(runs) == {("d", "eda", "rows"): 56}


def test_contents_list_links_each_section_heading():
    body = (
        f"<div>{TOC_PLACEHOLDER}</div>"
        '<h2 id="Data-and-split">Data and split<a class="anchor-link" href="#Data-and-split">¶</a></h2>'
        '<h2 id="Queries">Queries<a class="anchor-link" href="#Queries">¶</a></h2>'
    )
    filled = with_contents(body)
    assert (
        '<ol><li><a href="#Data-and-split">Data and split</a></li><li><a href="#Queries">Queries</a></li></ol>'
        in filled
    )


def test_figures_are_saved_as_png_named_after_their_section(tmp_path):
    png = base64.b64encode(b"\x89PNG\r\n\x1a\nfake").decode()
    figure = nbformat.v4.new_output("display_data", data={"image/png": png, "text/plain": "<Figure>"})
    first, second = nbformat.v4.new_code_cell("a"), nbformat.v4.new_code_cell("b")
    first.outputs, second.outputs = [figure], [figure]
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("## Class balance"),
            first,
            nbformat.v4.new_markdown_cell("## ROC curves!"),
            second,
        ]
    )
    saved = save_figures(nb, tmp_path / "figures" / "01-eda")
    assert [p.name for p in saved] == ["01-class-balance.png", "02-roc-curves.png"]
    assert saved[0].read_bytes() == b"\x89PNG\r\n\x1a\nfake"
