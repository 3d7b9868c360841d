"""The project (``Project``): its root folder and the params folder it reads, as one object.

Relative paths in params (``local_tables``, ``cache_dir``) start at the root; every reader of
params (the typed loader, the no-op key, sweeps, the doctor, the CLI) takes a Project. Params
keep those paths as written, so no report, executed notebook or run record holds a machine
path; they are resolved where files are opened. The runner tells its kernels the root in
``$BQLAB_PROJECT_ROOT``; a notebook run by hand finds it from its working folder.
"""

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bqlab.errors import ParamsError

ROOT_VARIABLE = "BQLAB_PROJECT_ROOT"


def find_root(start: Path | None = None) -> Path | None:
    """``$BQLAB_PROJECT_ROOT``, else the nearest folder from ``start`` (the working folder) up with params/."""
    if os.environ.get(ROOT_VARIABLE):
        return Path(os.environ[ROOT_VARIABLE])
    here = (start or Path.cwd()).resolve()
    return next((f for f in (here, *here.parents) if (f / "params" / "common.yaml").is_file()), None)


def root_of(params_dir: Path) -> Path:
    """The project root for a params folder: the one place that says where relative paths in params start.

    ``<root>/params`` gives ``<root>``. Any other folder (``make report PARAMS=elsewhere``) gives the
    project the command runs in (``find_root``): paths in params start at the project root
    whatever params folder is used; with no project around, at the params folder's parent.
    """
    params_dir = params_dir.resolve()
    if params_dir.name == "params":
        return params_dir.parent
    return find_root() or params_dir.parent


@dataclass(frozen=True)
class Project:
    """A project's root (where relative paths in params start) and the params folder it reads."""

    root: Path
    params_dir: Path

    @classmethod
    def of(cls, params: "Project | str | Path") -> "Project":
        """The project of a params folder, kept as written (``root_of`` says where its root is); a Project as it is.

        The folder stays as the user wrote it (``params``), so messages and sweep pages name it so.
        """
        if isinstance(params, Project):
            return params
        return cls(root_of(Path(params)), Path(params))

    def resolved(self) -> "Project":
        """The same project with its params folder as an absolute path (what a run records)."""
        return Project(self.root, self.params_dir.resolve())

    @classmethod
    def found(cls, start: Path | None = None) -> "Project":
        """The project around the working folder (``project_root``), with its own params folder."""
        root = project_root(start)
        return cls(root, root / "params")

    def rooted(self, path: str | Path) -> Path:
        """``path`` as written in params, resolved against the root unless absolute."""
        return rooted(path, self.root)


def project_root(start: Path | None = None) -> Path:
    """The project's root folder (see ``find_root``).

    Raises:
        ParamsError: when no folder from the working folder up holds params/common.yaml.
    """
    root = find_root(start)
    if root is None:
        raise ParamsError(
            f"no params/common.yaml in {(start or Path.cwd()).resolve()} or any folder above it: open the "
            "notebook from the project's notebooks/ folder (make lab), or start papermill in the project"
        )
    return root


def rooted(path: str | Path, root: Path) -> Path:
    """``path`` as written in params, resolved against the project root unless absolute."""
    return Path(path) if Path(path).is_absolute() else root / path


def shown(path: str | Path, *bases: Path | None) -> str:
    """``path`` relative to the first of ``bases`` that holds it (as a person reads it), else absolute."""
    path = Path(path).resolve()
    for base in bases:
        if base is not None and path.is_relative_to(base.resolve()):
            return str(path.relative_to(base.resolve()))
    return str(path)


def write_atomically(path: Path, text: str) -> Path:
    """Write ``text`` to a temporary name beside ``path``, then rename it into place."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def cache_dir() -> Path:
    """Where bqlab keeps what it can compute again: ``$XDG_CACHE_HOME/bqlab`` (``~/.cache/bqlab``)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "bqlab"


def read_cached(name: str) -> Any:
    """The JSON value kept under ``name`` in ``cache_dir()``, or None if absent or unreadable."""
    try:
        return json.loads((cache_dir() / name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_cached(name: str, value: Any) -> None:
    """Keep ``value`` as JSON under ``name`` in ``cache_dir()``; a cache that cannot be written is only slower.

    The file is written under a name of this process and renamed into place, so processes that
    write at once never leave a half-written file.
    """
    path = cache_dir() / name
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(value), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass
