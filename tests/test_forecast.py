"""The statements a stage is forecast to send are the statements its notebook sends.

Each notebook runs by hand in a kernel with the embedded engine's ``query`` recording every
statement (the SQL is the same on BigQuery: one dialect); the forecast of the same stage on the
same table must hold each of them, and nothing else except the one data-dependent statement,
which must read every column the sent one reads.
"""

import json
import re
import shutil

import nbformat
import pytest
from nbclient import NotebookClient

from bqlab.analysis import forecast
from bqlab.analysis.targets import resolve_task
from bqlab.config import load_params
from bqlab.runner.execution import KERNEL_NAME
from bqlab.sources import open_source, table_view
from bqlab.sources.base import named_query
from bqlab.sources.identifiers import quote_table
from bqlab.stages import STAGES

from . import tables
from .conftest import ROOT, write_yaml

pytestmark = pytest.mark.slow

TABLE, PENGUINS = "my-project.lab.t", "bigquery-public-data.ml_datasets.penguins"
RECORD = """
import json as _json
from bqlab.sources import embedded as _embedded
_sent, _query = [], _embedded.LocalSource.query
_embedded.LocalSource.query = lambda self, sql, p=None: _sent.append([sql, dict(p or {})]) or _query(self, sql, p)
"""
SHOW = "print('SENT', _json.dumps(_sent))"


def _sent(project, stem: str) -> list[tuple[str, str]]:
    """Run ``notebooks/<stem>.ipynb`` by hand; return every statement it sent, as (SQL, parameters as JSON)."""
    nb = nbformat.read(project / "notebooks" / f"{stem}.ipynb", as_version=4)
    nb.cells.insert(2, nbformat.v4.new_code_cell(RECORD))
    nb.cells.append(nbformat.v4.new_code_cell(SHOW))
    NotebookClient(nb, kernel_name=KERNEL_NAME, resources={"metadata": {"path": str(project / "notebooks")}}).execute()
    shown = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    sent = [(sql, json.dumps(p, sort_keys=True)) for sql, p in json.loads(shown.split("SENT ", 1)[1])]
    # The embedded engine counts rows with a statement; BigQuery reads the count from metadata, free.
    return [s for s in sent if s[0] not in {named_query("row_count", table=quote_table(t)) for t in (TABLE, PENGUINS)}]


def _forecast(project, stage: str) -> list[tuple[str, str]]:
    params = load_params(project / "params", "ci")
    engine = open_source(params.common, "forecast", root=project)
    common = params.common
    view = table_view(engine, common.table, common.column_types, common.features)
    task = resolve_task(engine, view, common)
    statements = forecast.stage_statements(stage, params.stages[stage], view, task)
    statements += forecast.preflight_statements({stage: params.stages[stage]}, view, task)  # by hand, it checks too
    return [(s.sql, json.dumps(dict(s.params), sort_keys=True)) for s in statements]


def _columns(sql: str) -> set[str]:
    return set(re.findall(r"`([^`]+)`", sql))


def _project(tmp_path, frame, common: str):
    for folder in ("params", "notebooks"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    if frame is not None:
        frame.to_csv(tmp_path / "t.csv", index=False)
        write_yaml(tmp_path / "params/common.yaml", f"table: {TABLE}\nlocal_tables: {{{TABLE}: t.csv}}\n{common}")
    return tmp_path


CASES = {
    "penguins": (None, ""),
    "regression with a category": (tables.regression(), "label: price\nfeatures: [area_m2, city, rooms]\n"),
    "integer label, date and text numbers": (
        tables.binary_int(),
        "label: churned\nfeatures: [tenure, plan, spend, signup]\ncolumn_types: {spend: FLOAT64}\n"
        "missing_values: ['n/a']\n",
    ),
    "wide, 60 numeric features": (
        tables.wide(600, 60),
        "label: target\nfeatures: [{}]\n".format(", ".join(f"f{i:03d}" for i in range(60))),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_every_statement_a_notebook_sends_is_forecast(case, tmp_path, monkeypatch):
    frame, common = CASES[case]
    project = _project(tmp_path, frame, common)
    monkeypatch.setenv("BQLAB_PROFILE", "ci")
    assert set(forecast.STAGE_STATEMENTS) == set(STAGES), "every stage has its statements"
    for stage in ("eda", "train", "evaluate"):
        sent, planned = _sent(project, STAGES[stage].notebook.removesuffix(".ipynb")), _forecast(project, stage)
        assert sent, f"{stage} sent no statement: the recording missed them"
        unplanned = [s for s in sent if s not in planned]
        # The one data-dependent statement: the forecast's reads every column the sent one reads.
        widest = [p for p in planned if "top_rows" in p[0]]
        for sql, _ in unplanned:
            assert "top_rows" in sql, f"{stage} sent a statement the forecast misses:\n{sql[:400]}"
            assert any(_columns(sql) <= _columns(w) for w, _ in widest)
        extra = [p for p in planned if p not in sent and "top_rows" not in p[0]]
        assert not extra, f"forecast for {stage} holds a statement it never sends:\n{extra[0][0][:400]}"
