"""A Cloud Storage bucket as a destination, with the official ``google-cloud-storage`` client.

Credentials are found as BigQuery's are (Application Default Credentials), with the same
messages when there are none. An object is uploaded whole or not at all (a single request for a
small file, a resumable session for a large one: Cloud Storage makes an object visible only once
complete), and a create-only upload carries ``ifGenerationMatch=0``, which the service refuses if
the name exists. ``api_endpoint`` (or ``STORAGE_EMULATOR_HOST``) points the client at a local
emulator, without credentials.
"""

import os
from datetime import UTC, datetime
from pathlib import Path

from google.api_core import exceptions as api_errors
from google.auth import exceptions as auth_errors
from google.auth.credentials import AnonymousCredentials
from google.cloud.storage import Client as StorageClient

from bqlab.digests import md5_base64
from bqlab.errors import DataError
from bqlab.gcloud import auth_problem, unreadable_key
from bqlab.store.urls import split_bucket_url

# Objects up to this size go up in one request (whole or not at all); larger ones in a resumable
# session of chunks this size, which also becomes visible only once complete.
CHUNK_BYTES = 8 * 1024 * 1024


def explain(err: BaseException, what: str) -> DataError:
    """A client error as a message that keeps the service's words and says how to fix it."""
    if problem := auth_problem(err, what):
        return DataError(problem)
    message = getattr(err, "message", None) or str(err)
    if isinstance(err, api_errors.NotFound):
        return DataError(f"{what}: not found ({message}); check the bucket's name, or create it")
    if isinstance(err, api_errors.Forbidden):
        return DataError(
            f"{what}: permission denied ({message}); the account needs roles/storage.objectAdmin "
            "on the bucket (or objectCreator, objectViewer and, to replace index.html, objectUser)"
        )
    if isinstance(err, api_errors.TooManyRequests | api_errors.ServerError | ConnectionError | TimeoutError):
        return DataError(
            f"{what}: Cloud Storage kept failing ({type(err).__name__}: {message}); try again later "
            "(what is published stays whole: the index links only complete runs)"
        )
    return DataError(f"{what}: {type(err).__name__}: {message}")


class BucketDestination:
    """Publishes into ``gs://bucket/prefix``."""

    def __init__(self, to: str, api_endpoint: str | None = None) -> None:
        self.where = to
        self.bucket_name, self.prefix = split_bucket_url(to)
        endpoint = api_endpoint or os.environ.get("STORAGE_EMULATOR_HOST")
        self.emulator = endpoint
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
        except api_errors.PreconditionFailed:  # there already; or ours, when a retry follows a lost reply
            there = self.bucket.get_blob(self._key(name))
            return there is not None and there.md5_hash == md5_base64(path)
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

    def read(self, name: str) -> bytes | None:
        """The object's bytes, or None."""
        try:
            return self.bucket.blob(self._key(name)).download_as_bytes()
        except api_errors.NotFound:
            return None
        except Exception as err:
            raise explain(err, f"reading {self.where}/{name}") from err

    def fetch(self, name: str, path: Path) -> bool:
        """Download the object to ``path`` in chunks (the client removes a file it could not finish)."""
        try:
            self.bucket.blob(self._key(name)).download_to_filename(str(path))
            return True
        except api_errors.NotFound:
            return False
        except Exception as err:
            raise explain(err, f"reading {self.where}/{name}") from err

    def create(self, name: str, data: bytes) -> str | None:
        """Create the object only if absent (``ifGenerationMatch=0``); its generation, or None."""
        blob = self.bucket.blob(self._key(name))
        blob.cache_control = "no-store"
        try:
            blob.upload_from_string(data, content_type="application/json", if_generation_match=0)
        except api_errors.PreconditionFailed:  # another's; or ours, when a retry follows a lost reply
            held = self.version(name)
            return held[0] if held is not None and held[2] == data else None
        except Exception as err:
            raise explain(err, f"creating {self.where}/{name}") from err
        return str(blob.generation)

    def version(self, name: str) -> tuple[str, float, bytes] | None:
        """(generation, age, bytes) of the object, or None."""
        try:
            blob = self.bucket.get_blob(self._key(name))
            if blob is None:
                return None
            data = blob.download_as_bytes(if_generation_match=blob.generation)
        except (api_errors.NotFound, api_errors.PreconditionFailed):
            return None  # removed or replaced meanwhile: the caller looks again
        except Exception as err:
            raise explain(err, f"reading {self.where}/{name}") from err
        age = (datetime.now(UTC) - blob.updated).total_seconds() if blob.updated else 0.0
        return str(blob.generation), age, data

    def delete_version(self, name: str, version: str) -> bool:
        """Remove the object if it is still that generation (``ifGenerationMatch``)."""
        try:
            self.bucket.blob(self._key(name)).delete(if_generation_match=int(version))
        except (api_errors.NotFound, api_errors.PreconditionFailed):
            return False
        except Exception as err:
            raise explain(err, f"removing {self.where}/{name}") from err
        return True

    def links(self, name: str) -> list[str]:
        """The authenticated browser URL (readers with roles/storage.objectViewer), then the public one."""
        key = self._key(name)
        if self.emulator:  # a local emulator serves objects at /<bucket>/<object>
            return [f"{self.emulator.rstrip('/')}/{self.bucket_name}/{key}"]
        return [
            f"https://storage.cloud.google.com/{self.bucket_name}/{key}",
            f"https://storage.googleapis.com/{self.bucket_name}/{key}",
        ]
