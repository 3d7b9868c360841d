"""From table rows to model inputs: placeholder clean-up, sampling, the preprocessor.

The train/test split itself runs in SQL (``bqlab.data.fetch_split``).
"""

import hashlib
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


def clean_placeholders(frame: pd.DataFrame, missing_values: Sequence[str]) -> pd.DataFrame:
    """Return a copy where placeholder strings (such as ".") and NULLs are NaN in text columns."""
    out = frame.copy()
    for column in out.columns:
        if not pd.api.types.is_numeric_dtype(out[column]):
            values = out[column].astype(object)
            missing = values.isna() | values.isin(list(missing_values))
            out[column] = values.where(~missing, np.nan)
    return out


def row_hash_fraction(frame: pd.DataFrame, seed: int) -> pd.Series:
    """Map each row to a number in [0, 1) from its values and the seed alone.

    The number depends on neither row order nor the engine that returned the rows, so a
    sample holds the same rows from the embedded engine and from BigQuery.
    """
    canon = frame.astype(object).where(frame.notna(), None).map(lambda v: "\x00" if v is None else str(v))
    keys = canon.agg("\x1f".join, axis=1)
    salt = str(seed).encode()

    def fraction(key: str) -> float:
        digest = hashlib.blake2b(key.encode(), key=salt, digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2**64

    return keys.map(fraction).astype("float64")


def split_summary(train: pd.DataFrame, test: pd.DataFrame, label: str) -> pd.DataFrame:
    """Return rows per class in each side of the split."""
    summary = pd.DataFrame({"train": train[label].value_counts(), "test": test[label].value_counts()})
    summary = summary.fillna(0).astype(int)
    summary.loc["total"] = summary.sum()
    return summary


def sample_rows(frame: pd.DataFrame, max_rows: int, seed: int) -> pd.DataFrame:
    """Return at most ``max_rows`` rows, chosen by row hash (the same rows on every run)."""
    if len(frame) <= max_rows:
        return frame
    order = row_hash_fraction(frame, seed).sort_values(kind="stable").index[:max_rows]
    return frame.loc[sorted(order)].reset_index(drop=True)


def feature_kinds(frame: pd.DataFrame, features: Sequence[str]) -> tuple[list[str], list[str]]:
    """Return (numeric, categorical) feature names from the columns' types."""
    numeric = [c for c in features if pd.api.types.is_numeric_dtype(frame[c])]
    return numeric, [c for c in features if c not in numeric]


def build_preprocessor(numeric: Sequence[str], categorical: Sequence[str]) -> ColumnTransformer:
    """Impute, scale numeric columns and one-hot encode categorical ones."""
    return ColumnTransformer(
        [
            ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), list(numeric)),
            (
                "categorical",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"),
                    OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                ),
                list(categorical),
            ),
        ],
        verbose_feature_names_out=False,
    )


def split_xy(frame: pd.DataFrame, label: str, features: Sequence[str]) -> tuple[pd.DataFrame, pd.Series]:
    """Return the feature frame and the label series."""
    return frame[list(features)], frame[label].astype(object)
