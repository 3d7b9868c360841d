import pytest

from bqlab.errors import DataError
from bqlab.sources.identifiers import (
    column_literal,
    quote_column,
    quote_table,
    split_table_id,
    validate_column,
    validate_table_id,
)


@pytest.mark.parametrize(
    "table_id, parts",
    [
        ("bigquery-public-data.ml_datasets.penguins", ("bigquery-public-data", "ml_datasets", "penguins")),
        ("my-project-123.sales.orders_2024", ("my-project-123", "sales", "orders_2024")),
        ("example.com:my-project.ds.t", ("example.com:my-project", "ds", "t")),
        ("dataset.table", (None, "dataset", "table")),
    ],
)
def test_valid_table_ids_split_into_parts(table_id, parts):
    assert validate_table_id(table_id) == table_id
    assert split_table_id(table_id) == parts


@pytest.mark.parametrize(
    "table_id",
    [
        "penguins",  # no dataset
        "a.b.c.d",  # four parts
        "proj.ds.t; DROP TABLE x",  # statement injection
        "proj.ds.t` UNION ALL SELECT 1 --",  # backtick escape
        "Bad_Project.ds.t",  # project ids are lowercase
        "my project.ds.t",
        "proj.ds.t'--",
        "",
    ],
)
def test_invalid_table_ids_are_rejected_with_the_accepted_form(table_id):
    with pytest.raises(DataError, match="is not valid: use 'project.dataset.table'"):
        validate_table_id(table_id)


def test_quoting_wraps_validated_names_in_backticks():
    assert quote_table("proj-1x.ds.t") == "`proj-1x.ds.t`"
    assert quote_column("body_mass_g") == "`body_mass_g`"


@pytest.mark.parametrize(
    "name", ["bill length mm", "bill-depth-mm", "île", "2nd_visit", "it's", "温度", "a&b=c", "naïve ø", "x" * 300]
)
def test_names_bigquery_accepts_as_flexible_column_names_are_valid(name):
    assert validate_column(name) == name
    assert quote_column(name) == f"`{name}`"


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("x`", "'`' is not allowed"),
        ("sex; DROP", "';' is not allowed"),
        ("a.b", "'.' is not allowed"),
        ("a\\b", "'\\\\' is not allowed"),
        ('say "hi"', "'\"' is not allowed"),
        (" lead", "starts or ends with a space"),
        ("_TABLE_x", "does not start with _TABLE_"),
        ("x" * 301, "at most 300"),
        ("", "holds letters"),
    ],
)
def test_names_bigquery_refuses_are_rejected_with_the_rule(name, why):
    with pytest.raises(DataError, match="column name .* is not valid") as err:
        validate_column(name)
    assert why in str(err.value)


def test_a_column_name_with_an_apostrophe_is_a_safe_string_literal(penguins_source):
    assert column_literal("it's") == "'it\\'s'"
    assert penguins_source.query(f"SELECT {column_literal('it' + chr(39) + 's')} AS name")["name"].tolist() == ["it's"]
