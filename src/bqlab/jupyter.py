"""Jupyter's libraries as this package loads them."""

import sys


def fast_notebook_imports() -> None:
    """Keep ``import nbformat`` (and papermill, nbconvert) under a second.

    jsonschema, which nbformat imports, builds ~35 parsers at import when the optional
    rfc3987-syntax package is present (2.8 s here), for an "iri" format check that notebook
    validation never uses. Marking that package absent makes jsonschema skip the check.
    """
    if "jsonschema" not in sys.modules:
        sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]  # None marks it absent
