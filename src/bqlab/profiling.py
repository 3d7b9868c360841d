"""Data-analysis tables and findings, from the aggregates computed in SQL (``bqlab.aggregates``)."""

from collections.abc import Mapping

import pandas as pd


def schema_table(schema: Mapping[str, str], distinct: Mapping[str, int]) -> pd.DataFrame:
    """Return each analysed column's BigQuery type and number of distinct values."""
    columns = [c for c in schema if c in distinct]
    return pd.DataFrame(
        {
            "column": columns,
            "bigquery_type": [schema[c] for c in columns],
            "distinct_values": [distinct[c] for c in columns],
        }
    )


def missing_table(profile: pd.DataFrame) -> pd.DataFrame:
    """Add totals and percentages to the per-column NULL / placeholder counts."""
    out = profile.copy()
    out["missing_count"] = out["null_count"] + out["placeholder_count"]
    out["missing_pct"] = (100 * out["missing_count"] / out["row_count"]).round(2)
    return out


def data_quality_findings(
    missing: pd.DataFrame, balance: pd.DataFrame, corr: pd.DataFrame, label: str, threshold: float = 0.8
) -> str:
    """Write the notable data-quality facts as markdown bullet points."""
    lines = []
    rows = int(missing["row_count"].iloc[0]) if len(missing) else 0
    lines.append(f"- The table has **{rows} rows** and **{len(missing)} analysed columns**.")
    for item in missing.itertuples():
        if item.null_count or item.placeholder_count:
            detail = f"{item.null_count} NULL"
            if item.placeholder_count:
                detail += f" and {item.placeholder_count} placeholder value(s) treated as missing"
            lines.append(f"- `{item.column_name}`: {detail} ({item.missing_pct}% of rows).")
    if not missing[["null_count", "placeholder_count"]].to_numpy().any():
        lines.append("- No column has missing values.")
    labelled = balance[balance[label] != "<missing>"]
    if len(labelled):
        top, bottom = labelled.iloc[0], labelled.iloc[-1]
        ratio = top["rows"] / max(bottom["rows"], 1)
        lines.append(
            f"- {len(labelled)} classes; the largest (`{top[label]}`, {top['rows']} rows) is "
            f"{ratio:.1f}× the smallest (`{bottom[label]}`, {bottom['rows']} rows)."
        )
    for a, b, value in strong_correlations(corr, threshold):
        lines.append(f"- `{a}` and `{b}` are strongly correlated (r = {value:.2f}): expect shared importance.")
    return "\n".join(lines)


def strong_correlations(corr: pd.DataFrame, threshold: float = 0.8) -> list[tuple[str, str, float]]:
    """Return the column pairs whose correlation is at least ``threshold`` in size."""
    return [
        (a, b, float(corr.loc[a, b]))
        for i, a in enumerate(corr.columns)
        for b in corr.columns[i + 1 :]
        if abs(corr.loc[a, b]) >= threshold
    ]


def summary_metrics(missing: pd.DataFrame, balance: pd.DataFrame, corr: pd.DataFrame, label: str) -> dict:
    """Return the headline numbers of the analysis, for the metrics JSON, the report's summary and the index."""
    labelled = balance[balance[label] != "<missing>"]
    return {
        "rows": int(missing["row_count"].iloc[0]) if len(missing) else 0,
        "columns": len(missing),
        "missing_cells": int(missing["missing_count"].sum()),
        "classes": len(labelled),
        "class_counts": {str(r[label]): int(r["rows"]) for _, r in labelled.iterrows()},
        "unlabelled_rows": int(balance.loc[balance[label] == "<missing>", "rows"].sum()),
        "missing_by_column": {r.column_name: int(r.missing_count) for r in missing.itertuples()},
        "placeholders_by_column": {
            r.column_name: int(r.placeholder_count) for r in missing.itertuples() if r.placeholder_count
        },
        "strong_correlations": [[a, b, round(r, 3)] for a, b, r in strong_correlations(corr)],
    }
