"""Which numeric features the figures show on a wide table: the strongest association with the label."""

import pandas as pd
import pytest

from bqlab.analysis import selection
from bqlab.tasks import CLASSIFICATION, REGRESSION


def _stats(column, means, std=1.0, count=50):
    return pd.DataFrame({"column": column, "y": list("ab"[: len(means)]), "count": count, "mean": means, "std": std})


def test_eta_squared_is_the_share_of_variance_between_the_class_means():
    stats = pd.concat([_stats("apart", [0.0, 10.0]), _stats("same", [5.0, 5.0]), _stats("near", [0.0, 1.0])])
    eta = selection.eta_squared(stats, "y")
    assert eta["same"] == 0.0
    assert eta["apart"] > 0.95 > eta["near"] > 0.1
    # two classes of 50, means 0 and 1, std 1: between = 25, within = 98
    assert eta["near"] == pytest.approx(25 / (25 + 98))


def test_the_strongest_come_first_nan_last_and_ties_keep_the_params_order():
    association = pd.Series({"a": 0.1, "b": float("nan"), "c": 0.5, "d": 0.5})
    assert selection.strongest(association, ["a", "b", "c", "d"], 3) == ["c", "d", "a"]
    assert selection.strongest(association, ["a", "b", "c", "d"], 10) == ["c", "d", "a", "b"]


def test_the_note_names_the_chosen_features_and_the_rule():
    note = selection.selection_note(["f7", "f123"], [f"f{i}" for i in range(300)], CLASSIFICATION)
    assert note.startswith("The figures show 2 of the 300 numeric features") and "`f7`, `f123`" in note
    assert "correlation ratio" in note and "max_plot_features" in note
    assert selection.selection_note(["a"], ["a"], REGRESSION) == "The figures show the one numeric feature."
    assert selection.selection_note([], [], CLASSIFICATION).startswith("There is no numeric feature")
