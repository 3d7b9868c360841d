"""A folder as a destination: a shared drive, a mounted bucket, a web server's document root.

Each file is written beside its name under a temporary name and then renamed into place (a rename
within a folder is atomic), so a reader sees the old file or the new one, never half of one. A
create-only put links the temporary file to its name, which fails if the name exists.
"""

import os
import shutil
from pathlib import Path

from bqlab.digests import md5_base64
from bqlab.errors import ParamsError

_TEMP = ".bqlab-put-"  # the temporary names of files being written (left by a kill: removed by the next put)


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
                if name.startswith(_TEMP):
                    continue
                path = Path(folder) / name
                found[path.relative_to(self.path).as_posix()] = md5_base64(path)
        return found

    def put(self, name: str, path: Path, content_type: str, cache_control: str, create_only: bool = False) -> bool:
        """Copy ``path`` to ``name`` through a temporary file and a rename (or a link, if ``create_only``)."""
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f"{_TEMP}{os.getpid()}-{target.name}")
        shutil.copyfile(path, temp)
        try:
            if not create_only:
                os.replace(temp, target)
                return True
            try:
                os.link(temp, target)
            except FileExistsError:
                return False
            except OSError:  # a file system without hard links (some network shares): check, then rename
                if target.exists():
                    return False
                os.replace(temp, target)
            return True
        finally:
            temp.unlink(missing_ok=True)

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
