"""JupyterLab saves the notebooks in notebooks/ as source: their outputs go to reports/scratch/.

`make lab` and `make docker-lab` run the server with this pre-save hook, so a notebook saved after
Run All is byte for byte the committed one (``git status`` stays clean) and its executed copy,
with every output and figure, is at ``reports/scratch/<notebook>.ipynb`` (git-ignored). The
notebook stays open in Lab with its outputs; reopened, it shows the source. The same stripping
is the git filter and the pre-commit hook (``make setup``), with the same keys.
"""

from pathlib import Path
from typing import Any

import nbformat
from nbstripout import strip_output

# nbstripout's own extra keys, and the kernel's language details JupyterLab adds on every save.
EXTRA_KEYS = [
    "metadata.signature",
    "metadata.widgets",
    "metadata.language_info",
    "cell.metadata.collapsed",
    "cell.metadata.ExecuteTime",
    "cell.metadata.execution",
    "cell.metadata.heading_collapsed",
    "cell.metadata.hidden",
    "cell.metadata.scrolled",
]
SOURCE_FOLDER = "notebooks/"


def keep_source_clean(model: dict[str, Any], path: str, contents_manager, **_kwargs) -> None:
    """Jupyter server pre-save hook: copy an executed notebook to reports/scratch/, save its source."""
    if model.get("type") != "notebook" or not path.startswith(SOURCE_FOLDER):
        return

    nb = nbformat.from_dict(model["content"])
    if any(cell.get("outputs") for cell in nb.cells):
        scratch = Path(contents_manager.root_dir) / "reports" / "scratch" / Path(path).name
        scratch.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, scratch)
    model["content"] = strip_output(nb, keep_output=False, keep_count=False, keep_id=False, extra_keys=EXTRA_KEYS)
