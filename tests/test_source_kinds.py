"""The source kinds: one registry entry each, and no module compares a kind's name."""

import ast

import pytest

from bqlab.analysis import modeling
from bqlab.config import CommonParams, ParamsError, load_params
from bqlab.sources import kinds, open_source

from .conftest import ROOT, write_yaml


def test_no_module_but_the_registry_compares_a_source_kinds_name():
    found = []
    for path in sorted((ROOT / "src" / "bqlab").rglob("*.py")):
        if path.name == "kinds.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Compare):
                sides = [node.left, *node.comparators]
                found += [(path.name, s.value) for s in sides if isinstance(s, ast.Constant) and s.value in kinds.KINDS]
    assert not found, found


def test_each_kinds_settings_are_params_keys_and_none_is_saved_beside_a_model():
    fields = CommonParams.model_fields
    for kind in kinds.KINDS.values():
        assert set(kind.settings) <= set(fields), kind.name
    assert kinds.SETTINGS <= modeling.NOT_MATCHED, "where the data lives is not what a model learned"
    assert kinds.kind(fields["source"].default).local, "the default needs no network and no credentials"


def test_the_local_kind_opens_the_embedded_engine_on_the_projects_files(tmp_path):
    params = load_params(ROOT / "params").common
    engine = open_source(params, root=ROOT)
    assert type(engine).__name__ == "LocalSource"
    assert engine.query(f"SELECT COUNT(*) AS n FROM `{params.table}`")["n"].iloc[0] == 344
    assert kinds.kind(params.source).doctor(engine) == "embedded engine (DuckDB), offline"


def test_a_misspelt_source_is_refused_with_the_closest_kind(tmp_path):
    project = tmp_path / "params"
    project.mkdir()
    for path in (ROOT / "params").glob("*.yaml"):
        (project / path.name).write_text(path.read_text())
    common = project / "common.yaml"
    write_yaml(common, common.read_text().replace("source: local", "source: bigqurey"))
    with pytest.raises(ParamsError, match=r"unknown source 'bigqurey' \(did you mean 'bigquery'\?\): use one of local"):
        load_params(project)
