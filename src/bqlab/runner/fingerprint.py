"""Fingerprints of a stage's inputs, so unchanged work is reused instead of re-run.

A stage's fingerprint covers its notebook, its resolved params, the source of every
``bqlab`` module the notebook uses (followed through imports), the data, the installed
package versions, and the fingerprints of the stages it depends on. The quick key covers
the raw bytes of every input file and is cheap to compute: when it equals the last run's,
nothing changed and no heavy library needs importing at all.
"""

import ast
import contextlib
import hashlib
import json
import platform
import re
import sys
import sysconfig
import threading
from collections.abc import Iterable, Mapping
from functools import cache, lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from bqlab.digests import digest_bytes, digest_json, file_stamp
from bqlab.errors import ParamsError
from bqlab.layers import read_layers
from bqlab.project import Project, cache_dir, read_cached, write_cached
from bqlab.sources.kinds import DEFAULT, KINDS

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # src/bqlab


# Files at least this large are hashed once per (size, mtime, inode): a data file of a gigabyte
# costs one read, not one per `make report`. Smaller files are cheaper to read than to look up.
CACHED_SIZE = 1024**2
_CHUNK = 1024**2


DIGEST_CACHE = "file-digests.json"  # under project.cache_dir()
ENVIRONMENT_CACHE = "environment-digests.json"  # likewise: environment_digest by environment_stamp
KEPT_ENVIRONMENTS = 20


def digest_cache_file() -> Path:
    """Where the digests of large files are kept: ``$XDG_CACHE_HOME/bqlab`` (``~/.cache/bqlab``)."""
    return cache_dir() / DIGEST_CACHE


def file_digest(path: Path) -> str:
    """The SHA-256 of a file's content, read in 1 MiB chunks (memory stays flat whatever its size).

    A file of at least ``CACHED_SIZE`` whose size, modification time and inode are those of the
    last time it was hashed is not read again.
    """
    stamp = file_stamp(path)
    key = str(path.resolve())
    cached = read_cached(DIGEST_CACHE) if stamp[0] >= CACHED_SIZE else None
    entries: dict[str, Any] = cached if isinstance(cached, dict) else {}
    if entries.get(key, [None])[0] == stamp:
        return entries[key][1]
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            sha.update(chunk)
    if stamp[0] >= CACHED_SIZE:
        entries = {k: v for k, v in entries.items() if Path(k).exists()}  # forget files that are gone
        entries[key] = [stamp, sha.hexdigest()]
        write_cached(DIGEST_CACHE, entries)
    return sha.hexdigest()


def digest_files(paths: Iterable[Path], base: Path | None = None) -> str:
    """Return one digest over the names and contents of the files (missing files count as absent).

    Names are taken relative to ``base`` (the bare file name without one), so the digest does
    not depend on where the project sits or on how its paths were spelt. Contents are hashed
    streaming (``file_digest``).
    """
    chunks = []
    for path in sorted(Path(p) for p in paths):
        name = str(path.relative_to(base)) if base else path.name
        chunks += [name.encode(), file_digest(path).encode() if path.is_file() else b"\x00missing"]
    return digest_bytes(*chunks)


@cache
def environment_digest() -> str:
    """Digest of the Python version and the version of every distribution the notebooks run with.

    Those are bqlab's own dependencies, all the way down, not the dev tools beside them: a laptop
    set up for tests, a CI job and the project's image then make the same stages, and one reuses
    what another made (a run store). Without bqlab's metadata (not installed), every distribution.
    Reading the metadata of some 150 distributions takes about 0.5 s, so the digest is kept under
    the environment's stamp (``environment_stamp``), which changes whenever a package does.
    """
    stamp = environment_stamp()
    cached = read_cached(ENVIRONMENT_CACHE)
    kept: dict[str, Any] = cached if isinstance(cached, dict) else {}
    if isinstance(kept.get(stamp), str):
        return kept[stamp]
    versions = sorted(f"{name}=={version}" for name, version in runtime_distributions().items())
    digest = digest_json([platform.python_version(), versions])
    # One entry per environment (a venv per clone, the image): the latest few are kept.
    write_cached(ENVIRONMENT_CACHE, {**dict(list(kept.items())[-(KEPT_ENVIRONMENTS - 1) :]), stamp: digest})
    return digest


def runtime_distributions() -> dict[str, str]:
    """The installed distributions bqlab needs to run (its requirements, theirs, ...), by name, with versions."""
    try:
        todo = [metadata.distribution("bqlab")]
    except metadata.PackageNotFoundError:
        return {_canonical(d.metadata["Name"]): d.version for d in metadata.distributions()}
    found: dict[str, str] = {}
    while todo:
        dist = todo.pop()
        name = _canonical(dist.metadata["Name"])
        if name in found:
            continue
        found[name] = dist.version
        for text in dist.requires or []:
            spec, _, marker = text.partition(";")
            required = _REQUIREMENT_NAME.match(spec.strip())
            if required is None or "extra" in marker:
                continue  # an extra's: the dev tools, or another package's options
            with contextlib.suppress(metadata.PackageNotFoundError):  # another platform's, not installed
                todo.append(metadata.distribution(required[0]))
    return found


_REQUIREMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def environment_stamp() -> str:
    """Cheap stand-in for ``environment_digest``: site-packages changes whenever a package does."""
    folders = {sysconfig.get_paths()[kind] for kind in ("purelib", "platlib")}
    return digest_json([sys.version, sorted((f, Path(f).stat().st_mtime_ns) for f in folders if Path(f).is_dir())])


# ast.parse from two threads at once (a sweep's points side by side) fails in CPython 3.11 with
# "SystemError: AST constructor recursion depth mismatch": one parse at a time.
_PARSING = threading.Lock()


@lru_cache(maxsize=1024)
def _imported_bqlab_modules(source: str) -> frozenset[str]:
    """The ``bqlab`` modules ``source`` names in its imports (kept by source: every stage reads most modules)."""
    modules = set()
    with _PARSING:
        tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names if alias.name.startswith("bqlab")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bqlab"):
            modules.add(node.module)
            modules |= {f"{node.module}.{alias.name}" for alias in node.names}
    return frozenset(modules)


def _module_file(name: str) -> Path | None:
    parts = name.split(".")[1:]
    package = PACKAGE_DIR.joinpath(*parts) / "__init__.py"  # a sub-package: its __init__
    if package.is_file():
        return package
    candidate = PACKAGE_DIR.joinpath(*parts).with_suffix(".py")
    return candidate if candidate.is_file() else None


def imported_modules(code: str) -> list[str]:
    """Return the ``bqlab`` modules ``code`` imports directly (not names imported from them)."""
    return sorted(m for m in _imported_bqlab_modules(code) if _module_file(m) is not None)


def package_files(code: str) -> set[Path]:
    """Return the ``bqlab`` source files ``code`` imports, directly or through other modules.

    Named SQL files and templates are data every module may read, so they always count.
    """
    files: set[Path] = set()
    pending = list(_imported_bqlab_modules(code))
    while pending:
        path = _module_file(pending.pop())
        if path is None or path in files:
            continue
        files.add(path)
        pending += _imported_bqlab_modules(path.read_text(encoding="utf-8"))
    data = [*PACKAGE_DIR.rglob("sql/*.sql"), *(p for p in PACKAGE_DIR.rglob("templates/**/*") if p.is_file())]
    return files | {PACKAGE_DIR / "__init__.py"} | set(data)


def notebook_code(notebook: Path) -> str:
    """Return the code cells of a notebook as one source text."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    return "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")


def _file_path(entry: Any) -> str:
    """The path of a ``local_tables`` entry: a bare path, or a mapping or object with ``path``."""
    if isinstance(entry, dict):
        return str(entry.get("path"))
    return str(getattr(entry, "path", entry))


def data_digest(table: str, local_tables: Mapping[str, Any], root: Path | None = None) -> str:
    """Digest of the table's content: the mapped file's bytes, or the embedded table's sources.

    A relative file path starts at the project ``root`` (the working folder if not given).
    """
    if table in local_tables:
        path = Path(_file_path(local_tables[table]))
        return digest_files([path if path.is_absolute() else (root or Path.cwd()) / path])
    # lazy: numpy and pandas (about 0.37 s); a no-op `bqlab report` computes only quick_key
    from bqlab.sources.datasets import EMBEDDED_TABLES

    if table in EMBEDDED_TABLES:
        # lazy: it imports pandas (about 0.35 s), off the no-op `bqlab report` path
        import palmerpenguins

        shipped = Path(palmerpenguins.__file__).parent / "data"
        return digest_files([PACKAGE_DIR / "sources" / "datasets.py", *shipped.glob("*.csv")])
    return digest_bytes(b"unknown table", table.encode())


def stage_fingerprint(notebook: Path, parameters: Mapping[str, Any], data: str, upstream: Iterable[str] = ()) -> str:
    """Return the fingerprint of one stage's inputs."""
    code_files = package_files(notebook_code(notebook))
    return digest_json(
        {
            "notebook": digest_files([notebook]),
            "parameters": parameters,
            "code": digest_bytes(*(p.read_bytes() for p in sorted(code_files))),
            "data": data,
            "environment": environment_digest(),
            "upstream": list(upstream),
        }
    )


def quick_key(
    project: Project | Path, profile: str | None, notebooks_dir: Path, point: Mapping[str, dict[str, Any]] | None = None
) -> str | None:
    """Digest of the raw bytes of every input: params, notebooks, package source, data files, versions.

    The params are read by the one reader of the raw layers (``bqlab.layers``), a sweep point's
    values (by section, ``config.point_sections``) merged last, so the data files are those the
    run will read. None when the data lives in BigQuery: a warehouse table can change while every
    local file stays the same, so only the full check (which asks for the table's metadata) can
    tell that nothing changed; None too when the params do not read (the full check says why).
    """
    project = Project.of(project)
    try:
        layers = read_layers(project.params_dir, profile, point)
    except ParamsError:
        return None
    common = layers.common
    if not getattr(KINDS.get(common.get("source", DEFAULT)), "local", False):
        return None  # a warehouse table, or a kind the params check will refuse
    tables = common.get("local_tables")
    root = project.root
    data_files = [root / _file_path(p) for p in (tables.values() if isinstance(tables, dict) else ())]
    return digest_json(
        {
            "profile": profile,
            **({"point": dict(point)} if point else {}),
            "params": digest_files(layers.files),
            "notebooks": digest_files(notebooks_dir.glob("*.ipynb")),
            "package": digest_files(
                (p for p in PACKAGE_DIR.rglob("*") if p.suffix in {".py", ".sql", ".j2", ".json"}), base=PACKAGE_DIR
            ),
            "data": digest_files(data_files),
            "environment": environment_stamp(),
        }
    )
