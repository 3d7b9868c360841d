import numpy as np
import pandas as pd
import pytest

from bqlab import features


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
