import shutil
from pathlib import Path

import pandas as pd
import pytest

from bqlab.datasets import PENGUINS_TABLE
from bqlab.embedded import LocalSource

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def penguins_source() -> LocalSource:
    return LocalSource()


@pytest.fixture(scope="session")
def penguins_frame(penguins_source) -> pd.DataFrame:
    return penguins_source.query(f"SELECT * FROM `{PENGUINS_TABLE}`")


@pytest.fixture
def project(tmp_path) -> Path:
    """A copy of the project's params and notebooks in a temporary folder."""
    for folder in ("params", "notebooks"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    return tmp_path


def write_yaml(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
