"""A local BigQuery emulator (local-bigquery, in its own Python 3.13 environment) for tests.

`make emulator` installs it into .venv-emulator; the fixture starts it on 127.0.0.1 with
free ports, loads the penguins table through the client's load API, and stops it after.
"""

import os
import socket
import subprocess
import time
from dataclasses import dataclass

import pytest

from .conftest import ROOT

EMULATOR = ROOT / ".venv-emulator"
PROJECT = "test-project"
PENGUINS = f"{PROJECT}.ml_datasets.penguins"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, log, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.3)
    log.seek(0)
    pytest.fail(f"the BigQuery emulator did not start on port {port}:\n{log.read()[-3000:]}")


def client_for(port: int):
    """An official BigQuery client pointed at the emulator, with no credentials."""
    return client_for_endpoint(f"http://127.0.0.1:{port}")


def client_for_endpoint(endpoint: str):
    """An official BigQuery client pointed at ``endpoint`` (the emulator or a proxy of it)."""
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    return bigquery.Client(
        project=PROJECT,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=endpoint),
    )


def load_penguins(client, folder) -> None:
    """Load the embedded penguins table into the emulator through the client's load API."""
    from google.cloud import bigquery

    from bqlab.sources.datasets import PENGUINS_SCHEMA, penguins

    path = folder / "penguins.parquet"
    penguins().to_parquet(path)
    schema = [bigquery.SchemaField(name, kind) for name, kind in PENGUINS_SCHEMA.items()]
    client.create_dataset("ml_datasets", exists_ok=True)
    config = bigquery.LoadJobConfig(source_format=bigquery.SourceFormat.PARQUET, schema=schema)
    with open(path, "rb") as handle:
        client.load_table_from_file(handle, PENGUINS, job_config=config).result()


@dataclass
class Emulator:
    """A running emulator: its REST endpoint, its Storage Read (gRPC) endpoint and a client of it."""

    endpoint: str
    storage_endpoint: str
    client: object


@pytest.fixture(scope="session")
def bigquery_emulator(tmp_path_factory):
    """Yield a running emulator that holds ``test-project.ml_datasets.penguins``."""
    exe = EMULATOR / "bin" / "local-bigquery"
    if not (EMULATOR / ".installed").exists():
        message = "the BigQuery emulator is not installed: run `make emulator` (needs python3.13)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    folder = tmp_path_factory.mktemp("bigquery-emulator")
    port, grpc_port = _free_port(), _free_port()
    log = open(folder / "emulator.log", "w+", encoding="utf-8")  # noqa: SIM115 - closed below
    command = [str(exe), "serve", "--host", "127.0.0.1", "--port", str(port), "--grpc-port", str(grpc_port)]
    command += ["--project", PROJECT, "--data-dir", str(folder / "data")]
    process = subprocess.Popen(command, env={**os.environ, "HOME": str(EMULATOR / "home")}, stdout=log, stderr=log)
    try:
        _wait_for_port(port, process, log)
        client = client_for(port)
        load_penguins(client, folder)
        yield Emulator(endpoint=f"http://127.0.0.1:{port}", storage_endpoint=f"127.0.0.1:{grpc_port}", client=client)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
