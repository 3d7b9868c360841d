"""Data-analysis tables and findings, from the aggregates computed in SQL (``bqlab.analysis.aggregates``)."""

from collections.abc import Mapping

import pandas as pd

# A text column is flagged as holding numbers when at least this share of its values read as one.
NUMERIC_TEXT_SHARE = 0.8
# A categorical feature with more distinct values than this is flagged: one-hot encoding makes a column of each.
MANY_VALUES = 50
# A feature whose most frequent value fills this share of its rows is flagged as (nearly) constant.
NEAR_CONSTANT_SHARE = 0.99


def schema_table(view, distinct: Mapping[str, int]) -> pd.DataFrame:
    """Return each analysed column's BigQuery type (and the type it was cast from) and its distinct values."""
    schema, raw = view.schema, view.raw_schema
    columns = [c for c in schema if c in distinct]
    table = pd.DataFrame(
        {
            "column": columns,
            "bigquery_type": [schema[c] for c in columns],
            "distinct_values": [distinct[c] for c in columns],
        }
    )
    if view.column_types:
        table["cast_from"] = [raw[c] if c in view.column_types else "" for c in columns]
    return table


def missing_table(profile: pd.DataFrame, view) -> pd.DataFrame:
    """Add totals, percentages and the share of number-like text to the per-column missing-value counts.

    A value is missing when it is NULL, a placeholder, or fails the cast named in ``column_types``.
    ``numeric_text_pct`` is the share of a text column's present values that read as numbers.
    """
    out = profile.copy()
    out["missing_count"] = out["null_count"] + out["placeholder_count"] + out["cast_failed_count"]
    out["missing_pct"] = (100 * out["missing_count"] / out["row_count"]).round(2)
    present = out["row_count"] - out["null_count"] - out["placeholder_count"]
    is_text = out["column_name"].map(lambda c: view.raw_schema.get(c) == "STRING" and c not in view.column_types)
    share = (100 * out["numeric_text_count"] / present.where(present > 0)).round(1)
    out["numeric_text_pct"] = share.where(is_text)
    separated = out.pop("separated_number_count") if "separated_number_count" in out else None
    if separated is not None and (separated.where(is_text, 0) > 0).any():  # only a table that has such text
        out["separated_number_pct"] = (100 * separated / present.where(present > 0)).round(1).where(is_text)
    return out.drop(columns=["numeric_text_count"])


def numeric_text_columns(missing: pd.DataFrame, exclude: str | None = None) -> dict[str, float]:
    """Text columns whose present values mostly read as numbers: column -> share (%) that does not."""
    flagged = missing[missing["numeric_text_pct"] >= 100 * NUMERIC_TEXT_SHARE]
    return {r.column_name: round(100 - r.numeric_text_pct, 1) for r in flagged.itertuples() if r.column_name != exclude}


def separated_number_columns(missing: pd.DataFrame, exclude: str | None = None) -> dict[str, float]:
    """Text columns that read as numbers once their separators are named (3,750; 12,5): column -> that share (%)."""
    if "separated_number_pct" not in missing:
        return {}
    plain = missing["numeric_text_pct"].fillna(0)
    flagged = missing[
        (plain + missing["separated_number_pct"].fillna(0) >= 100 * NUMERIC_TEXT_SHARE)
        & (plain < 100 * NUMERIC_TEXT_SHARE)
    ]
    return {r.column_name: float(r.separated_number_pct) for r in flagged.itertuples() if r.column_name != exclude}


def many_valued(distinct: Mapping[str, int], categorical, limit: int = MANY_VALUES) -> dict[str, int]:
    """Categorical features with more than ``limit`` distinct values: column -> distinct values."""
    return {c: int(distinct[c]) for c in categorical if distinct.get(c, 0) > limit}


def constant_columns(
    shares: Mapping[str, float], share: float = NEAR_CONSTANT_SHARE, exclude: str | None = None
) -> dict[str, float]:
    """Columns whose one value fills at least ``share`` of the rows with a value: column -> that share (%).

    ``shares``: each column's most frequent value's share of its rows (``aggregates.top_value_shares``).
    """
    return {c: round(100 * v, 1) for c, v in shares.items() if v >= share and c != exclude}


def strong_correlations(pairs: pd.DataFrame, threshold: float = 0.8, exclude: str | None = None):
    """Return the column pairs (a, b, r) whose correlation is at least ``threshold`` in size, strongest first."""
    strong = pairs[(pairs["r"].abs() >= threshold) & (pairs["a"] != exclude) & (pairs["b"] != exclude)]
    strong = strong.assign(size=strong["r"].abs()).sort_values(["size", "a", "b"], ascending=[False, True, True])
    return [(a, b, float(r)) for a, b, r in strong[["a", "b", "r"]].itertuples(index=False)]


def summary_metrics(
    missing: pd.DataFrame,
    balance: pd.DataFrame,
    pairs: pd.DataFrame,
    label: str,
    task,
    many_values: Mapping[str, int] | None = None,
    constant: Mapping[str, float] | None = None,
) -> dict:
    """Return the headline numbers of the analysis, for the metrics JSON, the report's summary and the index.

    ``many_values``: the categorical features with very many values (``many_valued``).
    ``constant``: the features one value (nearly) fills (``constant_columns``).
    """
    metrics = {
        "task": str(task),
        "task_reason": getattr(task, "reason", ""),
        "rows": int(missing["row_count"].iloc[0]) if len(missing) else 0,
        "columns": len(missing),
        "missing_cells": int(missing["missing_count"].sum()),
        "missing_by_column": {r.column_name: int(r.missing_count) for r in missing.itertuples()},
        "placeholders_by_column": {
            r.column_name: int(r.placeholder_count) for r in missing.itertuples() if r.placeholder_count
        },
        "cast_failures_by_column": {
            r.column_name: int(r.cast_failed_count) for r in missing.itertuples() if r.cast_failed_count
        },
        "numeric_text_columns": numeric_text_columns(missing, exclude=label),
        "separated_number_columns": separated_number_columns(missing, exclude=label),
        "strong_correlations": [[a, b, round(r, 3)] for a, b, r in strong_correlations(pairs, exclude=label)[:10]],
        "many_valued_columns": {c: n for c, n in (many_values or {}).items() if c != label},
        "constant_columns": {c: v for c, v in (constant or {}).items() if c != label},
    }
    if not task.classes:
        stats = balance.iloc[0] if len(balance) else {}
        metrics["label_summary"] = {k: float(stats[k]) for k in ("mean", "std", "min", "median", "max") if k in stats}
        metrics["unlabelled_rows"] = int(missing.set_index("column_name")["missing_count"].get(label, 0))
        return metrics
    labelled = balance[balance[label] != "<missing>"]
    metrics["classes"] = len(labelled)
    metrics["class_counts"] = {str(v): int(n) for v, n in zip(labelled[label], labelled["rows"], strict=True)}
    metrics["unlabelled_rows"] = int(balance.loc[balance[label] == "<missing>", "rows"].sum())
    return metrics
