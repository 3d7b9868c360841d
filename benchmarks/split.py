"""Split benchmark (``make bench-split``): prints figures, asserts nothing.

The cost of the train/test split query on the embedded engine at 10M synthetic penguin rows
(Parquet, generated once into .cache/synthetic/), read bounded by ``max_rows`` (100,000) as the
training notebook reads it. Each case runs in a fresh process, timed as a whole (wall time of
the query and its result) with its peak resident memory:

- baseline: the former split, a row's side from its hash bucket (copies of a row on one side,
  classes not stratified), ordered by the hash, the first ``max_rows`` rows;
- classes: today's row-level split stratified by species (copies numbered in SQL, ranks per class);
- number: today's split stratified by quantile bins of body_mass_g (regression);
- groups: today's grouped split (``split_group: culmen_length_mm``, a value per group), whole groups by hash.

Ratios are against the baseline of the same run.
"""

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from bqlab.sources.synthetic import write_synthetic_penguins  # noqa: E402

TABLE = "synthetic-project.lab.penguins"
KEY = ["species", "island", "culmen_length_mm", "culmen_depth_mm", "flipper_length_mm", "body_mass_g", "sex"]
# The split before the row-level one (issue 21), kept here as the baseline: each row's side from
# its hash bucket, the first @max_rows by hash.
BASELINE_SQL = """
SELECT {columns}, MOD(MOD(row_hash, 10000) + 10000, 10000) < @test_buckets AS split_is_test
FROM (
  SELECT {columns}, FARM_FINGERPRINT(ARRAY_TO_STRING([CAST(@seed AS STRING), {key}], '|')) AS row_hash
  FROM {table}
  WHERE {label} IS NOT NULL AND CAST({label} AS STRING) NOT IN UNNEST(@missing_values)
)
ORDER BY row_hash
LIMIT @max_rows
"""
CASE = r"""
import json, resource, sys, time
from bqlab.analysis import queries
from bqlab.sources.embedded import LocalSource
from bqlab.sources.identifiers import quote_column
from bqlab.tasks import CLASSIFICATION, REGRESSION
case, table, path, key, max_rows, baseline = sys.argv[1:7]
key, max_rows = json.loads(key), int(max_rows)
source = LocalSource({table: path})
source.schema(table)  # the Parquet file becomes a view: no data read yet
started = time.perf_counter()
if case == "baseline":
    view = queries.as_view(source, table)
    schema = view.schema
    sql = baseline.format(
        columns=", ".join(quote_column(c) for c in key), key=", ".join(queries._key_text(c, schema[c]) for c in key),
        table=view.sql, label=quote_column(key[0]),
    )
    frame = source.query(sql, {"seed": 42, "test_buckets": 2500, "missing_values": ["."], "max_rows": max_rows})
    rows = len(frame)
else:
    label, task, group = {"classes": ("species", CLASSIFICATION, None), "number": ("body_mass_g", REGRESSION, None),
                          "groups": ("species", CLASSIFICATION, "culmen_length_mm")}[case]
    columns = [label, *[c for c in key if c != label]]
    train, test = queries.fetch_split(source, table, columns, columns, 0.25, 42, ["."], max_rows, task, group)
    rows = len(train) + len(test)
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "rows": rows, "peak_mib": peak}))
"""


def run_case(case: str, path: Path, max_rows: int) -> dict:
    """Run one case in a fresh process; return its figures."""
    command = [sys.executable, "-c", CASE, case, TABLE, str(path), json.dumps(KEY), str(max_rows), BASELINE_SQL]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if done.returncode:
        sys.exit(f"case {case} failed:\n{done.stderr}")
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        sys.exit(f"case {case} printed no figures:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")


def main() -> None:
    """Run each case ``--repeat`` times, interleaved; print the median time, peak memory and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--max-rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    path = write_synthetic_penguins(args.rows, ROOT / ".cache" / "synthetic" / f"penguins-{args.rows}.parquet")
    cases = ["baseline", "classes", "number", "groups"]
    figures: dict[str, list[dict]] = {case: [] for case in cases}
    for _ in range(args.repeat):
        for case in cases:
            figures[case].append(run_case(case, path, args.max_rows))
    print(f"split of {args.rows:,} rows read bounded by max_rows={args.max_rows:,}, median of {args.repeat}:\n")
    print("| case | rows read | time (s) | peak memory (MiB) | time vs baseline |\n| --- | ---: | ---: | ---: | ---: |")
    base = statistics.median(f["seconds"] for f in figures["baseline"])
    for case in cases:
        seconds = statistics.median(f["seconds"] for f in figures[case])
        peak = statistics.median(f["peak_mib"] for f in figures[case])
        rows = figures[case][0]["rows"]
        print(f"| {case} | {rows:,} | {seconds:.2f} | {peak:.0f} | ×{seconds / base:.2f} |")


if __name__ == "__main__":
    main()
