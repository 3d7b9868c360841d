"""The bare computation of the notebooks: their own code cells, run in one plain IPython shell.

The baseline the runner is compared with (``benchmarks/runner.py``): what the notebooks compute,
without papermill, kernels, progress or rendering. The code is read from the notebooks of the
stage registry (``bqlab.stages``), so it cannot drift from them; the params are injected after
each parameters cell, as papermill does. Figures are encoded as PNG by the inline backend, as in
a kernel. Prints one JSON line: the seconds of the set-up, of each stage, and in all.

Usage: bare_pipeline.py PARAMS_DIR [--stages eda train ...] [--artifacts DIR] [--profile NAME]
(a stage run alone reads its upstream outputs from DIR, where an earlier call left them).
"""

import argparse
import contextlib
import io
import json
import tempfile
import time
from pathlib import Path

started = time.perf_counter()
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import nbformat  # noqa: E402
from IPython.core.interactiveshell import InteractiveShell  # noqa: E402
from IPython.core.pylabtools import select_figure_formats  # noqa: E402

from bqlab.config import load_params  # noqa: E402
from bqlab.stages import ARTIFACTS, STAGES  # noqa: E402


def run_stage(shell: InteractiveShell, notebook: Path, values: dict) -> None:
    """Run the notebook's code cells in a fresh namespace, ``values`` injected after the parameters cell."""
    shell.reset(new_session=False)
    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        with contextlib.redirect_stdout(io.StringIO()):  # the shell prints each result's text
            shell.run_cell(cell.source, store_history=False).raise_error()
        if "parameters" in cell.metadata.get("tags", []):
            shell.user_ns.update(values)


def main() -> None:
    """Run the stages asked for and print their timings as one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("params_dir", type=Path)
    parser.add_argument("--stages", nargs="+", choices=list(STAGES), default=list(STAGES))
    parser.add_argument("--artifacts", type=Path, default=None, help="where outputs go (default: a new temp folder)")
    parser.add_argument("--profile", default=None, help="overlay params/profiles/<PROFILE>.yaml")
    args = parser.parse_args()
    notebooks = args.params_dir.resolve().parent / "notebooks"
    artifacts = args.artifacts or Path(tempfile.mkdtemp(prefix="bqlab-bare-"))
    params = load_params(args.params_dir, args.profile)
    shell = InteractiveShell.instance()
    select_figure_formats(shell, {"png"})  # a figure shown is encoded as PNG, as the inline backend does
    seconds = {"setup": time.perf_counter() - started}
    for name in args.stages:
        clock = time.perf_counter()
        paths = {
            key: str(artifacts / Path(value).relative_to(ARTIFACTS))
            for key, value in STAGES[name].runner_parameters().items()
        }
        Path(paths["output_dir"]).mkdir(parents=True, exist_ok=True)
        run_stage(shell, notebooks / STAGES[name].notebook, {**params.stages[name].model_dump(mode="json"), **paths})
        seconds[name] = time.perf_counter() - clock
    seconds["total"] = time.perf_counter() - started
    print(json.dumps({k: round(v, 3) for k, v in seconds.items()}))


if __name__ == "__main__":
    main()
