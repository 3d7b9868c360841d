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

Every run has folders of its own (clone, caches), removed only once all runs are timed, and
starts once the disk has written what the earlier runs left: here (ext4 with ``discard``, on a
virtual disk) removing the last run's gigabyte of packages right before a run slowed the next
run's install of the same packages from 3-4 s to 9-15 s for a minute or so, which a new user's
machine does not have. A run with empty caches writes about 1 GB: the scratch folder's size is
printed.
"""

import argparse
import itertools
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
    """The environment and make arguments of a case; empty caches are new folders in ``scratch``."""
    env, args = dict(os.environ), []
    if case in ("empty", "new"):
        for name in ("uv-cache", "uv-bootstrap", "xdg"):
            (scratch / name).mkdir(parents=True)
        env |= {"UV_CACHE_DIR": str(scratch / "uv-cache"), "PIP_NO_CACHE_DIR": "1"}
        args.append(f"UV_BOOTSTRAP={scratch / 'uv-bootstrap'}")
        if case == "new":
            env["XDG_CACHE_HOME"] = str(scratch / "xdg")
    return env, args


def _settle(limit: float = 60.0) -> None:
    """Wait until the disk has written what earlier runs left (Linux: ``Dirty`` below 32 MB)."""
    os.sync()
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            meminfo = Path("/proc/meminfo").read_text()
        except OSError:
            return
        dirty = next((int(line.split()[1]) for line in meminfo.splitlines() if line.startswith("Dirty:")), 0)
        if dirty < 32 * 1024:
            return
        time.sleep(0.5)


def fresh_report(commit: str, case: str, scratch: Path) -> dict[str, float]:
    """Clone ``commit`` into the new folder ``scratch``, run ``make report`` in it; seconds in total and per phase."""
    clone = scratch / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    subprocess.run(["git", "checkout", "-q", commit], cwd=clone, check=True)
    env, args = _env(case, scratch)
    _settle()
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
    folders = (scratch / f"run-{n}" for n in itertools.count(1))  # each run's own: see the module's doc
    try:
        for commit in commits:  # the warm case needs caches as a second clone finds them
            if "warm" in cases:
                fresh_report(commit, "warm", next(folders))
        results: dict[tuple[str, str], list[dict[str, float]]] = {}
        for case in cases:
            for _ in range(args.repeat):
                for commit in commits:
                    figures = fresh_report(commit, case, next(folders))
                    results.setdefault((case, commit), []).append(figures)
                    print(f"  {case:5} {commit:12} {figures['total']:6.1f} s", flush=True)
    finally:
        used = subprocess.run(["du", "-sh", str(scratch)], capture_output=True, text=True).stdout.split("\t")[0]
        print(f"(removing {scratch}: {used or '?'})")
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
