"""Outputs stored once by content: a file identical to one already kept is a hard link to it.

Layout: ``reports/runs/.store/<sha256>`` holds one copy of each output of 16 KiB or more that a
finished run has (models, figures, reports); the file in the run folder is a hard link to it.
Links keep every run folder whole and readable as it is (open it, copy it, zip it), with no
pointer to follow; a forced run that trains the same model again (same rows, same seed: the same
bytes, ``bqlab.analysis.modeling.save_model``) adds no bytes for it. When runs are removed, a
stored copy that no run links any more is removed too (``collect``).

Sizes: a run's ``bytes`` are the bytes of its files; its ``own`` bytes are those no other run
shares, the bytes its removal frees.
"""

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

STORE = ".store"  # under reports/runs/: hidden, so never listed as a run
MIN_BYTES = 16 * 1024  # smaller files are not worth a link
_CHUNK = 1024 * 1024


def store_dir(reports_dir: Path) -> Path:
    """The content store of a reports folder."""
    return reports_dir / "runs" / STORE


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            sha.update(chunk)
    return sha.hexdigest()


def _files(folder: Path) -> Iterable[Path]:
    return (p for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink())


def store_outputs(run_dir: Path, store: Path) -> int:
    """Link each large file of ``run_dir`` to its stored copy (storing it first if new); return bytes saved.

    A file already linked to a stored copy (a stage reused from an earlier run) is not read again.
    Where the file system refuses a link the file stays as it is: nothing is lost, only not shared.
    """
    store.mkdir(parents=True, exist_ok=True)
    stored = {(s.st_dev, s.st_ino) for s in (e.stat() for e in os.scandir(store) if e.is_file())}
    saved = 0
    for path in _files(run_dir):
        info = path.stat()
        if info.st_size < MIN_BYTES or (info.st_dev, info.st_ino) in stored:
            continue
        kept = store / _digest(path)
        try:
            if kept.is_file() and kept.stat().st_size == info.st_size:
                link = path.with_name(f".{path.name}.link")
                os.link(kept, link)
                os.replace(link, path)  # atomic: the run's file is whole at every moment
                saved += info.st_size
            else:
                link = kept.with_name(f".{kept.name}.new")
                link.unlink(missing_ok=True)
                os.link(path, link)
                os.replace(link, kept)
            stored.add((kept.stat().st_dev, kept.stat().st_ino))
        except OSError:
            continue
    return saved


def collect(store: Path) -> int:
    """Remove stored copies no run links any more (and what a killed store left); return bytes freed."""
    freed = 0
    if not store.is_dir():
        return 0
    for entry in os.scandir(store):
        info = entry.stat(follow_symlinks=False)
        if entry.name.startswith(".") or info.st_nlink <= 1:
            os.unlink(entry.path)
            freed += info.st_size
    return freed


@dataclass(frozen=True)
class Size:
    """A run's size: all its bytes, and its own (those no other run shares: what removing it frees)."""

    bytes: int
    own: int


def run_files(reports_dir: Path, run_ids: Iterable[str]) -> dict[str, dict[tuple[int, int], int]]:
    """Each run's files, as {(device, inode): bytes}: a file linked into several runs has one key."""
    found = {}
    for run_id in run_ids:
        folder = reports_dir / "runs" / run_id
        found[run_id] = {(s.st_dev, s.st_ino): s.st_size for s in (p.stat() for p in _files(folder))}
    return found


def sizes(files: dict[str, dict[tuple[int, int], int]]) -> dict[str, Size]:
    """Each run's size among ``files`` (``run_files``): its bytes, and those no other run there shares."""
    holders: dict[tuple[int, int], int] = {}
    for inodes in files.values():
        for key in inodes:
            holders[key] = holders.get(key, 0) + 1
    return {
        run_id: Size(sum(inodes.values()), sum(n for key, n in inodes.items() if holders[key] == 1))
        for run_id, inodes in files.items()
    }


def total_bytes(files: dict[str, dict[tuple[int, int], int]]) -> int:
    """The bytes ``files`` (``run_files``) take on disk: each linked file counted once."""
    return sum({key: n for inodes in files.values() for key, n in inodes.items()}.values())


def megabytes(n: int) -> str:
    """``n`` bytes as the runner prints sizes: ``12.3 MB`` (decimal megabytes)."""
    return f"{n / 1e6:,.1f} MB"
