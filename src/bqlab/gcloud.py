"""What BigQuery and Cloud Storage share: how credentials are found, and how their refusal reads.

Both clients look for Application Default Credentials the same way (``GOOGLE_APPLICATION_CREDENTIALS``,
then ``gcloud auth application-default login``), so both say the same thing when there are none.
No Google client is imported here: the messages cost nothing to a command that never calls one.
"""

import os


def credentials_fix() -> str:
    """How to provide credentials, for the way this machine looks for them."""
    key = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    if key:
        return (
            f"GOOGLE_APPLICATION_CREDENTIALS is {key!r}: point it at a valid service-account JSON key "
            "file (a new key can be downloaded in the console), or unset it and run "
            "`gcloud auth application-default login`"
        )
    return (
        "run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS "
        "to a service-account JSON key file"
    )


def auth_text(err: BaseException) -> str:
    """google-auth's explanation: its message, and the cause it carries as a second argument."""
    parts = [str(a) for a in err.args if not isinstance(a, BaseException)]
    parts += [str(a) for a in err.args if isinstance(a, BaseException)]
    return ": ".join(part.rstrip(".") for part in parts)


def unreadable_key(err: OSError) -> str:
    """google-auth opens the key file itself: a folder, or no permission to read it."""
    return (
        f"Google Cloud credentials: cannot read {err.filename or 'the key file'} ({err.strerror or err}). "
        f"To fix: {credentials_fix()}"
    )


def auth_problem(err: BaseException, what: str) -> str | None:
    """The message for a credentials error of either client (missing, refused, expired), or None for another error."""
    # lazy: google-auth and api-core (about 0.1 s), only once a client has failed
    from google.api_core import exceptions as api_errors
    from google.auth import exceptions as auth_errors

    if isinstance(err, auth_errors.DefaultCredentialsError):
        return f"Google Cloud credentials: {auth_text(err)}. To fix: {credentials_fix()}"
    if isinstance(err, auth_errors.RefreshError | api_errors.Unauthorized):
        return (
            f"{what}: the credentials were refused ({auth_text(err)}); they may have expired or "
            f"been revoked. To fix: {credentials_fix()}"
        )
    return None
