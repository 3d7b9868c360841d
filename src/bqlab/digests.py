"""Digests of bytes, JSON values and files.

SHA-256: the keys of reuse (runs) and of the query cache. A file's MD5 as Cloud Storage reports
it: what publishing compares.
"""

import base64
import hashlib
import json
from pathlib import Path
from typing import Any


def digest_bytes(*chunks: bytes) -> str:
    """Return the SHA-256 of the chunks, each length-prefixed so boundaries count."""
    sha = hashlib.sha256()
    for chunk in chunks:
        sha.update(len(chunk).to_bytes(8, "big"))
        sha.update(chunk)
    return sha.hexdigest()


def digest_json(value: Any) -> str:
    """Return the SHA-256 of a value's canonical JSON."""
    return digest_bytes(json.dumps(value, sort_keys=True, default=str).encode())


def file_stamp(path: Path) -> list[int]:
    """A file's size, modification time and inode: what stands for its content unread (it raises OSError).

    The runner's cached digests of large files and the embedded engine's kept results use it.
    """
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns, stat.st_ino]


def md5_base64(path: Path) -> str:
    """The base64 MD5 of a file's bytes, as Cloud Storage reports an object's ``md5Hash``."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return base64.b64encode(digest.digest()).decode("ascii")
