import io
import re

from bqlab.cli import CellProgress


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
