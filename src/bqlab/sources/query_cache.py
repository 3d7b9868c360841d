"""Query results kept on disk as Parquet, so a re-run on unchanged data bills zero bytes.

A result's key is a digest of the SQL text, the parameter values, and the version of every
table the query reads (last-modified time, rows and bytes, from a free metadata call): when
a table changes, its queries miss the cache. A cache file that cannot be read is ignored with a warning,
removed, and the query runs again.
"""

import contextlib
import fcntl
import os
import threading
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from bqlab.digests import digest_json


def switched_off() -> bool:
    """Whether ``BQLAB_QUERY_CACHE=off`` (``make report NO_CACHE=1``): no result is read or kept, on any source."""
    return os.environ.get("BQLAB_QUERY_CACHE", "on") == "off"


def _locked(lock: Path):
    """Open ``lock`` and wait for its flock; None where the folder cannot be written or locked.

    A lock file is removed by its holder when it kept nothing (and by ``_bound`` when an hour
    old): a process that waited on the removed file holds nothing, so it takes the new one.
    """
    while True:
        try:
            lock.parent.mkdir(parents=True, exist_ok=True)
            handle = open(lock, "a")  # noqa: SIM115 - the caller closes it, which unlocks it
        except OSError:
            return None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
        except OSError:  # ENOLCK, EOPNOTSUPP
            handle.close()
            return None
        if _same_file(handle, lock):
            with contextlib.suppress(OSError):
                os.utime(lock)  # in use: not an hour-old lock that _bound removes
            return handle
        handle.close()


def _same_file(handle, path: Path) -> bool:
    """Whether ``handle`` is still the file at ``path`` (not one removed since it was opened)."""
    try:
        held, now = os.fstat(handle.fileno()), os.stat(path)
    except FileNotFoundError:
        return False
    except OSError:  # cannot tell: as good as the lock gets there
        return True
    return (held.st_dev, held.st_ino) == (now.st_dev, now.st_ino)


class QueryCache:
    """A folder of Parquet files, one per (SQL, parameters, table versions)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    @staticmethod
    def key(sql: str, params: Mapping[str, Any] | None, table_versions: Mapping[str, Any]) -> str:
        """Return the cache key of a query against tables at the given versions."""
        return digest_json({"sql": sql, "params": dict(params or {}), "tables": dict(table_versions)})

    def holds(self, key: str) -> bool:
        """Whether a result is kept under ``key`` (``get`` may still find it unreadable)."""
        return (self.folder / f"{key}.parquet").is_file()

    def get(self, key: str) -> pd.DataFrame | None:
        """Return the cached result, or None when there is none or it is unreadable."""
        path = self.folder / f"{key}.parquet"
        try:
            frame = pd.read_parquet(path)
        except FileNotFoundError:  # none, or removed by another process's size bound meanwhile
            return None
        except Exception as err:  # noqa: BLE001 - any unreadable file is treated the same way
            message = f"ignoring unreadable query cache file {path} ({type(err).__name__}); the query runs again"
            warnings.warn(message, stacklevel=2)
            path.unlink(missing_ok=True)
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # used now: the last a size bound removes
        return frame

    @contextlib.contextmanager
    def computing(self, key: str):
        """Hold ``key`` while its result is looked up, computed and kept: one process computes, the others wait.

        Two notebooks that send the same statement at once (the data analysis and the training
        both read the split's rows; a sweep's points) then compute it once: the second finds the
        first one's kept result. An advisory lock (flock) on ``locks/<key>``, given back when the
        process ends however it ends.
        """
        lock = self.folder / "locks" / key
        handle = _locked(lock)
        if handle is None:  # a folder that cannot be written or locked (NFS without its lock
            yield  # service): computed here, as a result that cannot be kept
            return
        try:
            yield
        finally:
            try:
                if not self.holds(key):  # nothing kept to wait for (a quick statement): no lock file left
                    with contextlib.suppress(OSError):
                        lock.unlink(missing_ok=True)
            finally:
                handle.close()

    def put(self, key: str, frame: pd.DataFrame, max_bytes: int | None = None) -> None:
        """Store a result (written under a temporary name, then renamed into place).

        With ``max_bytes``, the results used longest ago are then removed until the folder holds no more.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{key}.{os.getpid()}-{threading.get_ident()}.tmp"  # a sweep's points are threads
        try:
            frame.to_parquet(tmp, index=False)
            os.replace(tmp, self.folder / f"{key}.parquet")
        finally:
            tmp.unlink(missing_ok=True)
        if max_bytes is not None:
            self._bound(max_bytes)

    def _bound(self, max_bytes: int) -> None:
        for tmp in self.folder.glob(".*.tmp"):  # left by a process killed while writing, an hour ago or more
            with contextlib.suppress(OSError):
                if time.time() - tmp.stat().st_mtime > 3600:
                    tmp.unlink()
        for lock in self.folder.glob("locks/*"):  # of results long gone, and held by nobody now
            with contextlib.suppress(OSError):
                if time.time() - lock.stat().st_mtime > 3600:
                    with open(lock, "a") as handle:
                        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        if _same_file(handle, lock):
                            lock.unlink()
        kept = []
        for path in self.folder.glob("*.parquet"):
            try:
                stat = path.stat()
            except OSError:  # removed by another process meanwhile
                continue
            kept.append((stat.st_mtime_ns, stat.st_size, path))
        total = sum(size for _, size, _ in kept)
        for _, size, path in sorted(kept):
            if total <= max_bytes:
                break
            path.unlink(missing_ok=True)
            total -= size
