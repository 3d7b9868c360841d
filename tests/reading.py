"""What a reader of the findings version would see that is not meant for a reader."""

from pathlib import Path

import nbformat

READABLE = {"text/html", "text/markdown", "image/png", "image/svg+xml"}


def unreadable_results(run_dir: Path) -> list[str]:
    """Outputs outside ``analyst-only`` cells that are only text: a repr, a quoted string or stdout.

    Every result a findings page shows must be a formatted table, a sentence or a figure.
    """
    found = []
    for path in sorted(run_dir.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for number, cell in enumerate(nb.cells):
            if cell.cell_type != "code" or "analyst-only" in cell.metadata.get("tags", []):
                continue
            for output in cell.get("outputs", []):
                if output.output_type == "stream":
                    found.append(f"{path.name} cell {number}: {output.name} {output.text[:80]!r}")
                elif output.output_type in ("execute_result", "display_data") and not READABLE & set(output.data):
                    found.append(f"{path.name} cell {number}: {output.data.get('text/plain', '')[:80]!r}")
    return found
