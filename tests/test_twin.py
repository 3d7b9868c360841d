"""The container, built and run here: every `make docker-*` target against the twin image.

The twin is the real image's Dockerfile on a Debian base made here (docs/container.md): the
same lines after the environment, the same requirements.txt, the same Python. It is built once
per session (conftest.twin_image) with rootful podman, which .ci/run installs; without a
container runtime these tests skip with the reason (and fail under CI). JupyterLab from the
image is driven in Chromium by tests/test_lab_browser.py and checked by tests/test_lab.py.
"""

import contextlib
import json
import os
import queue
import re
import socket
import subprocess
import tarfile
import threading
import time
import uuid
from pathlib import Path

import pytest
import yaml

from .conftest import CONTAINER_ENV, ROOT
from .test_container import locked

pytestmark = pytest.mark.slow

CONTAINER_PATHS = ("/home/mambauser", "/opt/conda", "/run/secrets")
ADC_IN_CONTAINER = "/run/secrets/google/application_default_credentials.json"


def twin_target(target: str, image: str, *args: str) -> list[str]:
    """The command line of a make docker-* target on the twin ``image``."""
    return ["make", target, "BASE=twin", f"IMAGE={image}", *args]


def make(target: str, image: str, *args: str, env: dict[str, str] | None = None, timeout: float = 600):
    """Run a make target of the project against ``image``; return the finished process."""
    return subprocess.run(
        twin_target(target, image, *args),
        cwd=ROOT,
        env={**CONTAINER_ENV, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def podman(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["podman", *args], env=CONTAINER_ENV, capture_output=True, text=True, timeout=timeout, check=check
    )


def metrics(run_dir: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sorted(run_dir.glob("artifacts/*/metrics.json"))}


def report_text(reports: Path) -> dict[str, str]:
    """Every text file of a reports folder (pages, notebooks, JSON) by its relative path."""
    return {
        str(p.relative_to(reports)): p.read_text(encoding="utf-8", errors="replace")
        for p in reports.rglob("*")
        if p.is_file() and p.suffix in {".html", ".ipynb", ".json", ".txt", ".log"}
    }


# The image ----------------------------------------------------------------------------------

_FREEZE = """
import importlib.metadata, json, os, platform, sys
from packaging.requirements import Requirement
lock = [Requirement(line) for line in json.load(sys.stdin)]
name = lambda text: text.lower().replace("_", "-")
applies = [r for r in lock if r.marker is None or r.marker.evaluate()]
wanted = {name(r.name): str(r.specifier)[2:] for r in applies}
installed = {name(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()}
python = platform.python_version()
print(json.dumps({"python": python, "wanted": wanted, "installed": installed, "user": os.getuid()}))
"""


def test_the_twin_holds_every_locked_package_and_nothing_else_on_the_pinned_python(twin_image):
    lines = [str(req) for req, _ in locked(ROOT / "requirements.txt")]
    done = subprocess.run(
        ["podman", "run", "--rm", "-i", twin_image, "python", "-c", _FREEZE],
        input=json.dumps(lines),
        env=CONTAINER_ENV,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    found = json.loads(done.stdout.splitlines()[-1])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert f"python={found['python']}" in env["dependencies"], "the Python environment.yml pins"
    assert found["user"] != 0, "the image runs as a non-root user"
    # The markers were evaluated inside the twin: what it installed is the lock, to the version.
    installed = {k: v for k, v in found["installed"].items() if k not in {"bqlab", "pip", "setuptools"}}
    assert len(found["wanted"]) > 50
    assert installed == found["wanted"]


def _layer_findings(image: str, folder: Path) -> list[str]:
    """Anything in the image's layers or history that looks like a credential."""
    archive = folder / "image.tar"
    podman("save", "--format", "docker-archive", "-o", str(archive), image, timeout=300)
    name = re.compile(r"(credentials|service[-_]account|adc)[^/]*\.json$|\.p12$|(^|/)\.env$", re.I)
    content = re.compile(rb"-----BEGIN (RSA |EC |ENCRYPTED )?PRIVATE KEY-----|\"(refresh_token|private_key)\"\s*:\s*\"")
    found = []
    with tarfile.open(archive) as outer:
        layers = [m for m in outer.getmembers() if m.name.endswith(".tar")]
        assert layers, "podman save wrote the layers"
        for member in layers:
            with tarfile.open(fileobj=outer.extractfile(member)) as layer:
                for entry in layer:
                    # Code that handles keys, and the test fixtures packages ship, are not keys.
                    code = entry.name.endswith((".py", ".pyc", ".so")) or ".so." in entry.name
                    fixture = "site-packages/" in entry.name and re.search(r"/tests?/", entry.name)
                    if not entry.isfile() or code or fixture:
                        continue
                    if entry.name.endswith("run/host-ca.crt"):  # the build's CA bundle: its mount point
                        if entry.size:
                            found.append(f"{member.name}: file {entry.name} ({entry.size} bytes)")
                    elif name.search(entry.name):
                        found.append(f"{member.name}: file {entry.name}")
                    elif entry.size < 5_000_000 and content.search(layer.extractfile(entry).read()):
                        found.append(f"{member.name}: content of {entry.name}")
    return found


def test_no_layer_or_history_line_holds_a_key_or_a_token(twin_image, tmp_path):
    history = podman("history", "--no-trunc", "--format", "{{.CreatedBy}}", twin_image).stdout
    assert "COPY" in history or "copy" in history, "the history is there to read"
    assert not re.search(r"(KEY|TOKEN|SECRET|PASSWORD|CREDENTIALS)\w*=\S", history, re.I), history
    assert not _layer_findings(twin_image, tmp_path)


def test_the_layer_scan_finds_a_key_when_one_is_there(twin_image, tmp_path):
    # The scan above would pass on an empty image: here one layer holds a key, and it is found.
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx/keep.json").write_text('{"type": "authorized_user", "refresh_token": "1//x"}')
    (tmp_path / "ctx/Containerfile").write_text(
        f"FROM {twin_image}\nUSER root\nCOPY keep.json /tmp/\nRUN rm /tmp/keep.json\n"
    )
    podman("build", "-q", "-t", "bqlab:leaky-test", str(tmp_path / "ctx"), timeout=300)
    try:
        findings = _layer_findings("bqlab:leaky-test", tmp_path)
    finally:
        podman("rmi", "bqlab:leaky-test")
    assert any("keep.json" in f for f in findings), findings


# make docker-report ---------------------------------------------------------------------------


def test_docker_report_lands_reports_owned_by_the_caller_with_the_hosts_metrics(twin_image, finished, tmp_path):
    code, _, host_run = finished  # make report's run on the host: this commit, the ci profile
    assert code == 0
    reports = tmp_path / "reports"
    done = make("docker-report", twin_image, "PROFILE=ci", "QUIET=1", f"REPORTS={reports}")
    assert done.returncode == 0, done.stdout + done.stderr
    run_dir = (reports / "latest").resolve()
    assert {p.name for p in run_dir.glob("*.html")} >= {"01-eda.html", "02-train.html", "03-evaluate.html"}
    owners = {p.stat().st_uid for p in reports.rglob("*")}
    assert owners == {os.getuid()}, "the reports are yours"
    assert metrics(run_dir) == metrics(host_run), "the same numbers as make report on the host"
    assert set(metrics(run_dir)) == {"eda", "train", "evaluate"}
    figures = sorted(str(p.relative_to(run_dir)) for p in run_dir.glob("figures/*/*"))
    assert len(figures) > 5 and figures == sorted(str(p.relative_to(host_run)) for p in host_run.glob("figures/*/*"))
    run = json.loads((run_dir / "run.json").read_text())
    assert run["provenance"]["image"] == twin_image
    assert run["provenance"]["git"]["commit"], "the image names the commit it was built from"
    leaks = {path: p for path, text in report_text(reports).items() for p in CONTAINER_PATHS if p in text}
    assert not leaks, f"container paths in the reports: {leaks}"


@pytest.mark.skipif(os.geteuid() != 0, reason="running the container as another uid needs root")
def test_docker_report_as_another_user_writes_files_that_user_owns(twin_image, tmp_path):
    reports = tmp_path / "reports"
    reports.mkdir()
    os.chown(reports, 1234, 1234)
    done = make("docker-report", twin_image, "PROFILE=ci", "QUIET=1", f"REPORTS={reports}", "RUN_AS=1234:1234")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (reports / "latest/03-evaluate.html").is_file()
    assert {(p.stat().st_uid, p.stat().st_gid) for p in reports.rglob("*")} == {(1234, 1234)}


def test_a_reports_folder_another_run_as_user_cannot_write_is_refused_before_the_engine(twin_image, tmp_path):
    reports = tmp_path / "reports"
    reports.mkdir(mode=0o755)  # yours, not 1234's
    done = make("docker-report", twin_image, f"REPORTS={reports}", "RUN_AS=1234:1234")
    assert done.returncode != 0
    assert f"the container runs as uid 1234 (RUN_AS) and cannot write to {reports}" in done.stderr
    assert not any(reports.iterdir())


def _start_report(image: str, name: str, reports: Path, *args: str, env: dict[str, str] | None = None):
    return subprocess.Popen(
        twin_target("docker-report", image, f"REPORTS={reports}", *args),
        cwd=ROOT,
        env={**CONTAINER_ENV, "CONTAINER_NAME": name, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_container(name: str, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = podman("inspect", "--format", "{{.State.Running}}", name, check=False)
        if state.stdout.strip() == "true":
            return
        assert process.poll() is None, process.communicate()
        time.sleep(0.2)
    pytest.fail(f"container {name} did not start")


def _lines_until(process: subprocess.Popen, text: str, timeout: float = 120) -> list[str]:
    """The process's output lines up to the first that holds ``text`` (fails after ``timeout``)."""
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=lambda: [*map(lines.put, process.stdout), lines.put(None)], daemon=True).start()
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(queue.Empty):
            line = lines.get(timeout=1)
            assert line is not None, f"the run ended before {text!r}: {seen}"
            seen.append(line)
            if text in line:
                return seen
    pytest.fail(f"no {text!r} within {timeout} s: {seen}")


def test_podman_stop_during_a_report_exits_143_and_keeps_no_partial_run(twin_image, tmp_path):
    reports = tmp_path / "reports"
    name = f"bqlab-stop-{uuid.uuid4().hex[:8]}"
    process = _start_report(twin_image, name, reports, "FORCE=1")
    try:
        _wait_for_container(name, process)
        seen = _lines_until(process, "01-eda: running")  # the first notebook's kernel is starting
        time.sleep(2)  # and then executing its cells
        podman("stop", "--time", "60", name, timeout=90)  # SIGTERM to tini, as docker stop sends
        _, err = process.communicate(timeout=90)
    finally:
        podman("rm", "--force", name, check=False)
        if process.poll() is None:
            process.kill()
    # The container exited 143 (make docker-report says so), with the runner's one line.
    assert "docker-report] Error 143" in err, err
    said = [line for line in err.splitlines() if not re.match(r"make(\[\d+\])?: ", line)]  # make's own lines
    message = "terminated (SIGTERM): the unfinished run was discarded; earlier reports are untouched"
    assert said.count(message) == 1 and said[-1] == message, err  # the runner's last word, once
    assert "Traceback" not in "".join(seen) + err
    assert not list(reports.glob("runs/*")), "no partial run is left"
    assert not (reports / "latest").exists() and not (reports / "index.html").exists()


def test_docker_report_with_bigquery_mounts_the_credentials_read_only(twin_image, tmp_path):
    marker = uuid.uuid4().hex
    adc = tmp_path / "keys" / "adc.json"
    adc.parent.mkdir()
    adc.write_text(
        json.dumps({"type": "authorized_user", "client_id": "x", "client_secret": "y", "refresh_token": marker})
    )
    name = f"bqlab-adc-{uuid.uuid4().hex[:8]}"
    env = {"GOOGLE_APPLICATION_CREDENTIALS": str(adc), "GOOGLE_CLOUD_PROJECT": "bqlab-test-project"}
    # No Google endpoint is reachable here: the run retries its first query while it is inspected.
    process = _start_report(twin_image, name, tmp_path / "reports", "PROFILE=bigquery", env=env)
    try:
        _wait_for_container(name, process)
        inspected = json.loads(podman("inspect", name).stdout)[0]
        (mount,) = [m for m in inspected["Mounts"] if m["Destination"] == ADC_IN_CONTAINER]
        assert mount["Source"] == str(adc.resolve()) and mount["RW"] is False
        assert f"GOOGLE_APPLICATION_CREDENTIALS={ADC_IN_CONTAINER}" in inspected["Config"]["Env"]
        assert "GOOGLE_CLOUD_PROJECT=bqlab-test-project" in inspected["Config"]["Env"]
        inside = ["exec", name, "python", "-c", f"import json; print(json.load(open('{ADC_IN_CONTAINER}'))['type'])"]
        assert podman(*inside).stdout.strip() == "authorized_user", "the run can read it"
        with pytest.raises(subprocess.CalledProcessError) as refused:
            podman("exec", name, "sh", "-c", f"echo x >> {ADC_IN_CONTAINER}")
        assert "Read-only file system" in refused.value.stderr
    finally:
        podman("stop", "--time", "30", name, timeout=60, check=False)
        podman("rm", "--force", name, check=False)
        process.communicate(timeout=60)
    assert marker not in podman("history", "--no-trunc", "--format", "{{.CreatedBy}}", twin_image).stdout
    assert json.loads(adc.read_text())["refresh_token"] == marker, "the file is unchanged"


# make docker-test -------------------------------------------------------------------------------


def test_docker_test_passes_the_fast_suite_inside_the_image(twin_image):
    done = make("docker-test", twin_image, timeout=900)
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    passed = re.search(r"(\d+) passed", summary)
    assert passed and int(passed.group(1)) > 400 and "failed" not in summary, summary


def test_the_real_build_without_a_registry_says_so_and_points_at_the_twin(twin_image):
    try:
        socket.getaddrinfo("registry-1.docker.io", 443)
        pytest.skip("a registry answers here: make docker-build would build the real image")
    except OSError:
        pass
    done = subprocess.run(["make", "docker-build", "IMAGE=bqlab:real-test"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode != 0
    assert "The real image needs docker.io (its base) and conda-forge (its environment)" in done.stderr
    assert "make docker-build-twin" in done.stderr
