"""Container benchmark (``make bench-container``): prints figures, asserts nothing.

The twin image built and run with podman (docs/container.md): the time to make its base and to
build it from nothing, to rebuild it after a code change (only the last layers), its size, and
the time of each ``make docker-*`` target, against ``make report`` on the host in the same run.
The reports' ``metrics.json`` files are compared, value by value, between the host and the image.

Run as root, with podman and mmdebstrap installed (``.ci/run`` installs them). ``--warm`` keeps
the twin's base and the cached layers, to time a rebuild only; without it the base and the
benchmark's image are removed first (layers another image shares stay cached).
"""

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMAGE = "bqlab:bench-twin"
ENV = {**os.environ, "CONTAINERS_CONF": str(ROOT / "docker/containers.conf"), "CONTAINER_ENGINE": "podman"}


def timed(*command: str, env: dict | None = None) -> float:
    """Run ``command`` in the project; return its wall seconds (exit if it fails)."""
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env={**ENV, **(env or {})}, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return time.perf_counter() - start


def podman(*args: str) -> str:
    """Run podman with the project's settings; return what it printed."""
    return subprocess.run(["podman", *args], env=ENV, capture_output=True, text=True, check=True).stdout


def base_image() -> str:
    """The twin base's tag, as docker/run.sh names it: the Python environment.yml pins, the script's hash."""
    python = next(
        line.split("=")[1] for line in (ROOT / "environment.yml").read_text().splitlines() if "python=" in line
    )
    script = hashlib.sha256((ROOT / "docker/twin-base.sh").read_bytes()).hexdigest()[:8]
    return f"bqlab-twin-base:{python.strip()}-{script}"


def lab_start(work: Path) -> float:
    """Seconds from ``make docker-lab`` to Lab answering its API with the token."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    token, name = "bench-token", "bqlab-bench-lab"
    command = ["make", "docker-lab", "BASE=twin", f"IMAGE={IMAGE}", f"LAB_PORT={port}", f"REPORTS={work / 'lab'}"]
    env = {**ENV, "JUPYTER_TOKEN": token, "CONTAINER_NAME": name}
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/api/status", headers={"Authorization": f"token {token}"}
                )
                urllib.request.urlopen(request, timeout=5).read()
                return time.perf_counter() - start
            except OSError:
                if process.poll() is not None or time.perf_counter() - start > 120:
                    sys.exit("make docker-lab did not answer within 120 s")
                time.sleep(0.2)
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            podman("stop", "--time", "20", name)
        process.wait(timeout=60)


def metrics(run: Path) -> dict[str, dict]:
    """Each stage's metrics.json of a run folder."""
    return {p.parent.name: json.loads(p.read_text()) for p in sorted(run.glob("artifacts/*/metrics.json"))}


def differences(a: object, b: object, path: str = "") -> list[str]:
    """The paths at which two JSON values differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b)) for d in differences(a.get(k), b.get(k), f"{path}.{k}")]
    return [] if a == b else [f"{path}: host {a!r}, image {b!r}"]


def leaves(value: object) -> int:
    """How many values a JSON object holds."""
    return sum(leaves(v) for v in value.values()) if isinstance(value, dict) else 1


def main() -> None:
    """Build, time each target and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warm", action="store_true", help="keep the base and cached layers")
    args = parser.parse_args()
    if not shutil.which("podman") or not shutil.which("mmdebstrap"):
        sys.exit("needs podman and mmdebstrap: sudo apt-get install podman runc mmdebstrap (see docs/container.md)")
    work = Path(tempfile.mkdtemp(prefix="bqlab-bench-container-"))
    figures: list[tuple[str, str]] = []
    if not args.warm:
        for image in (IMAGE, base_image()):
            with contextlib.suppress(subprocess.CalledProcessError):
                podman("rmi", "--force", image)
        started = time.perf_counter()
        subprocess.run(["docker/twin-base.sh", "podman", base_image()], cwd=ROOT, env=ENV, check=True)
        figures.append(("make the twin's base (mmdebstrap, import)", f"{time.perf_counter() - started:.1f} s"))
    build = timed("make", "docker-build-twin", f"IMAGE={IMAGE}")
    figures.append(("docker-build-twin" + (" (cached layers)" if args.warm else ", base made"), f"{build:.1f} s"))
    marker = ROOT / "src/bqlab/__init__.py"
    original = marker.read_text()
    try:
        marker.write_text(original + "\n# bench-container: a code change\n")
        rebuild = timed("make", "docker-build-twin", f"IMAGE={IMAGE}")
    finally:
        marker.write_text(original)
    figures.append(("docker-build-twin after a code change", f"{rebuild:.1f} s"))
    size = int(podman("image", "inspect", "--format", "{{.Size}}", IMAGE).strip())
    base = int(podman("image", "inspect", "--format", "{{.Size}}", base_image()).strip())
    figures.append(("image size", f"{size / 1e9:.2f} GB (the base {base / 1e6:.0f} MB)"))

    host = timed("make", "report", "FORCE=1", "QUIET=1", f"REPORTS={work / 'host'}")
    image = timed(
        "make", "docker-report", "BASE=twin", f"IMAGE={IMAGE}", "FORCE=1", "QUIET=1", f"REPORTS={work / 'image'}"
    )
    figures.append(("make report on the host (baseline)", f"{host:.1f} s"))
    figures.append(("make docker-report", f"{image:.1f} s (x{image / host:.2f})"))
    fast = timed("make", "docker-test", "BASE=twin", f"IMAGE={IMAGE}")
    figures.append(("make docker-test (the fast suite)", f"{fast:.1f} s"))
    figures.append(("make docker-lab until Lab answers", f"{lab_start(work):.1f} s"))
    on_host, in_image = metrics((work / "host/latest").resolve()), metrics((work / "image/latest").resolve())
    diff = differences(on_host, in_image)
    same = "identical" if not diff else f"{len(diff)} differ: " + "; ".join(diff[:5])
    figures.append(("metrics.json, host against image", f"{same} ({leaves(on_host)} values, 3 stages)"))

    width = max(len(name) for name, _ in figures)
    print(f"\nbqlab container benchmark (podman {podman('--version').split()[-1]}, {os.cpu_count()} cores)")
    for name, figure in figures:
        print(f"  {name:<{width}}  {figure}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
