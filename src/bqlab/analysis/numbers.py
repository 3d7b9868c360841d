"""One way to write each kind of number, wherever it appears: tables, summaries, the index, comparisons.

Counts get thousands separators (1,234), percentages one decimal and % (44.2%), scores three
decimals (0.971), and any other measurement four significant digits (2,293; 38.79; 0.01235).
The kind follows from the name (``accuracy``, ``cv_macro_f1_mean``, ``missing_pct``) and the type.
"""

from typing import Any

SCORES = {"accuracy", "precision", "recall", "f1", "macro_f1", "r2", "auc", "roc_auc", "r", "correlation"}
PERCENT = {"share", "percent"}


def readable(value: float) -> str:
    """A derived number as a sentence shows it (2293.4 -> "2,293"; 0.012345 -> "0.01235").

    Four significant digits below 1,000; whole numbers with thousands separators above.
    """
    if value != value:  # NaN
        return "n/a"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def is_score(name: Any) -> bool:
    """Whether a metric named ``name`` is a score between 0 and 1 (accuracy, F1, R², AUC ...)."""
    words = str(name).lower().replace(" ", "_").rsplit(".", 1)[-1]
    words = words.removeprefix("cv_").removeprefix("baseline_").removesuffix("_mean").removesuffix("_std")
    return words in SCORES or words.endswith("_f1")


def is_percent(name: Any) -> bool:
    """Whether a value named ``name`` is a percentage (``missing_pct``, ``share``)."""
    words = str(name).lower().replace(" ", "_")
    return words.endswith("_pct") or bool(PERCENT & set(words.split("_")))


def metric_text(name: Any, value: Any, signed: bool = False) -> str:
    """``value`` written as its kind is written everywhere (see the module docstring).

    ``signed``: a change, with its sign (+0.012, -3, ±0).
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if signed and value == 0:
        return "±0"
    sign = "+" if signed and value > 0 else ""
    if isinstance(value, int):
        return f"{sign}{value:,}"
    if is_percent(name):
        return f"{sign}{value:.1f}%"
    if is_score(name):
        return f"{sign}{value:.3f}"
    return f"{sign}{readable(value)}"


def class_text(value: Any) -> Any:
    """A class value as every page writes it: a whole float as an integer (5.0 -> 5), another float shortest.

    Text, booleans and integers stay as they are.
    """
    if isinstance(value, float) and not isinstance(value, bool) and value == value:
        return int(value) if value.is_integer() else format(value, "g")
    return value


def plus_minus(value: float, spread: float) -> str:
    """``value ± spread``, the spread with the value's decimals (12.25 ± 0.96, not 12.25 ± 0.9631)."""
    text = readable(value)
    places = len(text.split(".")[1]) if "." in text else 0
    return f"{text} ± {spread:,.{places}f}"
