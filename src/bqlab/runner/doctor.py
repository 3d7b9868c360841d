"""``make doctor``: check the set-up, one line per check, each failure with what to fix."""

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

from bqlab.config import load_params
from bqlab.errors import BqlabError
from bqlab.project import Project, find_root
from bqlab.runner.execution import KERNEL_NAME
from bqlab.runner.pipeline import preflight
from bqlab.sources import kinds, open_source

Check = tuple[str, Callable[[], str]]


def _python() -> str:
    return f"{sys.version.split()[0]} at {sys.executable}"


def _kernel() -> str:

    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
    except NoSuchKernel:
        raise BqlabError(f"kernel {KERNEL_NAME!r} is not registered: run `make setup`") from None
    return f"{KERNEL_NAME} -> {spec.argv[0]}"


def _engine_answer(engine: str) -> str | None:
    """The engine's version, or why it gives none (None: not installed)."""
    if not shutil.which(engine):
        return None
    version = "{{.ServerVersion}}" if engine == "docker" else "{{.Version.Version}}"
    env = dict(os.environ)
    conf = (find_root() or Path.cwd()) / "docker" / "containers.conf"
    if engine == "podman" and conf.is_file():  # the settings docker/run.sh passes it
        env.setdefault("CONTAINERS_CONF", str(conf))
    try:
        done = subprocess.run(
            [engine, "info", "--format", version], capture_output=True, text=True, timeout=15, env=env
        )
    except subprocess.TimeoutExpired:
        return f"{engine} found, but its engine did not answer within 15 s"
    if done.returncode != 0:
        return f"{engine} found, but no {engine} engine answers"
    return f"{engine} {done.stdout.strip()}"


def _container_engine() -> str:
    """The engine make docker-* would use (docker/run.sh: Docker when it answers, else podman)."""
    answers = {engine: _engine_answer(engine) for engine in ("docker", "podman")}
    found = [answer for answer in answers.values() if answer]
    working = [answer for answer in found if " found, but " not in answer]
    if working:
        return f"{working[0]} (make docker-*; BASE=twin builds without a registry)"
    if found:
        return "; ".join(found) + " (only needed for make docker-*)"
    return "neither Docker nor podman is installed (only needed for make docker-*)"


def checks(project: Project | Path, notebooks_dir: Path, profile: str | None) -> list[Check]:
    """The checks for this set-up and profile, in the order they run."""
    state: dict = {}

    def params() -> str:

        state["params"] = load_params(project, profile)
        return f"{len(state['params'].files)} files valid" + (f" (profile {profile})" if profile else "")

    def source() -> str:

        common = state["params"].common
        state["engine"] = open_source(common, "doctor")
        return kinds.kind(common.source).doctor(state["engine"])

    def table() -> str:

        engine, common = state["engine"], state["params"].common
        found = preflight(state["params"], notebooks_dir)
        text = f"{common.table}: {found['rows']} rows, label and features present"
        read_cost = kinds.kind(common.source).read_cost
        return text + (f"; {read_cost(engine, common)}" if read_cost else "")

    return [
        ("Python", _python),
        ("Jupyter kernel", _kernel),
        ("container engine", _container_engine),
        ("params", params),
        ("data source and credentials", source),
        ("table and columns", table),
    ]


def run_doctor(project: Project | Path, notebooks_dir: Path, profile: str | None, echo=print) -> int:
    """Run every check; print ok or the problem and its fix; return the number of failures."""
    failures = 0
    for name, check in checks(project, notebooks_dir, profile):
        try:
            echo(f"ok    {name}: {check()}")
        except BqlabError as err:
            failures += 1
            echo(f"FAIL  {name}: {err}")
        except KeyError:
            echo(f"skip  {name}: an earlier check failed")
    return failures
