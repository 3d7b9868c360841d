"""Benchmark of the report runner (``make bench``): prints figures, asserts nothing.

Cases, each repeated (median and range):
  a  naive chain: papermill CLI then nbconvert CLI, one process per notebook
  b  ``make report`` with nothing cached (empty reports folder)
  c  ``make report`` again with nothing changed (no-op)
  d  ``make report`` after changing one evaluation parameter
  e  bare computation: the same bqlab calls as one plain Python process
Ratios printed: b/a, b/e, c/b, and d against the bare evaluation alone (its imports and
its work in one plain process) + 1 s.
"""

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def timed(command: list[str], cwd: Path) -> tuple[float, str]:
    """Run a command; return its wall time and stdout (fail loudly if it fails)."""
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"benchmark command failed: {' '.join(command)}\n{done.stdout}\n{done.stderr}")
    return elapsed, done.stdout


def project_copy(work: Path) -> Path:
    """A copy of params and notebooks that the benchmark may edit."""
    for folder in ("params", "notebooks"):
        shutil.copytree(ROOT / folder, work / folder, dirs_exist_ok=True)
    return work


def naive_chain(work: Path) -> float:
    """Papermill CLI then nbconvert CLI for each notebook, params from a YAML file per notebook."""
    from bqlab.config import load_params
    from bqlab.stages import STAGES

    params = load_params(work / "params")
    out = work / "naive"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    started = time.perf_counter()
    for stage, stem in ((s.name, s.stem) for s in STAGES.values()):
        values = {**params.stages[stage].model_dump(mode="json"), **STAGES[stage].runner_parameters()}
        (out / f"{stem}.yaml").write_text(yaml.safe_dump(values))
        (out / "artifacts" / stage).mkdir(parents=True, exist_ok=True)
        papermill = [str(BIN / "papermill"), str(work / "notebooks" / f"{stem}.ipynb"), f"{stem}.ipynb"]
        timed([*papermill, "-k", "bqlab", "-f", f"{stem}.yaml", "--cwd", str(out), "--no-progress-bar"], out)
        timed([str(BIN / "jupyter"), "nbconvert", "--to", "html", f"{stem}.ipynb"], out)
    return time.perf_counter() - started


def make_report(work: Path, reports: Path, force: bool = False) -> float:
    """``make report`` on the benchmark's copy of params and notebooks."""
    command = ["make", "-s", "-C", str(ROOT), "report", "QUIET=1", f"REPORTS={reports}", f"PARAMS={work / 'params'}"]
    command += [f"NOTEBOOKS={work / 'notebooks'}"] + (["FORCE=1"] if force else [])
    return timed(command, ROOT)[0]


def bare(work: Path, *stages: str) -> dict[str, float]:
    """The bare computation (the notebooks' code in one process): its own timings plus the wall time.

    ``stages``: only these (their upstream outputs are read from the last full call's artifacts).
    """
    command = [sys.executable, str(ROOT / "benchmarks" / "bare_pipeline.py"), str(work / "params")]
    command += ["--artifacts", str(work / "bare-artifacts")] + (["--stages", *stages] if stages else [])
    wall, out = timed(command, ROOT)
    return {**json.loads(out.strip().splitlines()[-1]), "wall": wall}


def summary(values: list[float]) -> str:
    """Median and range of a case's timings."""
    return f"{statistics.median(values):7.2f} s  (range {min(values):.2f}-{max(values):.2f}, n={len(values)})"


def main() -> None:
    """Run every case ``--repeat`` times and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of each case")
    args = parser.parse_args()
    results: dict[str, list[float]] = {k: [] for k in "abcde"}
    bare_evaluate: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bqlab-bench-") as tmp:
        work = project_copy(Path(tmp))
        evaluate_yaml = work / "params" / "03-evaluate.yaml"
        original = evaluate_yaml.read_text()
        for rep in range(1, args.repeat + 1):
            print(f"repetition {rep}/{args.repeat} ...", flush=True)
            results["a"].append(naive_chain(work))
            reports = work / f"reports-{rep}"
            results["b"].append(make_report(work, reports))
            results["c"].append(make_report(work, reports))
            repeats = yaml.safe_load(original).get("permutation_repeats", 10)
            evaluate_yaml.write_text(
                "\n".join(line for line in original.splitlines() if not line.startswith("permutation_repeats"))
                + f"\npermutation_repeats: {repeats + rep}\n"
            )
            results["d"].append(make_report(work, reports))
            evaluate_yaml.write_text(original)
            results["e"].append(bare(work)["wall"])
            bare_evaluate.append(bare(work, "evaluate")["wall"])  # evaluation alone, in a fresh process
    labels = {
        "a": "naive chain (papermill CLI + nbconvert CLI)",
        "b": "make report, nothing cached",
        "c": "make report, nothing changed",
        "d": "make report, one evaluation param changed",
        "e": "bare computation, one process",
    }
    print()
    for key, label in labels.items():
        print(f"({key}) {label:<45} {summary(results[key])}")
    med = {k: statistics.median(v) for k, v in results.items()}
    print()
    print(f"b/a = {med['b'] / med['a']:.2f}   (target <= 0.5)")
    print(f"b/e = {med['b'] / med['e']:.2f}   (target <= 1.5)")
    print(f"c/b = {med['c'] / med['b']:.3f}  (c = {med['c']:.2f} s, target <= 0.5 s)")
    limit = statistics.median(bare_evaluate) + 1
    print(f"d   = {med['d']:.2f} s against the bare evaluation alone (a fresh process) + 1 s = {limit:.2f} s")


if __name__ == "__main__":
    main()
