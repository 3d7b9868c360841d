"""The container, checked offline: no Docker engine runs here, so the image is verified from
its files (hadolint, the parsed Dockerfile, the real build context, the pins) and the
docker-* targets' input checks run for real; the shipped workflow builds and runs the image.
"""

import importlib.metadata
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from bqlab.runner.execution import KERNEL_NAME

from .conftest import IN_IMAGE, ROOT

host_only = pytest.mark.skipif(IN_IMAGE, reason="checks the image from outside: runs on the host")


def tool(name: str) -> str:
    """A command-line tool installed with the test environment (beside its python), or on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    assert found, f"{name} is missing: it comes with requirements-dev.txt (make setup)"
    return found


def locked(path) -> list[tuple[Requirement, list[str]]]:
    """Each requirement of a uv lock file with its hashes."""
    entries: list[tuple[Requirement, list[str]]] = []
    for line in path.read_text().splitlines():
        if line.startswith("    --hash="):
            entries[-1][1].append(line.split("=", 1)[1].rstrip(" \\"))
        elif line and not line.startswith((" ", "#")):
            entries.append((Requirement(line.rstrip(" \\")), []))
    return entries


def pins(path, everywhere: bool = False) -> dict[str, str]:
    """The locked versions by name: those that apply to this machine, or ``everywhere``."""
    return {
        canonicalize_name(req.name): str(req.specifier).removeprefix("==")
        for req, _ in locked(path)
        if everywhere or req.marker is None or req.marker.evaluate()
    }


def declared(*extras: str) -> set[str]:
    """The names pyproject declares: the dependencies and those of ``extras``."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = project["dependencies"] + [d for extra in extras for d in project["optional-dependencies"][extra]]
    return {canonicalize_name(Requirement(d).name) for d in names} - {"bqlab"}


# environment.yml and the pins ---------------------------------------------------------------


def test_environment_is_conda_forge_only_with_every_package_pinned():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge", "nodefaults"]
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    assert all(re.fullmatch(r"[a-z0-9_.-]+=[0-9][0-9A-Za-z.]*", d) for d in conda), conda
    assert {d.split("=")[0] for d in conda} >= {"python", "pip", "tini", "make"}
    pip = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    assert pip == [["-r requirements.txt"]], "the image's Python packages come from requirements.txt alone"


def test_image_python_is_the_python_the_tests_run_with():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))
    assert python == f"python={platform.python_version()}"


def test_requirements_pin_exactly_the_installed_versions():
    required = pins(ROOT / "requirements.txt")
    assert len(required) > 50, "requirements.txt pins every package, transitive ones included"
    installed = {name: importlib.metadata.version(name) for name in required}
    assert installed == required


@host_only
def test_host_only_tools_are_locked_with_the_image_versions_and_installed():
    dev, image = pins(ROOT / "requirements-dev.txt"), pins(ROOT / "requirements.txt")
    assert {name: dev.get(name) for name in image} == image, "the venv has the image's versions"
    assert {name: importlib.metadata.version(name) for name in dev} == dev


@pytest.mark.parametrize("lock, extras", [("requirements.txt", ("test",)), ("requirements-dev.txt", ("test", "dev"))])
def test_the_locks_come_from_pyproject_with_a_hash_for_every_package(lock, extras):
    entries = locked(ROOT / lock)
    assert entries and all(
        hashes and all(h.startswith("sha256:") and len(h) == 71 for h in hashes) for _, hashes in entries
    ), "every package has its hashes (pip installs in --require-hashes mode)"
    assert all(str(req.specifier).startswith("==") for req, _ in entries)
    missing = declared(*extras) - set(pins(ROOT / lock, everywhere=True))
    assert not missing, f"declared in pyproject.toml but not locked: {sorted(missing)}; run make lock"
    assert "make lock" in (ROOT / lock).read_text().splitlines()[1], "made by `make lock` (uv pip compile)"


# The Dockerfile ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dockerfile():
    dockerfile_parse = pytest.importorskip("dockerfile_parse")
    parser = dockerfile_parse.DockerfileParser(path=str(ROOT / "Dockerfile"), env_replace=False)
    return parser.structure


def instructions(structure, name):
    return [i for i in structure if i["instruction"] == name]


@host_only
def test_base_image_is_pinned_by_digest(dockerfile):
    (base,) = instructions(dockerfile, "FROM")
    assert base["value"] == "${BASE_IMAGE}", "one stage; the base is a build argument (the twin passes its own)"
    default = next(i["value"] for i in instructions(dockerfile, "ARG") if i["value"].startswith("BASE_IMAGE="))
    assert re.fullmatch(r"BASE_IMAGE=docker.io/mambaorg/micromamba:[0-9.]+@sha256:[0-9a-f]{64}", default)
    args = [i["value"] for i in instructions(dockerfile, "ARG")]
    assert "ENV_INSTALL=conda" in args, "the real image's environment comes from conda-forge unless told otherwise"


@host_only
def test_environment_layer_comes_before_any_project_file(dockerfile):
    copies = instructions(dockerfile, "COPY")
    env_copy, code_copy = copies[0], copies[-1]
    assert env_copy["value"].split()[1:-1] == ["environment.yml", "requirements.txt"]
    assert code_copy["value"].split()[1:] == [".", "."]
    install = next(i for i in instructions(dockerfile, "RUN") if "micromamba install" in i["value"])
    assert env_copy["startline"] < install["startline"] < code_copy["startline"]
    assert "micromamba clean --all" in install["value"], "the cache is cleaned in the same layer"
    assert "--file /tmp/environment.yml" in install["value"]


@host_only
def test_the_lock_is_installed_as_resolved_without_resolving_it_again(dockerfile):
    # pip 23 turned google-cloud-bigquery's google-auth[pyopenssl] into an unpinned requirement and
    # refused the newest google-auth in hash-checking mode: the lock is complete, so no resolution.
    (install,) = [i["value"] for i in instructions(dockerfile, "RUN") if "micromamba install" in i["value"]]
    assert "PIP_NO_DEPS=1 micromamba install" in install, "micromamba's pip installs the lock as it is"
    assert "pip install --no-deps --require-hashes -r /tmp/requirements.txt" in install, "and so does the twin's"


@host_only
def test_runs_as_a_non_root_user_under_tini_with_exec_form_commands(dockerfile):
    assert instructions(dockerfile, "USER")[-1]["value"] not in ("root", "0", "0:0")
    (entrypoint,) = instructions(dockerfile, "ENTRYPOINT")
    (cmd,) = instructions(dockerfile, "CMD")
    assert json.loads(entrypoint["value"]) == ["/usr/local/bin/_entrypoint.sh", "tini", "--"]
    assert json.loads(cmd["value"]) == ["make", "report"]
    assert not instructions(dockerfile, "ADD")


@host_only
def test_environment_labels_and_kernel(dockerfile):
    env = " ".join(i["value"] for i in instructions(dockerfile, "ENV"))
    assert "MPLBACKEND" not in env, "a backend set for the image stops the kernels drawing inline figures"
    assert "BQLAB_ENV=system" in env
    labels = " ".join(i["value"] for i in instructions(dockerfile, "LABEL"))
    for key in ("source", "version", "description"):
        assert f"org.opencontainers.image.{key}=" in labels
    runs = " ".join(i["value"] for i in instructions(dockerfile, "RUN"))
    assert f"ipykernel install --sys-prefix --name {KERNEL_NAME} " in runs, "the runner's kernel name"


@host_only
def test_no_secret_enters_the_image(dockerfile):
    secret = re.compile(r"(?i)(key|secret|token|passw|credential)")
    for item in instructions(dockerfile, "ENV") + instructions(dockerfile, "ARG"):
        names = re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", item["value"]) or [item["value"].split("=")[0]]
        assert not [n for n in names if secret.search(n)], item["content"]
    for item in instructions(dockerfile, "COPY"):
        assert not secret.search(item["value"]) and ".json" not in item["value"], item["content"]


@host_only
def test_hadolint_finds_nothing_and_every_ignored_rule_is_explained():
    hadolint = tool("hadolint")
    result = subprocess.run(
        [hadolint, "--config", str(ROOT / ".hadolint.yaml"), "-f", "json", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0 and json.loads(result.stdout) == [], result.stdout + result.stderr
    lines = (ROOT / ".hadolint.yaml").read_text().splitlines()
    config = yaml.safe_load("\n".join(lines))
    for rule in config["ignored"]:
        at = lines.index(f"  - {rule}")
        assert lines[at - 1].strip().startswith("#"), f"{rule} is ignored without a reason above it"


# The build context ---------------------------------------------------------------------------


def build_context(root) -> set[str]:
    from docker.utils.build import exclude_paths

    patterns = [p for p in (root / ".dockerignore").read_text().splitlines() if p and not p.startswith("#")]
    return set(exclude_paths(str(root), patterns))


@host_only
def test_build_context_holds_the_project():
    context = build_context(ROOT)
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    missing = [f for f in tracked if f not in context and not f.startswith((".github/", "reports/"))]
    assert not missing, f"tracked files left out of the image: {missing}"
    assert not [p for p in context if p.split("/")[0] in {".git", ".venv", ".venv-emulator", "reports", ".cache"}]


@host_only
def test_build_context_leaves_out_credentials_and_generated_files(tmp_path):
    shutil.copy(ROOT / ".dockerignore", tmp_path)
    planted = [
        ".env",
        "config/.env.production",
        "keys/my-project-1234-credentials.json",
        "service-account.json",
        "deploy/runner-sa.json",
        "tls/server.pem",
        "tls/server.key",
        "home/.config/gcloud/application_default_credentials.json",
        "reports/runs/x/01-eda.html",
        ".cache/bigquery/abc.parquet",
        ".venv/bin/python",
        ".git/HEAD",
        "src/bqlab/__pycache__/data.cpython-311.pyc",
        ".mypy_cache/3.11/bqlab/data.data.json",
        ".ruff_cache/0.1/123",
    ]
    kept = ["Dockerfile", "src/bqlab/sources/base.py", "params/common.yaml", "notebooks/01-eda.ipynb", "docker/run.sh"]
    for name in planted + kept:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    context = build_context(tmp_path)
    assert set(kept) <= context
    assert not context & set(planted), sorted(context & set(planted))


# The docker-* targets' input checks (they run before Docker is called) ----------------------


def docker_run(tmp_path, *args, env=None, user=None):
    base = {"PATH": os.environ["PATH"], "HOME": str(tmp_path / "home"), "REPORTS": str(tmp_path / "reports")}
    command = ["bash", str(ROOT / "docker/run.sh"), *args]
    if user is not None:
        command = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *command]
    return subprocess.run(command, env={**base, **(env or {})}, capture_output=True, text=True, timeout=60)


def path_without_docker(tmp_path) -> str:
    folder = tmp_path / "bin"
    folder.mkdir()
    for program in ("bash", "dirname", "id", "mkdir", "realpath", "python3", "git", "sed", "env"):
        if shutil.which(program):
            (folder / program).symlink_to(shutil.which(program))
    return str(folder)


@pytest.mark.parametrize("target", ["build", "report", "lab", "test"])
def test_docker_targets_without_docker_say_so_and_how_to_run_locally(tmp_path, target):
    result = docker_run(tmp_path, target, env={"PATH": path_without_docker(tmp_path)})
    assert result.returncode == 2
    assert "Neither Docker nor podman is installed" in result.stderr and "make report" in result.stderr


@pytest.mark.skipif(not shutil.which("docker"), reason="needs the Docker client (no engine is needed)")
def test_docker_client_without_an_engine_says_so(tmp_path):
    env = {"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock", "CONTAINER_ENGINE": "docker"}
    result = docker_run(tmp_path, "report", env=env)
    assert result.returncode == 2
    assert "no docker engine answers" in result.stderr and "make report" in result.stderr


def test_a_credentials_path_that_does_not_exist_is_named(tmp_path):
    missing = tmp_path / "keys" / "absent.json"
    result = docker_run(tmp_path, "report", env={"GOOGLE_APPLICATION_CREDENTIALS": str(missing)})
    assert result.returncode == 2
    assert f"GOOGLE_APPLICATION_CREDENTIALS={missing} is not a readable file" in result.stderr
    assert "gcloud auth application-default login" in result.stderr
    assert not (tmp_path / "reports").exists(), "nothing is created before the inputs are known good"


@pytest.mark.skipif(os.geteuid() != 0, reason="switches to the user nobody, which needs root")
def test_a_reports_folder_the_container_user_cannot_write_is_refused():
    # The container runs as the calling user: here "nobody", and the folder belongs to root.
    base = Path(tempfile.mkdtemp())
    try:
        base.chmod(0o755)
        reports = base / "reports"
        reports.mkdir(mode=0o755)
        nobody = 65534
        result = docker_run(base, "report", user=nobody)
    finally:
        shutil.rmtree(base)
    assert result.returncode == 2
    assert f"the container runs as you (uid {nobody}) and cannot write to {reports}" in result.stderr
    assert "chown" in result.stderr


def test_a_reports_path_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "reports").write_text("not a folder")
    result = docker_run(tmp_path, "report")
    assert result.returncode == 2 and "is not a folder" in result.stderr


def test_make_lists_the_docker_targets():
    listed = subprocess.run(["make", "help"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for target in ("docker-build", "docker-report", "docker-lab", "docker-test"):
        assert re.search(rf"^  {target} ", listed, re.M), target


# The batch-job manifest ----------------------------------------------------------------------


@host_only
def test_kubernetes_job_manifest_validates_strictly(tmp_path):
    validate = tool("kubernetes-validate")
    manifest = ROOT / "docker/k8s-job.yaml"
    ok = subprocess.run([validate, "--strict", str(manifest)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    job = yaml.safe_load(manifest.read_text())
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["args"][:2] == ["make", "report"]
    assert job["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    bad = tmp_path / "bad.yaml"
    bad.write_text(manifest.read_text().replace("backoffLimit: 1", "backoffLimit: one\n  retries: 3"))
    refused = subprocess.run([validate, "--strict", str(bad)], capture_output=True, text=True)
    assert refused.returncode != 0, "the validator rejects wrong types and unknown fields"


# The shipped workflow and scripts -------------------------------------------------------------


@host_only
def test_workflow_matches_githubs_schema_and_does_what_the_issue_asks():
    workflow = ROOT / ".github/workflows/container.yml"
    checked = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(workflow)],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    text = workflow.read_text()
    steps = yaml.safe_load(text)["jobs"]["image"]["steps"]
    build = next(s for s in steps if s.get("uses", "").startswith("docker/build-push-action"))
    assert build["with"]["cache-from"] == "type=gha" and build["with"]["load"] is True
    runs = "\n".join(s.get("run", "") for s in steps)
    for needed in ("make docker-report", "make docker-test", "stat -c %u", "id -u", "SIZE_BUDGET_BYTES"):
        assert needed in runs, needed
    assert 'SIZE_BUDGET_BYTES: "1500000000"' in text
    assert any(s.get("uses", "").startswith("actions/upload-artifact") for s in steps)


@host_only
def test_shell_scripts_pass_shellcheck():
    result = subprocess.run(
        [tool("shellcheck"), *(str(ROOT / f) for f in ("docker/run.sh", "docker/twin-base.sh", ".ci/run"))],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout
