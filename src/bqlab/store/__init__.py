"""Where published reports go: a folder or a Cloud Storage bucket, behind one small interface.

A destination lists what it holds (each name with the MD5 of its bytes, as Cloud Storage keeps
it), puts a file under a name (whole or not at all: a reader never sees half a file), optionally
only where nothing is yet (a run's files are never rewritten), and removes a name. The order in
which names are put is the publisher's (``bqlab.runner.publish``); what a destination guarantees
is that each put is atomic and each create-only put refuses to replace.

``open_destination("gs://bucket/prefix")`` is a bucket (``bqlab.store.bucket``, the official
``google-cloud-storage`` client); any other text is a folder (``bqlab.store.folder``).
"""

from pathlib import Path
from typing import Protocol

from bqlab.store.folder import FolderDestination


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


def open_destination(to: str, root: Path, api_endpoint: str | None = None) -> Destination:
    """The destination ``to`` names: ``gs://bucket/prefix``, or a folder (relative to ``root``)."""
    if to.startswith("gs://"):
        from bqlab.store.bucket import BucketDestination  # lazy: the client takes about 0.3 s to import

        return BucketDestination(to, api_endpoint)
    return FolderDestination(to, root)
