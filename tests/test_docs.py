"""The docs name only what exists: make targets, CLI commands, params keys, files and links."""

import re

import pytest
import yaml

from bqlab import cli
from bqlab.config import BigQueryParams, CommonParams, RunnerParams, params_model, point_sections
from bqlab.runner import sweeps
from bqlab.stages import STAGES

from .conftest import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TARGETS = set(re.findall(r"^([a-z][a-z-]*):", (ROOT / "Makefile").read_text(), re.M))
COMMANDS = set(cli._parser()._actions[1].choices)
KEYS = {
    *CommonParams.model_fields,
    *(key for stage in STAGES for key in params_model(stage).model_fields),
    *RunnerParams.model_fields,
    *("common", "runner", *STAGES),  # the sections of a profile
}


def test_the_readme_is_what_a_newcomer_needs_first():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 130, f"{len(lines)} lines: move detail to docs/"
    headings = [line for line in lines if line.startswith("## ")]
    assert headings[:3] == ["## The two commands", "## Where the reports go", "## Your own table"]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_make_target_and_command_named_exists(page):
    text = page.read_text()
    for target in re.findall(r"(?<!GNU )\bmake ([a-z][a-z-]*[a-z])\b(?![-*])", text):
        assert target in TARGETS, f"{page.name}: make {target} is not a target"
    for command in re.findall(r"(?:\bbqlab|-m bqlab) ([a-z]+)\b", text):
        assert command in COMMANDS, f"{page.name}: bqlab {command} is not a command"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_link_and_file_named_exists(page):
    text = page.read_text()
    for link in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
        if not link.startswith("http"):
            assert (page.parent / link).exists(), f"{page.name}: link {link}"
    for path in re.findall(r"`((?:params|notebooks|src|benchmarks|docker)/[\w./-]+\.(?:yaml|ipynb|py|sh))`", text):
        assert (ROOT / path).exists() or "<" in path, f"{page.name}: {path}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_params_example_uses_real_keys(page):
    blocks = re.findall(r"```yaml\n(.*?)```", page.read_text(), re.S)
    for block in blocks:
        values = yaml.safe_load(block) or {}
        if "grid" in values or "points" in values:  # a sweep file: its own keys, and params keys in its points
            assert set(values) <= set(sweeps.KEYS), f"{page.name}: sweep keys {set(values) - set(sweeps.KEYS)}"
            for point in values.get("points") or [dict.fromkeys(values["grid"])]:
                point_sections(point, page.name)  # raises on a key params do not have
            continue
        for key, value in values.items():
            assert key in KEYS, f"{page.name}: params key {key!r} does not exist"
            if key == "bigquery" and isinstance(value, dict):
                assert set(value) <= set(BigQueryParams.model_fields), f"{page.name}: bigquery.{set(value)}"
