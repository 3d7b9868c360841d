"""Benchmark of a sweep (``make bench-sweep``): prints figures, asserts nothing.

The same 6 points (``model`` x ``cv_folds`` on penguins, ci profile), measured side by side in
one run, each case from an empty reports folder:
  a  ``bqlab sweep``: each point a run, unchanged stages shared
  b  6 separate ``make report`` calls, one profile per point (they share stages too, through
     the fingerprints, but each call checks and starts anew)
  c  a plain loop over the papermill CLI: 3 notebooks per point, every value injected (what a
     user without the runner writes; no HTML, no reuse)
  d  ``bqlab sweep`` again with nothing changed
"""

import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from runner import BIN, ROOT, project_copy, timed  # noqa: E402

GRID = {"model": ["random_forest", "hist_gradient_boosting"], "cv_folds": [3, 4, 5]}
POINTS = [{"model": m, "cv_folds": f} for m in GRID["model"] for f in GRID["cv_folds"]]


def sweep(work: Path, reports: Path) -> float:
    """``bqlab sweep bench`` on the benchmark's copy."""
    command = [sys.executable, "-m", "bqlab", "sweep", "bench", "--quiet", "--params-dir", str(work / "params")]
    command += ["--notebooks-dir", str(work / "notebooks"), "--reports-dir", str(reports)]
    return timed(command, ROOT)[0]


def separate_reports(work: Path, reports: Path) -> float:
    """One ``make report PROFILE=bench-<i>`` per point: the ci profile with the point's values."""
    ci = yaml.safe_load((work / "params" / "profiles" / "ci.yaml").read_text())
    for i, point in enumerate(POINTS):
        profile = {**ci, "train": {**ci.get("train", {}), **point}}
        (work / "params" / "profiles" / f"bench-{i}.yaml").write_text(yaml.safe_dump(profile))
    started = time.perf_counter()
    for i in range(len(POINTS)):
        command = ["make", "-s", "-C", str(ROOT), "report", "QUIET=1", f"PROFILE=bench-{i}", f"REPORTS={reports}"]
        timed([*command, f"PARAMS={work / 'params'}", f"NOTEBOOKS={work / 'notebooks'}"], ROOT)
    return time.perf_counter() - started


def papermill_loop(work: Path) -> float:
    """The papermill CLI, three notebooks per point, every parameter injected from a YAML file."""
    from bqlab.config import load_params
    from bqlab.stages import STAGES

    started = time.perf_counter()
    for i, point in enumerate(POINTS):
        params = load_params(work / "params", "ci", point, f"point {i + 1}")
        out = work / "papermill" / f"point-{i}"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        for stage in STAGES.values():
            values = {**params.stages[stage.name].model_dump(mode="json"), **stage.runner_parameters()}
            (out / f"{stage.stem}.yaml").write_text(yaml.safe_dump(values))
            (out / "artifacts" / stage.name).mkdir(parents=True, exist_ok=True)
            notebook = str(work / "notebooks" / f"{stage.stem}.ipynb")
            command = [str(BIN / "papermill"), notebook, f"{stage.stem}.ipynb", "-k", "bqlab"]
            timed([*command, "-f", f"{stage.stem}.yaml", "--cwd", str(out), "--no-progress-bar"], out)
    return time.perf_counter() - started


def main() -> None:
    """Run each case once, side by side, and print the figures."""
    with tempfile.TemporaryDirectory(prefix="bqlab-bench-sweep-") as tmp:
        work = project_copy(Path(tmp))
        (work / "params" / "sweeps").mkdir(exist_ok=True)
        (work / "params" / "sweeps" / "bench.yaml").write_text(yaml.safe_dump({"profile": "ci", "grid": GRID}))
        print(f"{len(POINTS)} points: {', '.join(f'{k} {v}' for k, v in GRID.items())} (penguins, ci profile)")
        figures = {}
        print("a: bqlab sweep ...", flush=True)
        figures["a"] = sweep(work, work / "reports-sweep")
        print("b: 6 separate make report calls ...", flush=True)
        figures["b"] = separate_reports(work, work / "reports-separate")
        print("c: papermill loop ...", flush=True)
        figures["c"] = papermill_loop(work)
        figures["d"] = sweep(work, work / "reports-sweep")
    labels = {
        "a": "bqlab sweep, 6 points",
        "b": "6 separate make report calls",
        "c": "plain loop over the papermill CLI (no HTML)",
        "d": "bqlab sweep again, nothing changed",
    }
    print()
    for key, label in labels.items():
        print(f"  {key}  {label:<46} {figures[key]:7.1f} s")
    print(f"\nsweep against separate reports: x{figures['a'] / figures['b']:.2f}")
    print(f"sweep against the papermill loop: x{figures['a'] / figures['c']:.2f}")


if __name__ == "__main__":
    main()
