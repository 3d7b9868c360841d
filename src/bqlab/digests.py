"""SHA-256 digests of bytes and of JSON values: the keys of reuse (runs) and of the query cache."""

import hashlib
import json
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
