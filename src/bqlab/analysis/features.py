"""From table rows to model inputs: placeholder clean-up, feature kinds, the preprocessor.

The train/test split itself runs in SQL (``bqlab.analysis.queries.fetch_split``).
"""

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from bqlab.analysis.numbers import class_text
from bqlab.analysis.targets import label_values
from bqlab.errors import DataError
from bqlab.tasks import CLASSIFICATION, Task


def clean_placeholders(frame: pd.DataFrame, missing_values: Sequence[str]) -> pd.DataFrame:
    """Return a copy where placeholder strings (such as ".") and NULLs are NaN in text columns.

    Boolean columns become plain values (True/False, NaN when missing), so they are encoded as
    categories like text.
    """
    out = frame.copy()
    for column in out.columns:
        if pd.api.types.is_bool_dtype(out[column]) or not pd.api.types.is_numeric_dtype(out[column]):
            values = out[column].astype(object)
            missing = values.isna() | values.isin(list(missing_values))
            out[column] = values.where(~missing, np.nan)
    return out


def split_summary(train: pd.DataFrame, test: pd.DataFrame, label: str, task: Task = CLASSIFICATION) -> pd.DataFrame:
    """Return the split as a table: rows per class in each side and the shares (for a number: per side).

    For classes, ``held out share`` is the share of the class's rows in the test side (the
    ``test_fraction`` params ask, to the row), and ``share of train``/``share of test`` each
    class's share of that side; for a number, each side's rows, share and the label's mean and spread.
    """
    if not task.classes:
        sides = [train[label].astype("float64"), test[label].astype("float64")]
        total = sum(len(v) for v in sides)
        return pd.DataFrame(
            {"rows": [len(v) for v in sides], "share of rows": [100 * len(v) / max(total, 1) for v in sides]}
            | {f"mean {label}": [v.mean() for v in sides], f"std {label}": [v.std() for v in sides]},
            index=pd.Index(["train", "test"], name="side"),
        )
    by_side = {"train rows": train[label], "test rows": test[label]}
    counts = pd.DataFrame({name: side.map(class_text).astype(object).value_counts() for name, side in by_side.items()})
    counts = counts.fillna(0).astype(int)
    counts.index.name = label
    counts.loc["total"] = counts.sum()
    rows = counts["train rows"] + counts["test rows"]
    shares = {
        "held out share": 100 * counts["test rows"] / rows.clip(lower=1),
        "share of train": 100 * counts["train rows"] / max(len(train), 1),
        "share of test": 100 * counts["test rows"] / max(len(test), 1),
    }
    return counts.assign(**shares)


def feature_kinds(frame: pd.DataFrame, features: Sequence[str]) -> tuple[list[str], list[str]]:
    """Return (numeric, categorical) feature names from the columns' types."""
    numeric = [
        c for c in features if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
    ]
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


def split_xy(
    frame: pd.DataFrame, label: str, features: Sequence[str], task: Task = CLASSIFICATION
) -> tuple[pd.DataFrame, pd.Series]:
    """Return the feature frame and the label series, as the task's model needs it.

    Raises:
        DataError: a feature has no value in any row (a model cannot use it).
    """
    empty = [c for c in features if frame[c].isna().all()]
    if empty:
        raise DataError(
            f"feature(s) {empty} have no value in any of the {len(frame)} rows read: "
            "remove them from features in params/common.yaml"
        )
    return frame[list(features)], label_values(frame[label], task)
