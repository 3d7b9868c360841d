import numpy as np
import pandas as pd
import pytest

from bqlab import features
from bqlab.errors import DataError


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


def test_split_is_deterministic_and_independent_of_row_order(rows):
    train, test = features.split_train_test(rows, ["label", "x", "cat"], 0.25, seed=7)
    shuffled = rows.sample(frac=1, random_state=1).reset_index(drop=True)
    train2, test2 = features.split_train_test(shuffled, ["label", "x", "cat"], 0.25, seed=7)
    key = ["label", "x", "cat"]
    assert set(map(tuple, test.astype(str)[key].to_numpy())) == set(map(tuple, test2.astype(str)[key].to_numpy()))
    assert len(train) + len(test) == len(rows)
    assert 0.18 < len(test) / len(rows) < 0.32


def test_split_changes_with_the_seed(rows):
    _, test_a = features.split_train_test(rows, ["label", "x"], 0.25, seed=1)
    _, test_b = features.split_train_test(rows, ["label", "x"], 0.25, seed=2)
    assert not test_a.equals(test_b)


def test_split_ignores_columns_outside_the_key(rows):
    _, test_a = features.split_train_test(rows, ["label", "x"], 0.25, seed=1)
    _, test_b = features.split_train_test(rows.assign(extra=range(len(rows))), ["label", "x"], 0.25, seed=1)
    pd.testing.assert_frame_equal(test_a, test_b.drop(columns="extra"))


def test_split_that_leaves_a_side_empty_is_an_error():
    tiny = pd.DataFrame({"label": ["a"], "x": [1.0]})
    with pytest.raises(DataError, match="leaves .* training and .* test rows out of 1"):
        features.split_train_test(tiny, ["label", "x"], 0.5, seed=0)


def test_sample_rows_is_bounded_and_deterministic(rows):
    a = features.sample_rows(rows, 50, seed=3)
    b = features.sample_rows(rows.iloc[::-1], 50, seed=3)
    assert len(a) == 50
    assert sorted(a["x"]) == sorted(b["x"])
    assert features.sample_rows(rows, 1000, seed=3) is rows


def test_feature_kinds_follow_column_types(rows):
    assert features.feature_kinds(rows, ["x", "cat"]) == (["x"], ["cat"])


def test_drop_unlabelled():
    frame = pd.DataFrame({"label": ["a", None, np.nan], "x": [1, 2, 3]})
    assert features.drop_unlabelled(frame, "label")["x"].tolist() == [1]


def test_preprocessor_imputes_scales_and_encodes(rows):
    clean = features.clean_placeholders(rows, ["."])
    out = features.build_preprocessor(["x"], ["cat"]).fit(clean).transform(clean)
    assert out.shape == (400, 3)  # x + one-hot u, v
    assert not np.isnan(out).any()
    assert abs(out[:, 0].mean()) < 1e-9
