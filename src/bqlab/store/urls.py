"""Cloud Storage addresses (``gs://bucket/folder``), checked without importing the client."""

import re

from bqlab.errors import ParamsError

# Cloud Storage's rules for a bucket name (a dotted one must also be a verified domain: the service checks).
_BUCKET = re.compile(r"[a-z0-9][a-z0-9_.-]{1,61}[a-z0-9]")


def split_bucket_url(url: str) -> tuple[str, str]:
    """``gs://bucket/some/prefix`` -> ("bucket", "some/prefix"), checked.

    Raises:
        ParamsError: not a gs:// URL, or not a valid bucket name.
    """
    if not url.startswith("gs://"):
        raise ParamsError(f"{url!r} is not a Cloud Storage URL: write gs://<bucket>/<folder>")
    bucket, _, prefix = url[len("gs://") :].partition("/")
    if not _BUCKET.fullmatch(bucket) or ".." in bucket or bucket.startswith("goog"):
        why = (
            " (no capitals)"
            if bucket.lower() != bucket
            else " (no name starts with 'goog')"
            if bucket.startswith("goog")
            else ""
        )
        raise ParamsError(
            f"{url!r}: {bucket!r} is not a bucket name{why}: 3-63 lowercase letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit; write gs://<bucket>/<folder>"
        )
    return bucket, prefix.strip("/")


def check_destination(to: str) -> str:
    """``to`` if it is a ``gs://`` URL with a valid bucket, or a folder path; else ParamsError.

    A URL of another scheme, or ``gs:`` mistyped (``gs:/bucket``, ``GS://``), is refused rather
    than taken for a folder of that name.
    """
    if not to.strip():
        raise ParamsError("an empty destination: write gs://<bucket>/<folder> or a folder")
    if to.startswith("gs://"):
        split_bucket_url(to)
    elif "://" in to or to.lower().startswith("gs:"):
        raise ParamsError(
            f"{to!r} is neither a Cloud Storage URL nor a folder: write gs://<bucket>/<folder> (in lowercase) "
            "or a folder's path"
        )
    return to
