"""Growth benchmark (``make bench-rows``): prints figures, asserts nothing.

The whole report (``python -m bqlab report --force``, default params, each run a new process:
cold) on the generated diamonds-like table (``bqlab.sources.synthetic.gem_table``: 9 features,
3 of them categorical, Parquet) at about 5,000, 50,000 and 100,000 rows and at 1M rows (of which
``max_rows``, 100,000 by default, reach the laptop), predicting ``price`` (regression) or, with
``--label cut``, the cut (five classes). For each size: each notebook's time and peak memory
(its kernel's VmHWM), the whole report's (the runner and its kernels, sampled every 0.1 s), the
run folder's size, the model trained and its test score, each as a ratio to the 5,000-row run.
Then the same table at ``--old-at`` rows under the former defaults (a 300-tree random forest,
permutation importance on every held-out row) for comparison, and the slowest cells of the
largest run. Targets (issue 23): 54,000 rows within 60 s and under 1 GB; 100,000 within 2 min.
"""

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from scale import ROOT, report, slowest_cells, stage_rows, work_seconds

from bqlab.sources.synthetic import gem_table

TABLE = "synthetic-project.lab.gems"
FORMER = (
    "train:\n  model: random_forest\n  hyperparameters:\n    random_forest: {n_estimators: 300, min_samples_leaf: 2}\n"
    "evaluate:\n  permutation_rows: 1000000000\n"
)
SCORE = {"price": ("r2", "R²"), "cut": ("accuracy", "accuracy")}


def folder_mib(path: Path) -> float:
    """The bytes a folder's files hold (each file once, links not followed), in MiB."""
    seen, total = set(), 0
    for file in path.rglob("*"):
        if file.is_file() and not file.is_symlink():
            stat = file.stat()
            if (stat.st_dev, stat.st_ino) not in seen:
                seen.add((stat.st_dev, stat.st_ino))
                total += stat.st_size
    return total / 1024**2


def run_case(work: Path, name: str, rows: int, label: str, overlay: str = "") -> dict:
    """One cold report on ``rows`` generated rows with ``overlay`` over the default params."""
    data = ROOT / ".cache" / "synthetic" / f"gems-{rows}.parquet"
    if not data.is_file():
        data.parent.mkdir(parents=True, exist_ok=True)
        gem_table(rows).to_parquet(data, index=False)
    features = ", ".join(c for c in gem_table(1).columns if c != label)
    params = work / f"params-{name}"
    shutil.copytree(ROOT / "params", params)
    common = f"common:\n  table: {TABLE}\n  local_tables: {{{TABLE}: {data}}}\n  label: {label}\n"
    (params / "profiles" / "scale.yaml").write_text(common + f"  features: [{features}]\n" + overlay)
    wall, peak, record, pss = report(params, work / f"reports-{name}")
    run_dir = (work / f"reports-{name}" / "latest").resolve()
    train = json.loads((run_dir / "artifacts" / "train" / "metrics.json").read_text())
    evaluate = json.loads((run_dir / "artifacts" / "evaluate" / "metrics.json").read_text())
    case = {
        "name": name,
        "rows": rows,
        "wall": wall,
        "peak": peak,
        "pss": pss,
        "stages": {s["stage"]: s for s in record["stages"]},
        "folder": folder_mib(run_dir),
        "model": train["model"],
        "train_rows": train["train_rows"],
        "score": evaluate[SCORE[label][0]],
        "run_dir": run_dir,
    }
    print(
        f"{name}: report {wall:6.1f} s, peak {peak:6.0f} MiB (PSS {pss:.0f}), run folder {case['folder']:6.1f} MiB, "
        f"{case['model']} on {case['train_rows']:,} rows, {SCORE[label][1]} {case['score']:.4f}",
        flush=True,
    )
    return case


def main() -> None:
    """Run each size and the former defaults; print the growth table, the ratios and the slowest cells."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[5_000, 54_000, 100_000, 1_000_000])
    parser.add_argument("--label", choices=sorted(SCORE), default="price")
    parser.add_argument("--old-at", type=int, default=54_000, help="rows of the former-defaults run (0: none)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bqlab-rows-"))
    cases = [run_case(work, f"{rows:,} rows", rows, args.label) for rows in args.rows]
    if args.old_at:
        cases.append(run_case(work, f"{args.old_at:,} rows, former defaults", args.old_at, args.label, FORMER))

    print("\n| case | notebook | time (s) | of which kernel start (s) | peak memory (MiB) |")
    print("| --- | --- | ---: | ---: | ---: |")
    for case in cases:
        print("\n".join(stage_rows(case["name"], case["stages"], case["wall"], case["peak"])))
    base = cases[0]
    score = SCORE[args.label][1]
    print(
        f"\n| case | model | training rows | time | × {base['name']} | peak RSS (MiB) | × | peak PSS (MiB) "
        f"| run folder (MiB) | {score} |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    )
    for case in cases:
        print(
            f"| {case['name']} | {case['model']} | {case['train_rows']:,} | {case['wall']:.1f} s "
            f"| ×{case['wall'] / base['wall']:.2f} | {case['peak']:.0f} | ×{case['peak'] / base['peak']:.2f} "
            f"| {case['pss']:.0f} | {case['folder']:.1f} | {case['score']:.4f} |"
        )
    print("\nPer notebook, as a ratio to the first size (time without the kernel's start / peak memory):")
    for case in cases[1:]:
        parts = [
            f"{stage} ×{work_seconds(s) / work_seconds(base['stages'][stage]):.2f} / "
            f"×{(s.get('peak_memory_mb') or 0) / max(base['stages'][stage].get('peak_memory_mb') or 1, 1):.2f}"
            for stage, s in case["stages"].items()
        ]
        print(f"  {case['name']}: " + ", ".join(parts))
    largest = max(cases[: len(args.rows)], key=lambda c: c["rows"])
    print(f"\nSlowest cells, {largest['name']}:")
    print("\n".join(slowest_cells(largest["run_dir"])))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
