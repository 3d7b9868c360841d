"""Fresh-clone benchmark (``make bench-clone``): prints figures, asserts nothing.

How long a new user waits from ``git clone`` to the first reports: ``make report`` in a fresh
clone of this repository, set-up included (the venv, uv, the locked packages, the kernel), on
the embedded penguins table. Three cases:

- ``warm``: the package caches as this machine has them (uv's, pip's, and the uv bqlab keeps);
- ``empty``: no package cache (an empty ``UV_CACHE_DIR`` and ``UV_BOOTSTRAP``, ``PIP_NO_CACHE_DIR``):
  every package is downloaded, as on a machine that never installed them;
- ``new``: an empty ``XDG_CACHE_HOME`` as well: no cache of any kind, bqlab's and matplotlib's too.

Each case is timed in phases read from the command's own lines: set-up (to "Environment ready"),
checks (to the table's line: params, table, first kernel starting) and the notebooks (to the end).
``--against <commit>`` times a clone of that commit in the same run, alternating, for ratios.
Clones are made from the committed HEAD of this repository: commit what you measure.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = ("warm", "empty", "new")
PHASES = (("set-up", "Environment ready"), ("checks", "rows; task"), ("notebooks", None))


def _env(case: str, scratch: Path) -> tuple[dict[str, str], list[str]]:
    """The environment and make arguments of a case, with its caches emptied under ``scratch``."""
    env, args = dict(os.environ), []
    if case in ("empty", "new"):
        for name in ("uv-cache", "uv-bootstrap", "xdg"):
            shutil.rmtree(scratch / name, ignore_errors=True)
            (scratch / name).mkdir(parents=True)
        env |= {"UV_CACHE_DIR": str(scratch / "uv-cache"), "PIP_NO_CACHE_DIR": "1"}
        args.append(f"UV_BOOTSTRAP={scratch / 'uv-bootstrap'}")
        if case == "new":
            env["XDG_CACHE_HOME"] = str(scratch / "xdg")
    return env, args


def fresh_report(commit: str, case: str, scratch: Path) -> dict[str, float]:
    """Clone ``commit``, run ``make report`` in it; seconds in total and per phase."""
    clone = scratch / "clone"
    shutil.rmtree(clone, ignore_errors=True)
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    subprocess.run(["git", "checkout", "-q", commit], cwd=clone, check=True)
    env, args = _env(case, scratch)
    started = time.perf_counter()
    make = subprocess.Popen(["make", "report", *args], cwd=clone, env=env, stdout=subprocess.PIPE, text=True)
    seen: dict[str, float] = {}
    lines = []
    assert make.stdout is not None
    for line in make.stdout:
        lines.append(line)
        for phase, marker in PHASES:
            if marker and marker in line and phase not in seen:
                seen[phase] = time.perf_counter() - started
    total = time.perf_counter() - started
    if make.wait() != 0 or "report OK" not in "".join(lines):
        raise SystemExit(f"make report failed at {commit} ({case}):\n{''.join(lines[-20:])}")
    shutil.rmtree(clone, ignore_errors=True)
    setup, checked = seen.get("set-up", 0.0), seen.get("checks", 0.0)
    return {"total": total, "set-up": setup, "checks": checked - setup, "notebooks": total - checked}


def main() -> None:
    """Time each case (and each commit, alternating) and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", help="another commit, timed in the same run")
    parser.add_argument("--repeat", type=int, default=2, help="runs per case and commit (median shown)")
    parser.add_argument("--cases", default=",".join(CASES), help=f"of {', '.join(CASES)}")
    args = parser.parse_args()
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    commits = [head.strip(), *([args.against] if args.against else [])]
    cases = [c for c in args.cases.split(",") if c]
    scratch = Path(tempfile.mkdtemp(prefix="bqlab-clone-"))
    print(f"fresh clone -> make report, set-up included; {args.repeat} run(s) per case, median; {os.cpu_count()} cores")
    try:
        for commit in commits:  # the warm case needs caches as a second clone finds them
            if "warm" in cases:
                fresh_report(commit, "warm", scratch)
        results: dict[tuple[str, str], list[dict[str, float]]] = {}
        for case in cases:
            for _ in range(args.repeat):
                for commit in commits:
                    figures = fresh_report(commit, case, scratch)
                    results.setdefault((case, commit), []).append(figures)
                    print(f"  {case:5} {commit:12} {figures['total']:6.1f} s", flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"\n{'case':6} {'commit':12} {'total':>7} {'set-up':>7} {'checks':>7} {'notebooks':>10}  vs {commits[-1]}")
    for case in cases:
        for commit in commits:
            runs = results[(case, commit)]
            median = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            base = statistics.median(r["total"] for r in results[(case, commits[-1])])
            print(
                f"{case:6} {commit:12} {median['total']:6.1f}s {median['set-up']:6.1f}s {median['checks']:6.1f}s "
                f"{median['notebooks']:9.1f}s  x{median['total'] / base:.2f}"
            )


if __name__ == "__main__":
    main()
