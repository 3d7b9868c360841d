"""Where a report came from: code version, data, params (secrets redacted), software, times."""

import os
import platform
import re
import subprocess
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from bqlab.report.header import LOCAL_ENVIRONMENT

SECRET_KEY = re.compile(r"token|passw(or)?d|secret|credential|api_?key|private_?key|(^|_)key$", re.IGNORECASE)
REDACTED = "***redacted***"
PACKAGES = (
    "pandas",
    "numpy",
    "scikit-learn",
    "duckdb",
    "sqlglot",
    "matplotlib",
    "seaborn",
    "skops",
    "papermill",
    "nbconvert",
    "google-cloud-bigquery",
)


def redact(value: Any) -> Any:
    """Return ``value`` with the values of secret-looking keys replaced, at any depth."""
    if isinstance(value, Mapping):
        return {
            k: REDACTED if SECRET_KEY.search(str(k)) and value[k] not in (None, "") else redact(value[k]) for k in value
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def git_state(root: Path) -> dict[str, Any]:
    """Return the commit and whether tracked files have uncommitted changes (None outside git).

    Untracked files (a data folder, scratch notebooks) do not count: the data has its own
    fingerprint, and code that is not tracked is not part of the commit either way.
    """

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "--short=12", "HEAD")
    if commit is None and (built := os.environ.get("BQLAB_COMMIT")):
        # In the image: no checkout, but the commit its project files were copied from,
        # written "<commit>" or "<commit>-dirty" by make docker-build.
        commit, _, state = built.partition("-")
        return {"commit": commit, "dirty": state == "dirty"}
    return {"commit": commit, "dirty": bool(git("status", "--porcelain", "--untracked-files=no")) if commit else None}


def container_image() -> str:
    """Return where the run is: the image (``BQLAB_IMAGE``, set by ``make docker-report``), or ``LOCAL_ENVIRONMENT``."""
    if os.environ.get("BQLAB_IMAGE"):
        return os.environ["BQLAB_IMAGE"]
    return "a container of an unnamed image" if Path("/.dockerenv").exists() else LOCAL_ENVIRONMENT


def software() -> dict[str, Any]:
    """Return Python's version and the versions of the packages that shape the results."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {"python": platform.python_version(), "platform": platform.platform(terse=True), "packages": versions}
