"""Tables as people read them: no pandas index, and one format per kind of number.

``show_tables`` makes every DataFrame a notebook displays go through ``to_html``, in the
reports and in JupyterLab alike. The kind of each column follows from its name and type:

- counts (integers): thousands separators, ``1,234``;
- percentages (``*_pct``, ``share``): one decimal and ``%``;
- scores (accuracy, precision, recall, F1, R², AUC, correlation): three decimals;
- measurements (any other number): four significant digits (``readable``), except in a row
  of statistics of one column (``min`` and ``max`` beside ``mean``, ``std``, quartiles):
  its observed values keep that column's decimals, and its mean and spread get one more
  (at most two, unless the column has more).

A named index (classes, or ``column``/``value`` pairs) becomes ordinary columns; a table of
one column's statistics per feature gets a ``unit`` column from the names (``body_mass_g``: g).
"""

import math
import re
import sys
from collections.abc import Mapping
from html import escape
from typing import Any

import pandas as pd

from bqlab.analysis.numbers import is_percent, is_score, readable

UNITS = {  # the last word of a column name -> its unit
    **{u: u for u in ("mm", "cm", "m", "km", "g", "kg", "mg", "t", "s", "ms", "min", "h", "l", "ml", "ft", "mi", "lb")},
    **{"in": "in", "lbs": "lb", "m2": "m²", "km2": "km²", "m3": "m³", "kwh": "kWh", "kmh": "km/h", "mph": "mph"},
    **{u: u for u in ("hours", "days", "weeks", "months", "years")},
    **{"pct": "%", "percent": "%", "usd": "USD", "eur": "EUR", "gbp": "GBP", "chf": "CHF", "jpy": "JPY"},
}
EMPTY_NOTE = "bqlab_empty_note"  # DataFrame.attrs key: the sentence an empty table shows instead
OBSERVED = {"min", "max", "q1", "median", "q3"}  # values of the data itself (quantiles included)
MAX_DECIMALS = 4


def unit(column: Any) -> str:
    """The unit a column name ends in ("body_mass_g" -> "g"), or ""."""
    head, _, tail = str(column).rpartition("_")
    return UNITS.get(tail.lower(), "") if head else ""


def decimals(value: float) -> int:
    """The fewest decimals (at most 4) that show ``value`` as stored (32.1 -> 1, 4200.0 -> 0)."""
    for places in range(MAX_DECIMALS + 1):
        if abs(round(value, places) - value) <= 1e-9 * max(1.0, abs(value)):
            return places
    return MAX_DECIMALS


def kind(name: Any, values: pd.Series) -> str:
    """``count``, ``percent``, ``score``, ``measurement`` or ``text``, from a column's name and type."""
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return "text"
    if is_percent(name):
        return "percent"
    if pd.api.types.is_integer_dtype(values):
        return "count"
    return "score" if is_score(name) else "measurement"


def _number(value: Any, how: str, places: int | None = None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    if how == "count":
        return f"{int(value):,}"
    if how == "percent":
        return f"{value:.1f}%"
    if how == "score":
        return f"{value:.3f}"
    return f"{value:,.{places}f}" if places is not None else readable(float(value))


def _row_places(frame: pd.DataFrame) -> pd.Series | None:
    """Per row, the decimals of the column it describes, from its observed ``min`` and ``max``."""
    if not {"min", "max"} <= set(frame.columns):
        return None
    return frame[["min", "max"]].apply(
        lambda row: max((decimals(float(v)) for v in row if pd.notna(v)), default=0), axis=1
    )


def formatted(frame: pd.DataFrame) -> pd.DataFrame:
    """Return the table as text cells: index turned into columns, each number in its kind's format."""
    header = frame.columns.name
    out = frame if isinstance(frame.index, pd.RangeIndex) else frame.reset_index(names=_index_names(frame))
    out = out.reset_index(drop=True)
    by_row = _row_places(out)
    cells = {}
    for name in out.columns:
        values = out[name]
        how = kind(name, values)
        if how == "text":
            cells[name] = values.map(lambda v: "" if v is None or v is pd.NA or v != v else str(v))
        elif how != "measurement":
            cells[name] = values.map(lambda v, how=how: _number(v, how))
        elif by_row is not None and name in {*OBSERVED, "mean", "std"}:
            derived = (lambda p: max(p, min(p + 1, 2))) if name in ("mean", "std") else (lambda p: p)
            cells[name] = pd.Series([_number(v, how, derived(p)) for v, p in zip(values, by_row, strict=True)])
        else:
            cells[name] = values.map(lambda v: _number(v, "measurement"))
    text = pd.DataFrame(cells, columns=out.columns)
    if "column" in text.columns and by_row is not None and out["column"].map(unit).any():
        text.insert(text.columns.get_loc("column") + 1, "unit", out["column"].map(unit))
    if header is not None and not isinstance(frame.index, pd.RangeIndex):
        # Columns that are values of one variable (classes) keep its name above them.
        levels = len(out.columns) - len(frame.columns)
        text.columns = pd.MultiIndex.from_tuples(
            [("", str(c)) if i < levels or c == "unit" else (str(header), str(c)) for i, c in enumerate(text.columns)]
        )
    return text


def _index_names(frame: pd.DataFrame) -> list[str]:
    names = list(frame.index.names)
    return [str(n) if n is not None else ("" if len(names) == 1 else f"level {i}") for i, n in enumerate(names)]


LEFT = ' style="text-align: left"'  # inline, so JupyterLab aligns text columns too
_SNAKE = re.compile(r"^[a-z0-9]+(_[a-z0-9]+)+$")
# The analysed table's own column names: a header that is one of them is shown as written.
_TABLE_COLUMNS: set[str] = set()


def keep_column_names(names) -> None:
    """Name the analysed table's columns, whose headers ``header_words`` leaves as written."""
    _TABLE_COLUMNS.update(str(n) for n in names)


def header_words(name: str) -> str:
    """A header as words (``null_count`` -> ``null count``, ``missing_pct`` -> ``missing %``).

    A column name of the analysed table stays as written.
    """
    if not _SNAKE.match(name) or name in _TABLE_COLUMNS:
        return name
    words = name.replace("_", " ")
    return words[: -len(" pct")] + " %" if words.endswith(" pct") else words


def to_html(frame: pd.DataFrame) -> str:
    """The table as HTML, formatted (``formatted``), without the pandas index; text columns left-aligned.

    An empty table is a sentence: the one its maker left in ``attrs[EMPTY_NOTE]``, or "No rows."
    """
    if frame.empty:
        return f"<p>{escape(frame.attrs.get(EMPTY_NOTE, 'No rows.'))}</p>"
    text = formatted(frame)
    shown = frame if isinstance(frame.index, pd.RangeIndex) else frame.reset_index(names=_index_names(frame))
    kinds = {str(c): kind(c, shown[c]) for c in shown.columns}
    names = [c[-1] if isinstance(c, tuple) else str(c) for c in text.columns]
    left = [kinds.get(name, "text") == "text" for name in names]

    def cells(tag: str, values) -> str:
        return "".join(f"<{tag}{LEFT if lft else ''}>{escape(v)}</{tag}>" for v, lft in zip(values, left, strict=True))

    head = ""
    if isinstance(text.columns, pd.MultiIndex):  # a variable's name above the columns of its values
        groups = [c[0] for c in text.columns]
        spans = [(g, groups.count(g)) for g in dict.fromkeys(groups)]
        head = "<tr>" + "".join(f'<th colspan="{n}">{escape(g)}</th>' for g, n in spans) + "</tr>"
    head += f"<tr>{cells('th', [header_words(n) for n in names])}</tr>"
    rows = "".join(f"<tr>{cells('td', row)}</tr>" for row in text.itertuples(index=False))
    return f'<table class="dataframe bqlab-table"><thead>{head}</thead><tbody>{rows}</tbody></table>'


def record(values: Mapping[str, Any]) -> pd.DataFrame:
    """One row of named values (headline scores) as a table."""
    return pd.DataFrame([dict(values)])


def show_tables() -> None:
    """In IPython, display every DataFrame through ``to_html`` (see the module docstring)."""
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    if shell is not None:
        shell.display_formatter.formatters["text/html"].for_type(pd.DataFrame, to_html)
