import pandas as pd
import pytest

from bqlab.analysis import tables


def _cells(frame):
    return tables.formatted(frame).to_dict("records")


@pytest.mark.parametrize(
    "name, values, kind",
    [
        ("rows", [1, 2], "count"),
        ("missing_pct", [0.5, 1.0], "percent"),
        ("share", [0.5, 1.0], "percent"),
        ("accuracy", [0.98, 1.0], "score"),
        ("cv_macro_f1_mean", [0.98], "score"),
        ("r2", [0.9], "score"),
        ("body_mass_g", [4200.0], "measurement"),
        ("species", ["a"], "text"),
        ("member", [True], "text"),
    ],
)
def test_each_column_gets_its_kind_from_name_and_type(name, values, kind):
    assert tables.kind(name, pd.Series(values)) == kind


def test_counts_percentages_and_scores_have_one_format_each_and_no_index_is_shown():
    frame = pd.DataFrame({"rows": [1234, 5], "share_pct": [44.186, 1.5], "accuracy": [0.981818, 1.0]})
    assert _cells(frame) == [
        {"rows": "1,234", "share_pct": "44.2%", "accuracy": "0.982"},
        {"rows": "5", "share_pct": "1.5%", "accuracy": "1.000"},
    ]
    html = tables.to_html(frame)
    assert "<th>0</th>" not in html and "<th></th>" not in html and "0.981818" not in html


def test_statistics_of_a_column_keep_its_precision_and_show_its_unit():
    stats = pd.DataFrame(
        {
            "column": ["culmen_length_mm", "body_mass_g", "score", "price_usd"],
            "count": [151, 151, 9, 400],
            "mean": [38.791391, 4201.754386, 0.123456, 1243.6],
            "std": [2.663405, 801.954536, 0.01, 540.158],
            "min": [32.1, 2700.0, 0.1, 168.9],
            "max": [46.0, 6300.0, 0.25, 2293.17],
        }
    )
    rows = _cells(stats)
    assert rows[0] == {
        "column": "culmen_length_mm",
        "unit": "mm",
        "count": "151",
        "mean": "38.79",
        "std": "2.66",
        "min": "32.1",
        "max": "46.0",
    }, "observed values at the column's one decimal; mean and spread with one more"
    assert (rows[1]["mean"], rows[1]["min"], rows[1]["max"]) == ("4,201.8", "2,700", "6,300"), "grams: whole"
    assert (rows[2]["unit"], rows[2]["mean"]) == ("", "0.12"), "two decimals: the mean gets no third"
    assert (rows[3]["unit"], rows[3]["mean"], rows[3]["min"]) == ("USD", "1,243.60", "168.90")


def test_any_other_measurement_gets_four_significant_digits():
    frame = pd.DataFrame({"value": [31.8123456, 12345.678], "mean price": [1433.231, 3.25]})
    assert _cells(frame) == [{"value": "31.81", "mean price": "1,433"}, {"value": "12,346", "mean price": "3.25"}]


def test_a_named_index_becomes_columns_and_class_columns_keep_the_label_above_them():
    counts = pd.DataFrame(
        {"Adelie": [44, 56], "Gentoo": [124, 0]},
        index=pd.MultiIndex.from_tuples([("island", "Biscoe"), ("island", "Dream")], names=["column", "value"]),
    )
    counts.columns.name = "species"
    text = tables.formatted(counts)
    assert list(text.columns) == [("", "column"), ("", "value"), ("species", "Adelie"), ("species", "Gentoo")]
    assert text.iloc[0].tolist() == ["island", "Biscoe", "44", "124"]
    split = pd.DataFrame({"train": [125, 275], "test": [27, 69]}, index=pd.Index(["Adelie", "total"], name="species"))
    assert _cells(split)[1] == {"species": "total", "train": "275", "test": "69"}


def test_missing_values_show_as_empty_cells_not_nan():
    frame = pd.DataFrame({"numeric_text_pct": [None, 12.0], "name": ["a", None]})
    assert _cells(frame) == [{"numeric_text_pct": "", "name": "a"}, {"numeric_text_pct": "12.0%", "name": ""}]


def test_notebooks_show_every_dataframe_through_the_formatter():
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        tables.show_tables()
        data, _ = shell.display_formatter.format(pd.DataFrame({"accuracy": [0.981818]}))
        assert "0.982" in data["text/html"] and "0.981818" not in data["text/html"]
    finally:
        shell.display_formatter.formatters["text/html"].pop(pd.DataFrame, None)
        InteractiveShell.clear_instance()


def test_an_empty_table_is_the_sentence_its_maker_left_or_says_there_are_no_rows():
    empty = pd.DataFrame(columns=["slice", "rows"])
    assert tables.to_html(empty) == "<p>No rows.</p>"
    empty.attrs[tables.EMPTY_NOTE] = "No slice: <none>."
    assert tables.to_html(empty) == "<p>No slice: &lt;none&gt;.</p>"


def test_text_columns_are_left_aligned_and_a_variable_names_the_columns_of_its_values():
    counts = pd.DataFrame({"Adelie": [44], "Gentoo": [124]}, index=pd.Index(["Biscoe"], name="island"))
    counts.columns.name = "species"
    html = tables.to_html(counts)
    assert '<tr><th colspan="1"></th><th colspan="2">species</th></tr>' in html
    assert '<td style="text-align: left">Biscoe</td><td>44</td><td>124</td>' in html, "numbers keep the right"


def test_headers_are_words_but_the_tables_own_column_names_stay_as_written():
    from bqlab.analysis.tables import header_words, keep_column_names, to_html

    keep_column_names(["body_mass_g"])
    assert header_words("baseline_accuracy") == "baseline accuracy"
    assert header_words("null_count") == "null count" and header_words("missing_pct") == "missing %"
    assert header_words("body_mass_g") == "body_mass_g" and header_words("bill length mm") == "bill length mm"
    page = to_html(pd.DataFrame({"baseline_accuracy": [0.5], "body_mass_g": [3.0]}))
    assert "<th>baseline accuracy</th>" in page and ">body_mass_g</th>" in page
