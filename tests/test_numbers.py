import pytest

from bqlab.analysis.numbers import metric_text, plus_minus


@pytest.mark.parametrize(
    "name, value, signed, text",
    [
        ("accuracy", 0.9705, False, "0.971"),
        ("cv_macro_f1_mean", 0.98741, False, "0.987"),
        ("cv_accuracy_std", 0.0100, False, "0.010"),
        ("rows", 1234, False, "1,234"),
        ("missing_pct", 3.1977, False, "3.2%"),
        ("rmse", 35415.3047, False, "35,415"),
        ("cv_rmse_mean", 38.657726, False, "38.66"),
        ("accuracy", -0.0036, True, "-0.004"),
        ("rows", 56, True, "+56"),
        ("rmse", 0.0, True, "±0"),
        ("task", "classification", False, "classification"),
    ],
)
def test_each_kind_of_number_is_written_one_way(name, value, signed, text):
    assert metric_text(name, value, signed=signed) == text


def test_a_spread_has_the_decimals_of_its_value():
    assert plus_minus(12.25, 0.9631) == "12.25 ± 0.96"
    assert plus_minus(1244.2, 540.16) == "1,244 ± 540"
