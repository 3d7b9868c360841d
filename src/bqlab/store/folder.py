"""A folder as a destination: a shared drive, a web server's document root.

Each file is written beside its name under a temporary name and then renamed into place (a rename
within a folder is atomic), so a reader sees the old file or the new one, never half of one. A
create-only put links the temporary file to its name, which fails if the name exists.
"""

import contextlib
import os
import shutil
import tempfile
import time
from pathlib import Path

from bqlab.digests import md5_base64
from bqlab.errors import DataError, ParamsError

_TEMP = ".bqlab-put-"  # the temporary names of files being written (one a kill left goes after an hour)


class FolderDestination:
    """Publishes into a folder."""

    def __init__(self, to: str, root: Path) -> None:
        self.where = to
        self.path = (Path(root) / Path(to).expanduser()).resolve()
        if self.path.exists() and not self.path.is_dir():
            raise ParamsError(f"publish to {to!r}: {self.path} is a file, not a folder; name a folder")

    def listing(self) -> dict[str, str]:
        """Every file under the folder, with the MD5 of its bytes (temporary files left out)."""
        if not self.path.is_dir():
            return {}
        found = {}
        for folder, _, files in os.walk(self.path):
            for name in files:
                if name.startswith(_TEMP):  # a copy a killed publisher left: gone after an hour
                    _remove_if_old(Path(folder) / name)
                    continue
                if name.startswith(".bqlab-"):  # the lock and the marker: not published files
                    continue
                path = Path(folder) / name
                found[path.relative_to(self.path).as_posix()] = md5_base64(path)
        return found

    def put(self, name: str, path: Path, content_type: str, cache_control: str, create_only: bool = False) -> bool:
        """Copy ``path`` to ``name`` through a temporary file and a rename (or a link, if ``create_only``)."""
        target = self.path / name
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            handle, temp_name = tempfile.mkstemp(prefix=_TEMP, dir=target.parent)  # unique, whoever writes
            os.close(handle)
            temp = Path(temp_name)
            try:
                shutil.copyfile(path, temp)
                os.chmod(temp, 0o644)
                if not create_only:
                    os.replace(temp, target)
                    return True
                try:
                    os.link(temp, target)
                except FileExistsError:
                    return md5_base64(target) == md5_base64(path)  # there already (ours, if the same bytes)
                except OSError:  # a file system without hard links (some network shares): check, then rename
                    if target.exists():
                        return False
                    os.replace(temp, target)
                return True
            finally:
                temp.unlink(missing_ok=True)
        except OSError as err:
            raise DataError(f"writing {target}: {err.strerror or err}; publish to a folder you can write") from err

    def delete(self, name: str) -> None:
        """Remove ``name``, and the folders it leaves empty."""
        target = self.path / name
        target.unlink(missing_ok=True)
        for folder in target.parents:
            if folder == self.path or not folder.is_relative_to(self.path):
                break
            try:
                folder.rmdir()
            except OSError:
                break

    def links(self, name: str) -> list[str]:
        """The file's URI."""
        return [(self.path / name).as_uri()]

    def read(self, name: str) -> bytes | None:
        """The file's bytes, or None."""
        try:
            return (self.path / name).read_bytes()
        except FileNotFoundError:
            return None

    def fetch(self, name: str, path: Path) -> bool:
        """Copy the file to ``path``; False if it is not there."""
        try:
            shutil.copyfile(self.path / name, path)
            return True
        except FileNotFoundError:
            return False

    def create(self, name: str, data: bytes) -> str | None:
        """Create the file only if it is not there (O_EXCL); its version (inode and time), or None."""
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            handle = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return None
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        return _version(os.stat(target))

    def version(self, name: str) -> tuple[str, float, bytes] | None:
        """(inode and time, age, bytes) of the file, or None."""
        target = self.path / name
        try:
            stat, data = os.stat(target), target.read_bytes()
        except FileNotFoundError:
            return None
        return _version(stat), time.time() - stat.st_mtime, data

    def delete_version(self, name: str, version: str) -> bool:
        """Remove the file if it is still that version (a check then an unlink: a folder has no better)."""
        target = self.path / name
        try:
            if _version(os.stat(target)) != version:
                return False
            target.unlink()
        except FileNotFoundError:
            return False
        return True


def _remove_if_old(path: Path, seconds: float = 3600) -> None:
    with contextlib.suppress(OSError):
        if time.time() - path.stat().st_mtime > seconds:
            path.unlink()


def _version(stat: os.stat_result) -> str:
    return f"{stat.st_ino}-{stat.st_mtime_ns}"
