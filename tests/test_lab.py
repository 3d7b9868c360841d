"""`make lab` and `make docker-lab` (the twin image): a real JupyterLab server on a loopback port,
the project kernel, a cell that imports bqlab."""

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid

import pytest

from bqlab.runner.execution import KERNEL_NAME

from .conftest import CONTAINER_ENV, ROOT

TOKEN = uuid.uuid4().hex


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _api(port: int, path: str, method: str = "GET", body: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"token {TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"{}")


def _wait_for_lab(port: int, process: subprocess.Popen, log) -> None:
    deadline = time.monotonic() + 90
    while True:
        try:
            _api(port, "/api/status")
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                pytest.fail(f"JupyterLab did not start on port {port}:\n{log.read()[-3000:]}")
            time.sleep(0.5)


@contextlib.contextmanager
def make_lab(folder, *args: str, env: dict[str, str] | None = None):
    """Run `make lab` with ``args`` and the token, log in ``folder``; yield the port once Lab answers."""
    port = _free_port()
    log = open(folder / "lab.log", "w+", encoding="utf-8")  # noqa: SIM115 - closed below
    env = {**os.environ, "JUPYTER_TOKEN": TOKEN, "JUPYTER_RUNTIME_DIR": str(folder / "runtime"), **(env or {})}
    command = ["make", "lab", f"LAB_PORT={port}", *args]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True)
    try:
        _wait_for_lab(port, process, log)
        yield port
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


@contextlib.contextmanager
def make_docker_lab(folder, project, image: str, *args: str):
    """Run `make docker-lab` on the twin ``image`` serving ``project``'s params and notebooks; yield the port."""
    port, name = _free_port(), f"bqlab-lab-{uuid.uuid4().hex[:8]}"
    folders = [f"PARAMS={project / 'params'}", f"NOTEBOOKS={project / 'notebooks'}", f"REPORTS={project / 'reports'}"]
    command = ["make", "docker-lab", "BASE=twin", f"IMAGE={image}", f"LAB_PORT={port}", *folders, *args]
    env = {**CONTAINER_ENV, "JUPYTER_TOKEN": TOKEN, "CONTAINER_NAME": name}
    log = open(folder / "docker-lab.log", "w+", encoding="utf-8")  # noqa: SIM115 - closed below
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True)
    try:
        _wait_for_lab(port, process, log)
        yield port
    finally:
        for stop in (["stop", "--time", "20", name], ["rm", "--force", name]):
            subprocess.run(["podman", *stop], env=CONTAINER_ENV, capture_output=True, timeout=60)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


@pytest.fixture(scope="module", params=["host", "container"])
def lab(request, tmp_path_factory):
    """`make lab` on the host, and `make docker-lab` from the twin image on a copy of the project."""
    folder = tmp_path_factory.mktemp("lab")
    if request.param == "host":
        with make_lab(folder) as port:
            yield port
        return
    image = request.getfixturevalue("twin_image")
    for part in ("params", "notebooks"):
        shutil.copytree(ROOT / part, folder / part)
    with make_docker_lab(folder, folder, image) as port:
        yield port


def test_lab_listens_on_loopback_only_and_wants_the_token(lab):
    assert "started" in _api(lab, "/api/status")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"http://127.0.0.1:{lab}/api/kernels", timeout=10)
    assert refused.value.code == 403
    if shutil.which("ss"):
        listening = subprocess.run(["ss", "-ltnH", f"sport = :{lab}"], capture_output=True, text=True, check=True)
        sockets = [line for line in listening.stdout.splitlines() if line.strip()]
        assert sockets and all(" 127.0.0.1:" in line for line in sockets), sockets


def test_lab_lists_the_project_kernel_as_the_default(lab):
    specs = _api(lab, "/api/kernelspecs")
    assert KERNEL_NAME in specs["kernelspecs"]
    assert specs["default"] == KERNEL_NAME


async def _execute(port: int, kernel_id: str, code: str) -> str:
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    request = HTTPRequest(
        f"ws://127.0.0.1:{port}/api/kernels/{kernel_id}/channels", headers={"Authorization": f"token {TOKEN}"}
    )
    connection = await websocket_connect(request)
    msg_id = uuid.uuid4().hex
    header = {"msg_id": msg_id, "msg_type": "execute_request", "username": "test", "session": uuid.uuid4().hex}
    header["version"] = "5.3"
    content = {"code": code, "silent": False, "store_history": False, "user_expressions": {}, "allow_stdin": False}
    message = {"header": header, "parent_header": {}, "metadata": {}, "content": content, "channel": "shell"}
    await connection.write_message(json.dumps(message))
    output = []
    while True:
        reply = json.loads(await asyncio.wait_for(connection.read_message(), timeout=60))
        if reply.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        if reply["msg_type"] == "stream":
            output.append(reply["content"]["text"])
        elif reply["msg_type"] == "error":
            output.append("\n".join(reply["content"]["traceback"]))
        elif reply["msg_type"] == "status" and reply["content"]["execution_state"] == "idle":
            connection.close()
            return "".join(output)


def test_a_cell_runs_in_the_project_kernel_and_imports_the_package(lab):
    kernel = _api(lab, "/api/kernels", "POST", {"name": KERNEL_NAME})
    try:
        code = "import bqlab.sources.base, bqlab.sources.embedded, sys\nprint(bqlab.sources.base.__name__, sys.prefix)"
        output = asyncio.run(_execute(lab, kernel["id"], code))
        assert output.startswith("bqlab.sources.base "), output
    finally:
        _api(lab, f"/api/kernels/{kernel['id']}", "DELETE")
