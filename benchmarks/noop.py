"""No-op benchmark (``make bench-noop``): prints figures, asserts nothing.

How long ``bqlab report`` takes, and how much memory, to say "up to date" when the local table
is 1 GiB, against the same no-op on a small table in the same run. Three cases: the small
table; the 1 GiB table the first time it is hashed (read streaming: memory stays flat); and
the 1 GiB table again (its size, modification time and inode unchanged: not read).

A report on a 1 GiB table would take many minutes, and a no-op only compares the input
digests with the last run's: so the benchmark runs the report once on a small table, swaps in
a 1 GiB file under the same name, and writes its quick key into the run record, as a run on it
would have left it.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from bqlab.runner.fingerprint import quick_key  # noqa: E402
from bqlab.sources.synthetic import write_synthetic_penguins  # noqa: E402

TABLE = "synthetic-project.lab.penguins"
# Runs a command; prints its wall time and the peak resident memory of the process (and children).
MEASURE = (
    "import json, resource, subprocess, sys, time\n"
    "t = time.perf_counter(); done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
    "wall = time.perf_counter() - t\n"
    "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
    "print(json.dumps({'wall': wall, 'peak_mb': peak, 'code': done.returncode, 'out': done.stdout + done.stderr}))"
)


def noop(project: Path, cache: Path) -> dict:
    """``bqlab report`` with the digest cache in ``cache``: wall seconds, peak MiB, and what it said."""
    command = [sys.executable, "-m", "bqlab", "report", "--profile", "ci"]
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, *command], cwd=project, env=env, capture_output=True, text=True, check=True
    )
    result = json.loads(done.stdout)
    if "up to date" not in result["out"]:
        sys.exit(f"not a no-op:\n{result['out']}")
    return result


def main() -> None:
    """Set the project up, measure the three cases and print the figures."""
    work = Path(tempfile.mkdtemp(prefix="bqlab-noop-"))
    project = work / "project"
    for folder in ("params", "notebooks"):
        shutil.copytree(ROOT / folder, project / folder)
    data = project / "table.parquet"
    write_synthetic_penguins(2_000, data)
    with (project / "params" / "common.yaml").open("a", encoding="utf-8") as common:
        common.write(f"\ntable: {TABLE}\nlocal_tables:\n  {TABLE}: table.parquet\n")
    caches = {name: work / f"cache-{name}" for name in ("small", "big")}
    first = subprocess.run(
        [sys.executable, "-m", "bqlab", "report", "--profile", "ci", "--quiet"],
        cwd=project,
        env={**os.environ, "XDG_CACHE_HOME": str(caches["small"])},
        capture_output=True,
        text=True,
    )
    if first.returncode:
        sys.exit(f"the first report failed:\n{first.stdout}{first.stderr}")
    small = noop(project, caches["small"])

    with data.open("wb") as big:  # 1 GiB under the same name: only the input digests see it
        block = os.urandom(1024**2)
        for _ in range(1024):
            big.write(block)
    os.environ["XDG_CACHE_HOME"] = str(work / "cache-keygen")  # the key is computed apart from both caches
    key = quick_key(project / "params", "ci", project / "notebooks")
    record_file = (project / "reports" / "latest").resolve() / "run.json"
    record = json.loads(record_file.read_text())
    record["quick_key"] = key
    record_file.write_text(json.dumps(record))
    cold = noop(project, caches["big"])
    warm = noop(project, caches["big"])

    print(f"{'case':<44} {'wall':>8} {'peak memory':>12}")
    for name, result in (
        ("small table (2,000 rows), no-op", small),
        ("1 GiB table, first no-op (hashed streaming)", cold),
        ("1 GiB table, next no-op (size/mtime/inode)", warm),
    ):
        print(f"{name:<44} {result['wall']:7.2f}s {result['peak_mb']:9.0f} MiB")
    print()
    print(f"next/small wall = {warm['wall'] / small['wall']:.2f}   (target: next no-op under 0.5 s)")
    print(f"first no-op peak memory = {cold['peak_mb']:.0f} MiB   (target: under 100 MiB)")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
