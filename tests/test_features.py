import numpy as np
import pandas as pd
import pytest

from bqlab.analysis import features
from bqlab.tasks import REGRESSION


@pytest.fixture
def rows() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "label": rng.choice(["a", "b", "c"], 400),
            "x": rng.normal(size=400).round(3),
            "cat": rng.choice(["u", "v", ".", None], 400),
        }
    )


def test_clean_placeholders_turns_placeholders_and_nulls_into_nan_without_mutating(rows):
    before = rows.copy()
    clean = features.clean_placeholders(rows, ["."])
    assert clean["cat"].isna().sum() == ((rows["cat"] == ".") | rows["cat"].isna()).sum()
    assert not clean["cat"].isin(["."]).any()
    pd.testing.assert_frame_equal(rows, before)


def test_feature_kinds_follow_column_types(rows):
    assert features.feature_kinds(rows, ["x", "cat"]) == (["x"], ["cat"])


def test_preprocessor_imputes_scales_and_encodes(rows):
    clean = features.clean_placeholders(rows, ["."])
    out = features.build_preprocessor(["x"], ["cat"]).fit(clean).transform(clean)
    assert out.shape == (400, 3)  # x + one-hot u, v
    assert not np.isnan(out).any()
    assert abs(out[:, 0].mean()) < 1e-9


def test_the_split_of_a_number_is_one_row_per_side_with_rows_and_the_label_spread():
    train = pd.DataFrame({"price": [1.0, 2.0, 3.0]})
    test = pd.DataFrame({"price": [10.0, 20.0]})
    summary = features.split_summary(train, test, "price", REGRESSION)
    assert summary.index.tolist() == ["train", "test"] and summary["rows"].tolist() == [3, 2]
    assert summary["mean price"].tolist() == [2.0, 15.0]
