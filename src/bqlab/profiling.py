"""Data-analysis summaries: schema, missing values, class balance, per-class statistics."""

from collections.abc import Mapping

import pandas as pd


def schema_table(schema: Mapping[str, str], frame: pd.DataFrame) -> pd.DataFrame:
    """Return each column's BigQuery type, pandas dtype and number of distinct values."""
    return pd.DataFrame(
        {
            "column": list(schema),
            "bigquery_type": list(schema.values()),
            "pandas_dtype": [str(frame[c].dtype) if c in frame else "-" for c in schema],
            "distinct_values": [int(frame[c].nunique()) if c in frame else None for c in schema],
        }
    )


def missing_table(profile: pd.DataFrame) -> pd.DataFrame:
    """Add totals and percentages to the per-column NULL / placeholder counts."""
    out = profile.copy()
    out["missing_count"] = out["null_count"] + out["placeholder_count"]
    out["missing_pct"] = (100 * out["missing_count"] / out["row_count"]).round(2)
    return out


def class_balance(frame: pd.DataFrame, label: str) -> pd.DataFrame:
    """Return rows and share per label value (missing labels included as '<missing>')."""
    counts = frame[label].astype(object).fillna("<missing>").value_counts()
    return pd.DataFrame(
        {label: counts.index, "rows": counts.to_numpy(), "share_pct": (100 * counts / counts.sum()).round(2).to_numpy()}
    )


def numeric_by_class(frame: pd.DataFrame, label: str, numeric: list[str]) -> pd.DataFrame:
    """Return mean, standard deviation and count of each numeric column per class."""
    if not numeric:
        return pd.DataFrame()
    stats = frame.groupby(label, dropna=True)[numeric].agg(["mean", "std", "count"])
    return stats.round(2)


def correlations(frame: pd.DataFrame, numeric: list[str]) -> pd.DataFrame:
    """Return the Pearson correlation matrix of the numeric columns."""
    return frame[numeric].corr().round(3)


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


def categorical_by_class(frame: pd.DataFrame, label: str, categorical: list[str]) -> pd.DataFrame:
    """Return rows per (column, value) and class for the categorical columns."""
    tables = []
    for column in categorical:
        counts = pd.crosstab(frame[column].astype(object).fillna("<missing>"), frame[label])
        tables.append(counts.set_index(pd.MultiIndex.from_product([[column], counts.index], names=["column", "value"])))
    return pd.concat(tables) if tables else pd.DataFrame()


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
