"""Synthetic tables with the penguins table's schema, at any number of rows, for scale tests.

Each class keeps its share of rows, its island and sex frequencies (the "." placeholder and
NULLs included), the means and covariances of its four measurements, and each column's rate
of missing values, all estimated from the real table. Rows are written to Parquet in chunks,
so memory stays flat however many rows are asked for; the same seed gives the same file.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from bqlab.errors import DataError
from bqlab.sources.datasets import PENGUINS_SCHEMA, penguins

NUMERIC = ["culmen_length_mm", "culmen_depth_mm", "flipper_length_mm", "body_mass_g"]
CATEGORICAL = ["island", "sex"]
DECIMALS = {"culmen_length_mm": 1, "culmen_depth_mm": 1, "flipper_length_mm": 0, "body_mass_g": -1}
CHUNK_ROWS = 1_000_000


def _profile(frame: pd.DataFrame) -> dict:
    """Per-class shares, category frequencies, measurement moments and missing rates."""
    classes = frame["species"].value_counts(normalize=True)
    profile = {"classes": list(classes.index), "shares": classes.to_numpy(), "by_class": {}}
    for cls in profile["classes"]:
        rows = frame[frame["species"] == cls]
        complete = rows[NUMERIC].dropna()
        profile["by_class"][cls] = {
            "mean": complete.mean().to_numpy(),
            "cov": complete.cov().to_numpy(),
            "missing": rows[NUMERIC].isna().mean().to_numpy(),
            "categories": {
                c: rows[c].astype(object).where(rows[c].notna(), None).value_counts(normalize=True, dropna=False)
                for c in CATEGORICAL
            },
        }
    return profile


def _chunk(profile: dict, rows: int, rng: np.random.Generator) -> pa.Table:
    labels = rng.choice(len(profile["classes"]), size=rows, p=profile["shares"])
    columns: dict[str, np.ndarray] = {"species": np.empty(rows, dtype=object)}
    columns |= {c: np.empty(rows, dtype=object) for c in CATEGORICAL}
    columns |= {c: np.empty(rows, dtype="float64") for c in NUMERIC}
    for k, cls in enumerate(profile["classes"]):
        at = np.flatnonzero(labels == k)
        if not len(at):
            continue
        stats = profile["by_class"][cls]
        columns["species"][at] = cls
        for c in CATEGORICAL:
            freq = stats["categories"][c]
            columns[c][at] = np.asarray(freq.index, dtype=object)[
                rng.choice(len(freq), size=len(at), p=freq.to_numpy())
            ]
        values = rng.multivariate_normal(stats["mean"], stats["cov"], size=len(at), method="cholesky")
        values[rng.random(values.shape) < stats["missing"]] = np.nan
        for j, c in enumerate(NUMERIC):
            columns[c][at] = np.round(values[:, j], DECIMALS[c])
    arrays = {
        c: pa.array(columns[c], type=pa.string() if PENGUINS_SCHEMA[c] == "STRING" else pa.float64(), from_pandas=True)
        for c in PENGUINS_SCHEMA
    }
    return pa.table(arrays)


def write_synthetic_penguins(rows: int, path: Path, seed: int = 0) -> Path:
    """Write ``rows`` synthetic penguins to the Parquet file ``path`` (kept if it already exists)."""
    if rows < 1:
        raise DataError(f"rows={rows}: a synthetic table needs at least one row")
    path = Path(path)
    if path.is_file() and pq.read_metadata(path).num_rows == rows:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    profile, rng = _profile(penguins()), np.random.default_rng(seed)
    partial = path.with_name(f".{path.name}.partial")
    with pq.ParquetWriter(partial, _chunk(profile, 1, np.random.default_rng(0)).schema) as writer:
        for start in range(0, rows, CHUNK_ROWS):
            writer.write_table(_chunk(profile, min(CHUNK_ROWS, rows - start), rng), row_group_size=CHUNK_ROWS)
    partial.replace(path)
    return path


def wide_table(rows: int = 2000, columns: int = 300, seed: int = 3) -> pd.DataFrame:
    """A table of ``columns`` numeric features ``f000`` ...; the label ``target`` depends on two of them.

    ``target`` is "high" when ``f007 + f123`` (or the last two columns, for fewer than 124) is
    positive; ``f001`` is a near copy of ``f000`` (a strongly correlated pair). For tests and
    benchmarks of wide tables.
    """
    if columns < 3:
        raise DataError(f"columns={columns}: a wide table needs at least three columns")
    rng = np.random.default_rng(seed)
    names = [f"f{i:03d}" for i in range(columns)]
    frame = pd.DataFrame(rng.normal(size=(rows, columns)), columns=names).round(4)
    frame["f001"] = (frame["f000"] * 0.95 + rng.normal(0, 0.1, rows)).round(4)
    first, second = ("f007", "f123") if columns > 123 else (names[-2], names[-1])
    frame["target"] = np.where(frame[first] + frame[second] > 0, "high", "low")
    return frame


GEM_CUTS = ["Fair", "Good", "Very Good", "Premium", "Ideal"]
GEM_COLORS = ["J", "I", "H", "G", "F", "E", "D"]
GEM_CLARITIES = ["I1", "SI2", "SI1", "VS2", "VS1", "VVS2", "VVS1", "IF"]


def gem_table(rows: int = 54_000, seed: int = 5) -> pd.DataFrame:
    """A mid-size table shaped like the public diamonds table: 9 features, 3 of them categorical.

    ``carat``, ``cut``, ``color``, ``clarity``, ``depth``, ``table``, ``x``, ``y``, ``z`` and
    ``price`` (dollars, the regression label: it grows with carat to the power 1.7 and with
    better cut, color and clarity, times noise). ``cut`` also shapes ``depth`` and ``table``, so
    it can serve as the label of a five-class classification on the other columns. About 1 in
    200 values of ``depth`` and ``table`` is missing. For tests and benchmarks of mid-size tables.
    """
    if rows < 1:
        raise DataError(f"rows={rows}: a table needs at least one row")
    rng = np.random.default_rng(seed)
    carat = np.round(np.clip(rng.lognormal(-0.45, 0.55, rows), 0.2, 3.5), 2)
    cut = rng.choice(len(GEM_CUTS), size=rows, p=[0.03, 0.09, 0.22, 0.26, 0.40])
    color = rng.choice(len(GEM_COLORS), size=rows, p=[0.05, 0.10, 0.15, 0.21, 0.18, 0.18, 0.13])
    clarity = rng.choice(len(GEM_CLARITIES), size=rows, p=[0.01, 0.17, 0.24, 0.23, 0.15, 0.09, 0.07, 0.04])
    depth = (
        np.array([64.0, 62.5, 61.8, 61.3, 61.7])[cut]
        + rng.normal(0, 1, rows) * np.array([1.6, 1.3, 1.0, 0.9, 0.6])[cut]
    )
    depth = np.round(depth, 1)
    table = (
        np.array([59.0, 58.7, 58.0, 58.7, 56.0])[cut]
        + rng.normal(0, 1, rows) * np.array([3.0, 2.6, 2.1, 1.4, 1.2])[cut]
    )
    size = 6.45 * carat ** (1 / 3) * (61.7 / depth) ** (1 / 3)
    x = np.round(size + rng.normal(0, 0.03, rows), 2)
    y = np.round(size * rng.normal(1.0, 0.01, rows), 2)
    z = np.round(size * depth / 100 + rng.normal(0, 0.03, rows), 2)
    log_price = 8.4 + 1.7 * np.log(carat) + 0.05 * cut + 0.07 * color + 0.1 * clarity + rng.normal(0, 0.12, rows)
    frame = pd.DataFrame(
        {
            "carat": carat,
            "cut": np.asarray(GEM_CUTS, dtype=object)[cut],
            "color": np.asarray(GEM_COLORS, dtype=object)[color],
            "clarity": np.asarray(GEM_CLARITIES, dtype=object)[clarity],
            "depth": depth,
            "table": np.round(table, 0),
            "x": x,
            "y": y,
            "z": z,
            "price": np.round(np.exp(log_price)).astype("int64"),
        }
    )
    for column in ("depth", "table"):
        frame.loc[rng.random(rows) < 0.005, column] = np.nan
    return frame
