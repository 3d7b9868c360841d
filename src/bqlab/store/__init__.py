"""Where published reports go: a folder or a Cloud Storage bucket, behind one small interface.

A destination lists what it holds (each name with the MD5 of its bytes, as Cloud Storage keeps
it), puts a file under a name (whole or not at all: a reader never sees half a file), optionally
only where nothing is yet (a run's files are never rewritten), and removes a name. The order in
which names are put is the publisher's (``bqlab.runner.publish``); what a destination guarantees
is that each put is atomic and each create-only put refuses to replace.

``open_destination("gs://bucket/prefix")`` is a bucket (``bqlab.store.bucket``, the official
``google-cloud-storage`` client); any other text is a folder (``bqlab.store.folder``).
"""

import contextlib
import json
import os
import random
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from bqlab.errors import DataError
from bqlab.store.folder import FolderDestination
from bqlab.store.urls import check_destination

LOCK = ".bqlab-lock"  # the lock object at the destination's root, while a publisher writes its shared pages
# A lock older than this is a publisher that died holding it: the next one takes it over.
STALE_SECONDS = 3600


class Destination(Protocol):
    """A place to publish to."""

    where: str  # as the user wrote it, for messages

    def listing(self) -> dict[str, str]:
        """Every name held, relative to the destination, with the base64 MD5 of its bytes."""
        ...

    def put(self, name: str, path: Path, content_type: str, cache_control: str, create_only: bool = False) -> bool:
        """Store ``path``'s bytes under ``name``, whole or not at all; False if ``create_only`` and it is there."""
        ...

    def delete(self, name: str) -> None:
        """Remove ``name`` (nothing if it is not there)."""
        ...

    def links(self, name: str) -> list[str]:
        """Where a reader opens ``name``: URLs, the most widely usable first."""
        ...

    def read(self, name: str) -> bytes | None:
        """The bytes held under ``name``, or None if there is none."""
        ...

    def fetch(self, name: str, path: Path) -> bool:
        """Write the bytes held under ``name`` to ``path``, streamed; False if there is none."""
        ...

    def create(self, name: str, data: bytes) -> str | None:
        """Store ``data`` under ``name`` only if nothing is there; the version made, or None if refused."""
        ...

    def version(self, name: str) -> tuple[str, float, bytes] | None:
        """(version, age in seconds, bytes) of what ``name`` holds, or None if nothing."""
        ...

    def delete_version(self, name: str, version: str) -> bool:
        """Remove ``name`` only if it still holds ``version``; whether it did."""
        ...


def open_destination(to: str, root: Path, api_endpoint: str | None = None) -> Destination:
    """The destination ``to`` names: ``gs://bucket/prefix``, or a folder (relative to ``root``)."""
    if check_destination(to).startswith("gs://"):
        from bqlab.store.bucket import BucketDestination  # lazy: the client takes about 0.3 s to import

        return BucketDestination(to, api_endpoint)
    return FolderDestination(to, root)


def holder() -> str:
    """Who takes a lock: host and process, for the message another publisher reads."""
    return f"{socket.gethostname()} pid {os.getpid()}"


@contextlib.contextmanager
def locked(
    destination: Destination,
    wait_seconds: float = 300,
    stale_seconds: float = STALE_SECONDS,
    echo: Callable[[str], None] = print,
) -> Iterator[None]:
    """Hold the destination's lock: one publisher at a time writes the pages that list runs.

    The lock is an object created only if absent (on a bucket, ``ifGenerationMatch=0``) and
    removed only if it is still the one made (its generation), so two publishers never both hold
    it, and one never removes another's. A busy lock is waited for up to ``wait_seconds``; one
    older than ``stale_seconds`` was left by a publisher that died, and is taken over.

    Raises:
        DataError: still held by another publisher after ``wait_seconds``.
    """
    since = datetime.now(UTC).isoformat(timespec="seconds")
    mine = json.dumps({"holder": holder(), "since": since, "token": uuid.uuid4().hex}).encode()  # this holder's only
    deadline, said = time.monotonic() + wait_seconds, False
    while (made := destination.create(LOCK, mine)) is None:
        held = destination.version(LOCK)
        if held is None:
            continue  # released meanwhile
        version, age, data = held
        if age > stale_seconds:
            echo(f"taking over the lock of {destination.where}: {_holder_of(data)} left it {age / 60:.0f} min ago")
            destination.delete_version(LOCK, version)
            continue
        if time.monotonic() > deadline:
            raise DataError(
                f"{destination.where} is locked by another publisher ({_holder_of(data)}, {age:.0f} s ago); "
                f"try again when it has finished (a lock older than {stale_seconds / 60:.0f} min is taken over)"
            )
        if not said:
            echo(f"waiting for another publisher to finish ({_holder_of(data)}) ...")
            said = True
        time.sleep(0.2 + random.random() * 0.6)
    try:
        yield
    finally:
        destination.delete_version(LOCK, made)


def _holder_of(data: bytes) -> str:
    try:
        value = json.loads(data)
        return f"{value['holder']}, since {value['since']}"
    except (ValueError, KeyError, TypeError):
        return "an unreadable lock"
