"""A Cloud Storage bucket as a destination, with the official ``google-cloud-storage`` client.

Credentials are found as BigQuery's are (Application Default Credentials), with the same
messages when there are none. An object is uploaded whole or not at all (a single request for a
small file, a resumable session for a large one: Cloud Storage makes an object visible only once
complete), and a create-only upload carries ``ifGenerationMatch=0``, which the service refuses if
the name exists. ``api_endpoint`` (or ``STORAGE_EMULATOR_HOST``) points the client at a local
emulator, without credentials.
"""

import os
from pathlib import Path

from google.api_core import exceptions as api_errors
from google.auth import exceptions as auth_errors
from google.auth.credentials import AnonymousCredentials
from google.cloud.storage import Client as StorageClient

from bqlab.errors import DataError
from bqlab.gcloud import auth_text, credentials_fix, unreadable_key
from bqlab.store.urls import split_bucket_url

# Objects up to this size go up in one request (whole or not at all); larger ones in a resumable
# session of chunks this size, which also becomes visible only once complete.
CHUNK_BYTES = 8 * 1024 * 1024


def explain(err: BaseException, what: str) -> DataError:
    """A client error as a message that keeps the service's words and says how to fix it."""
    if isinstance(err, auth_errors.DefaultCredentialsError):
        return DataError(f"Google Cloud credentials: {auth_text(err)}. To fix: {credentials_fix()}")
    if isinstance(err, auth_errors.RefreshError | api_errors.Unauthorized):
        return DataError(
            f"{what}: the credentials were refused ({auth_text(err)}); they may have expired or "
            f"been revoked. To fix: {credentials_fix()}"
        )
    message = getattr(err, "message", None) or str(err)
    if isinstance(err, api_errors.NotFound):
        return DataError(f"{what}: not found ({message}); check the bucket's name, or create it")
    if isinstance(err, api_errors.Forbidden):
        return DataError(
            f"{what}: permission denied ({message}); the account needs roles/storage.objectAdmin "
            "on the bucket (or objectCreator, objectViewer and, to replace index.html, objectUser)"
        )
    return DataError(f"{what}: {type(err).__name__}: {message}")


class BucketDestination:
    """Publishes into ``gs://bucket/prefix``."""

    def __init__(self, to: str, api_endpoint: str | None = None) -> None:
        self.where = to
        self.bucket_name, self.prefix = split_bucket_url(to)
        endpoint = api_endpoint or os.environ.get("STORAGE_EMULATOR_HOST")
        try:
            if endpoint:  # a local emulator: no credentials
                self.client = StorageClient(
                    project="bqlab-emulator",
                    credentials=AnonymousCredentials(),
                    client_options={"api_endpoint": endpoint},
                )
            else:
                self.client = StorageClient()
        except auth_errors.DefaultCredentialsError as err:
            raise explain(err, "Cloud Storage client") from err
        except OSError as err:
            raise DataError(unreadable_key(err)) from err
        self.bucket = self.client.bucket(self.bucket_name)

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def listing(self) -> dict[str, str]:
        """Every object under the prefix, with its MD5 (a composite object has none: it is sent again)."""
        start = f"{self.prefix}/" if self.prefix else ""
        try:
            blobs = list(self.client.list_blobs(self.bucket_name, prefix=start or None))
        except Exception as err:  # the client's errors, credentials' included
            raise explain(err, f"listing {self.where}") from err
        return {blob.name[len(start) :]: blob.md5_hash or "" for blob in blobs}

    def put(self, name: str, path: Path, content_type: str, cache_control: str, create_only: bool = False) -> bool:
        """Upload ``path`` as ``name``; with ``create_only``, only if no object has that name."""
        blob = self.bucket.blob(self._key(name), chunk_size=CHUNK_BYTES if path.stat().st_size > CHUNK_BYTES else None)
        blob.cache_control = cache_control
        try:
            blob.upload_from_filename(
                str(path), content_type=content_type, if_generation_match=0 if create_only else None
            )
        except api_errors.PreconditionFailed:
            return False
        except Exception as err:
            raise explain(err, f"uploading {path} to {self.where}/{name}") from err
        return True

    def delete(self, name: str) -> None:
        """Remove the object ``name``, if it is there."""
        try:
            self.bucket.blob(self._key(name)).delete()
        except api_errors.NotFound:
            pass
        except Exception as err:
            raise explain(err, f"removing {self.where}/{name}") from err

    def links(self, name: str) -> list[str]:
        """The authenticated browser URL (readers with roles/storage.objectViewer), then the public one."""
        key = self._key(name)
        return [
            f"https://storage.cloud.google.com/{self.bucket_name}/{key}",
            f"https://storage.googleapis.com/{self.bucket_name}/{key}",
        ]
