"""Embedded copies of public BigQuery tables, built from data shipped inside packages.

They let `make report` run offline with no credentials while keeping the public table's
name, schema and values, so the same SQL runs here and in the warehouse.
"""

from collections.abc import Callable

import numpy as np
import pandas as pd
from palmerpenguins import load_penguins_raw

PENGUINS_TABLE = "bigquery-public-data.ml_datasets.penguins"

# BigQuery schema of bigquery-public-data.ml_datasets.penguins (all columns NULLABLE).
PENGUINS_SCHEMA = {
    "species": "STRING",
    "island": "STRING",
    "culmen_length_mm": "FLOAT64",
    "culmen_depth_mm": "FLOAT64",
    "flipper_length_mm": "FLOAT64",
    "body_mass_g": "FLOAT64",
    "sex": "STRING",
}

_RAW_COLUMNS = {
    "Species": "species",
    "Island": "island",
    "Culmen Length (mm)": "culmen_length_mm",
    "Culmen Depth (mm)": "culmen_depth_mm",
    "Flipper Length (mm)": "flipper_length_mm",
    "Body Mass (g)": "body_mass_g",
    "Sex": "sex",
}

# The public table keeps the original LTER record's sex "." for this one bird; the
# palmerpenguins package turned it into NA when it cleaned the data.
_DOT_SEX_RECORD = {"studyName": "PAL0910", "Sample Number": 117, "Individual ID": "N36A1"}


def penguins() -> pd.DataFrame:
    """Return the 344-row penguins table as BigQuery publishes it."""
    raw = load_penguins_raw()
    is_dot = np.logical_and.reduce([raw[key] == value for key, value in _DOT_SEX_RECORD.items()])
    frame = raw[list(_RAW_COLUMNS)].rename(columns=_RAW_COLUMNS)
    frame["sex"] = frame["sex"].astype(object).where(frame["sex"].notna(), None)
    frame.loc[is_dot, "sex"] = "."
    for column, bq_type in PENGUINS_SCHEMA.items():
        if bq_type == "FLOAT64":
            frame[column] = frame[column].astype("float64")
        else:
            frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame.reset_index(drop=True)


EMBEDDED_TABLES: dict[str, Callable[[], pd.DataFrame]] = {PENGUINS_TABLE: penguins}
