"""Scaling benchmark (``make bench-scale``): prints figures, asserts nothing.

The whole report (``python -m bqlab report --force``, default params) on the embedded
penguins table (344 rows) and on synthetic tables of the same schema at 1M and 10M rows
(Parquet, generated once into .cache/synthetic/). For each size: wall time and peak memory
of each notebook (its kernel's VmHWM, recorded by the runner) and of the whole report (the
runner and its kernels together, sampled every 0.1 s: summed RSS, which counts the shared
libraries once per kernel, and PSS, which shares them out). Ratios against 344 rows, and the
slowest cells at the largest size (papermill's per-cell durations).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from bqlab.sources.synthetic import write_synthetic_penguins  # noqa: E402

TABLE = "synthetic-project.lab.penguins"
GIB = 1024**3


def tree_memory(root: psutil.Process) -> tuple[int, int]:
    """Resident bytes of a process tree: summed RSS and summed PSS.

    RSS counts the shared libraries once per process; PSS splits each shared page between the
    processes that map it, so its sum is what the tree holds of the machine's memory.
    """
    rss = pss = 0
    for process in [root, *root.children(recursive=True)]:
        try:
            full = process.memory_full_info()
        except psutil.Error:
            continue
        rss, pss = rss + full.rss, pss + getattr(full, "pss", full.rss)
    return rss, pss


def report(params: Path, reports: Path) -> tuple[float, float, dict, float]:
    """Run the report once; return wall seconds, peak summed RSS (MiB), run.json, peak summed PSS (MiB).

    Cold: with bqlab's caches of its own (``XDG_CACHE_HOME``), so no result an earlier run kept is read; the
    evaluation still reads the split the training kept, as in any first report.
    """
    command = [sys.executable, "-m", "bqlab", "report", "--force", "--quiet", "--profile", "scale"]
    command += ["--params-dir", str(params), "--notebooks-dir", str(ROOT / "notebooks"), "--reports-dir", str(reports)]
    caches = Path(tempfile.mkdtemp(prefix="bqlab-bench-cache-"))
    # Only bqlab's caches are new: matplotlib keeps its font cache (rebuilt in every kernel otherwise).
    usual = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    env = {
        **os.environ,
        "XDG_CACHE_HOME": str(caches),
        "MPLCONFIGDIR": os.environ.get("MPLCONFIGDIR") or str(usual / "matplotlib"),
    }
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=params.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    root, peak, peak_pss = psutil.Process(process.pid), 0, 0
    while process.poll() is None:
        try:
            rss, pss = tree_memory(root)
        except psutil.Error:
            rss = pss = 0
        peak, peak_pss = max(peak, rss), max(peak_pss, pss)
        time.sleep(0.1)
    wall = time.perf_counter() - started
    output = process.stdout.read()
    shutil.rmtree(caches, ignore_errors=True)
    if process.returncode:
        sys.exit(f"report failed:\n{output}")
    record = json.loads(((reports / "latest").resolve() / "run.json").read_text())
    return wall, peak / 1024**2, record, peak_pss / 1024**2


def stage_rows(case: str, stages: dict, wall: float, peak: float, whole: str = "**whole report**") -> list[str]:
    """Markdown rows of one case: each notebook's time and peak memory, then the whole report's."""
    rows = [
        f"| {case} | {name} | {s['seconds']:.1f} | {s.get('kernel_wait_seconds', 0):.1f} | "
        f"{s.get('peak_memory_mb') or 0:.0f} |"
        for name, s in stages.items()
    ]
    return [*rows, f"| {case} | {whole} | {wall:.1f} | | {peak:.0f} |"]


def work_seconds(stage: dict) -> float:
    """A notebook's own time: its seconds less the wait for its kernel to start and import.

    The runner starts kernels during its checks: on a large table they are warm before the
    notebook starts, on a small one the notebook waits for them, so ratios of sizes compare this.
    """
    return stage["seconds"] - stage.get("kernel_wait_seconds", 0)


def slowest_cells(run_dir: Path, count: int = 3) -> list[str]:
    """The ``count`` slowest code cells of each notebook in a run, as printable lines."""
    lines = []
    for path in sorted(run_dir.glob("*.ipynb")):
        cells = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
        timed = sorted(cells, key=lambda c: -(c.metadata.get("papermill", {}).get("duration") or 0))[:count]
        for cell in timed:
            code = [line.strip() for line in cell.source.splitlines() if line.strip()]
            shown = code[0] if len(code) < 2 else f"{code[0][:40]} ... {code[-1]}"  # the costly call is often last
            lines.append(f"  {path.stem:<12} {cell.metadata['papermill']['duration']:6.1f} s  {shown[:90]}")
    return lines


def main() -> None:
    """Run the report at each size and print the table, the ratios and the slowest cells."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[344, 1_000_000, 10_000_000])
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bqlab-scale-"))
    results = []
    for rows in args.rows:
        params = work / f"params-{rows}"
        shutil.copytree(ROOT / "params", params)
        overlay = ""
        if rows != 344:  # 344 rows: the embedded penguins table itself
            data = write_synthetic_penguins(rows, ROOT / ".cache" / "synthetic" / f"penguins-{rows}.parquet")
            overlay = f"common:\n  table: {TABLE}\n  local_tables:\n    {TABLE}: {data}\n"
        (params / "profiles" / "scale.yaml").write_text(overlay or "{}\n")
        wall, peak, record, pss = report(params, work / f"reports-{rows}")
        stages = {s["stage"]: s for s in record["stages"]}
        results.append((rows, wall, peak, stages, (work / f"reports-{rows}" / "latest").resolve(), pss))
        print(f"{rows:>11,} rows: report {wall:6.1f} s, peak {peak:7.0f} MiB (PSS {pss:.0f} MiB)", flush=True)

    print("\n| rows | notebook | time (s) | of which kernel start (s) | peak memory (MiB) |")
    print("| ---: | --- | ---: | ---: | ---: |")
    for rows, wall, peak, stages, *_ in results:
        print("\n".join(stage_rows(f"{rows:,}", stages, wall, peak)))
    base = results[0]
    for rows, wall, peak, stages, _, pss in results[1:]:
        eda = work_seconds(stages["eda"]) / work_seconds(base[3]["eda"])
        as_measured = stages["eda"]["seconds"] / base[3]["eda"]["seconds"]
        print(
            f"\n{rows:,} rows against {base[0]:,}: report time ×{wall / base[1]:.2f} (target ≤ 5), EDA time ×{eda:.2f} "
            f"without the kernel's start (target ≤ 3; ×{as_measured:.2f} with it), whole-report peak memory "
            f"{peak / 1024:.2f} GiB summed RSS "
            f"({pss / 1024:.2f} GiB PSS; target < 1.5 GiB), "
            f"largest notebook {max(s.get('peak_memory_mb') or 0 for s in stages.values()) / 1024:.2f} GiB"
        )
    print(f"\nSlowest cells at {results[-1][0]:,} rows:")
    print("\n".join(slowest_cells(results[-1][4])))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
