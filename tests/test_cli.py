import io
import re
import subprocess
import sys

import pytest

from bqlab import __version__, cli
from bqlab.cli import CellProgress

from .conftest import ROOT


def test_progress_line_shows_stage_cell_and_elapsed_for_each_running_notebook():
    stream = io.StringIO()
    progress = CellProgress(stream)
    progress.update(1, 3, 4, 16, "01-eda")
    progress.update(2, 3, 2, 9, "02-train")
    last = stream.getvalue().split("\r")[-1]
    assert re.search(r"\[1/3\] 01-eda: cell 4/16\s+\d+\.\ds \| \[2/3\] 02-train: cell 2/9\s+\d+\.\ds", last)
    progress.update(1, 3, 0, 0, "01-eda")  # finished
    last = stream.getvalue().split("\r")[-1]
    assert "01-eda" not in last and "02-train: cell 2/9" in last
    progress.close()
    assert stream.getvalue().endswith("\r\033[K")


def test_exit_codes_come_from_the_error_types_not_their_text():
    from bqlab.errors import CostLimitError, NotebookFailed, ParamsError, PipelineError

    assert NotebookFailed("x", notebook="02-train", cell=3, cells=9, error_name="ValueError").exit_code == 1
    assert {ParamsError("x").exit_code, PipelineError("report of the failed notebook").exit_code} == {2}
    assert CostLimitError("x").exit_code == 2
    failed = NotebookFailed("boom", notebook="02-train", cell=3, cells=9, error_name="ValueError")
    assert (failed.notebook, failed.cell, failed.cells, failed.error_name) == ("02-train", 3, 9, "ValueError")


def test_version(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"bqlab {__version__}"


def test_make_help_lists_the_targets_the_readme_names():
    listed = subprocess.run(["make", "help"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for target in ("report", "test", "test-fast", "compare", "prune", "check", "doctor", "lab", "lint", "format"):
        assert re.search(rf"^  {target} ", listed, re.M), target


@pytest.mark.parametrize("code", [0, 2, 130, 143])
def test_the_entry_point_exits_with_mains_code(code):
    """130 and 143 leave at once (no interpreter shutdown to print tracebacks); the others exit normally."""
    script = (
        "import atexit, sys\n"
        "from bqlab import cli\n"
        "atexit.register(lambda: print('shutdown ran', file=sys.stderr))\n"
        f"cli.main = lambda argv=None: {code}\n"
        "cli.run()\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == code
    assert ("shutdown ran" in done.stderr) == (code not in (130, 143))
