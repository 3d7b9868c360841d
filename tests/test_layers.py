"""The package's layers, as docs/architecture.md draws them, checked on every import (function-level too).

sources (engines, SQL) <- analysis (what notebooks call) <- report (what readers see) <- runner
(what `make report` does) <- cli. Notebooks import only analysis and sources; nothing imports the
runner but the CLI; there is no import cycle.
"""

import ast
import json

import pytest

from .conftest import ROOT

PACKAGE = ROOT / "src" / "bqlab"
LAYERS = ("sources", "analysis", "report", "runner")


def _module(path):
    return ".".join(("bqlab", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")


MODULES = {_module(p): p for p in PACKAGE.rglob("*.py")}


def _imports(source: str) -> set[str]:
    """The bqlab modules ``source`` imports (``from bqlab.x import y``: y if it is a module, else x)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bqlab"):
            for alias in node.names:
                name = f"{node.module}.{alias.name}"
                found.add(name if name in MODULES else node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("bqlab")}
    return found


GRAPH = {module: _imports(path.read_text(encoding="utf-8")) - {module} for module, path in MODULES.items()}


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


@pytest.mark.parametrize(
    "layer, forbidden",
    [("sources", {"analysis", "report", "runner"}), ("analysis", {"report", "runner"}), ("report", {"runner"})],
)
def test_a_layer_imports_only_the_layers_below_it(layer, forbidden):
    wrong = [(m, i) for m, imports in GRAPH.items() if _layer(m) == layer for i in imports if _layer(i) in forbidden]
    assert not wrong, wrong


def test_nothing_imports_the_runner_but_the_cli():
    wrong = [(m, i) for m, imports in GRAPH.items() for i in imports if _layer(i) == "runner" and _layer(m) != "runner"]
    assert {m for m, _ in wrong} <= {"bqlab.cli"}, wrong


def test_notebooks_import_only_analysis_and_sources():
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        layers = {_layer(m) for m in _imports(code)}
        assert layers <= {"analysis", "sources"}, f"{path.name}: {layers}"


def test_no_import_cycle():
    def reach(start):
        seen, todo = set(), [start]
        while todo:
            for nxt in GRAPH.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    cycles = sorted(m for m in GRAPH if m in reach(m))
    assert not cycles, f"modules on an import cycle: {cycles}"


def _function_imports(tree: ast.AST):
    """Every import statement inside a function, with the function."""
    for func in ast.walk(tree):
        if isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(func):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    yield node


def test_every_function_level_import_says_what_it_saves():
    """A function-level import is there for start-up time, and a `# lazy` comment says which."""
    unexplained = []
    for path in MODULES.values():
        lines = path.read_text(encoding="utf-8").splitlines()
        for node in _function_imports(ast.parse("\n".join(lines))):
            row = node.lineno - 1
            if "# lazy" in lines[row]:
                continue
            while row > 0 and (lines[row - 1].lstrip().startswith(("from ", "import ")) or not lines[row - 1].strip()):
                row -= 1  # up through the imports of the same block
            comment = []
            while row > 0 and lines[row - 1].lstrip().startswith("#"):
                row -= 1
                comment.append(lines[row])
            if not any("# lazy" in line for line in comment):
                unexplained.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not unexplained, f"move these imports to the top or say what they save with `# lazy: ...`: {unexplained}"
