"""bqlab sweep NAME --emit k8s|cloud-run: a sweep's points as the tasks of one cloud job."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bqlab import cli

from .conftest import IN_IMAGE, ROOT

STORE = "gs://my-team-bucket/sweeps"
IMAGE = "europe-docker.pkg.dev/my-project/bqlab/bqlab:0.1.0"
ACCOUNT = "bqlab-runner@my-project.iam.gserviceaccount.com"


@pytest.fixture
def project(tmp_path):
    for folder in ("params", "notebooks"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    runner = tmp_path / "params/runner.yaml"
    text = (
        runner.read_text()
        .replace("  image: null", f"  image: {IMAGE}")
        .replace("  parallelism: null", "  parallelism: 3")
    )
    runner.write_text(text.replace("  cloud_run_service_account: null", f"  cloud_run_service_account: {ACCOUNT}"))
    return tmp_path


def emit(project: Path, kind: str, capsys, store: str = STORE) -> tuple[int, str, str]:
    folders = ["--params-dir", str(project / "params"), "--notebooks-dir", str(project / "notebooks")]
    code = cli.main(["sweep", "models", "--emit", kind, *folders, "--reports-dir", store])
    out, err = capsys.readouterr()
    return code, out, err


def validator() -> str:
    beside = Path(sys.executable).parent / "kubernetes-validate"
    found = str(beside) if beside.exists() else shutil.which("kubernetes-validate")
    if not found and IN_IMAGE:
        pytest.skip("kubernetes-validate comes with requirements-dev.txt, which the image does not hold")
    assert found, "kubernetes-validate comes with requirements-dev.txt (make setup)"
    return found


def test_the_kubernetes_indexed_job_validates_strictly_and_runs_each_point_into_the_store(project, capsys, tmp_path):
    code, out, err = emit(project, "k8s", capsys)
    assert code == 0, err
    manifest = tmp_path / "job.yaml"
    manifest.write_text(out)
    checked = subprocess.run([validator(), "--strict", str(manifest)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    job = yaml.safe_load(out)
    spec = job["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 4, 3), "4 points"
    assert spec["activeDeadlineSeconds"] == 3600
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == IMAGE and pod["serviceAccountName"] == "bqlab-runner"
    assert container["args"][:9] == ["python", "-m", "bqlab", "sweep", "models", "--point", "task", "--yes", "--quiet"]
    assert container["args"][9:] == ["--reports-dir", STORE, "--profile", "ci"]
    assert spec["backoffLimitPerIndex"] == 1 and spec["maxFailedIndexes"] == 4, "a failing point stops no other"
    assert container["resources"]["requests"] == {"cpu": "2", "memory": "4Gi"}
    assert "env" not in container and "secret" not in out.lower(), "no secret: credentials come from the account"
    assert "kubectl apply -f -" in err and "--ignore-not-found" in err and f"--collect --reports-dir {STORE}" in err
    assert err.index(f"--point 1 --reports-dir {STORE}") < err.index("kubectl apply"), "point 1 first, once"
    bad = tmp_path / "bad.yaml"
    bad.write_text(out.replace("completionMode: Indexed", "completionMode: Indexed\n  completionIndex: 3"))
    refused = subprocess.run([validator(), "--strict", str(bad)], capture_output=True, text=True)
    assert refused.returncode != 0, "the validator refuses a field Kubernetes does not know"


def test_the_cloud_run_job_has_a_task_per_point_the_service_account_resources_and_a_deadline(project, capsys):
    code, out, err = emit(project, "cloud-run", capsys)
    assert code == 0, err
    job = yaml.safe_load(out)
    assert (job["apiVersion"], job["kind"], job["metadata"]["name"]) == (
        "run.googleapis.com/v1",
        "Job",
        "bqlab-sweep-models",
    )
    execution = job["spec"]["template"]["spec"]
    assert (execution["taskCount"], execution["parallelism"]) == (4, 3)
    task = execution["template"]["spec"]
    assert (task["serviceAccountName"], task["timeoutSeconds"], task["maxRetries"]) == (ACCOUNT, 3600, 1)
    (container,) = task["containers"]
    assert container["resources"]["limits"] == {"cpu": "2", "memory": "4Gi"}
    assert container["args"][5:7] == ["--point", "task"] and STORE in container["args"]
    assert "gcloud run jobs execute bqlab-sweep-models" in err


@pytest.mark.parametrize(
    "change, store, message",
    [
        ("", "reports", "run store in a bucket"),
        (f"image: {IMAGE}", STORE, "set fanout.image"),
        (f"cloud_run_service_account: {ACCOUNT}", STORE, "set fanout.cloud_run_service_account"),
    ],
)
def test_a_job_that_could_not_run_is_refused_with_what_to_set(project, capsys, change, store, message):
    runner = project / "params/runner.yaml"
    key = change.partition(":")[0]
    runner.write_text(runner.read_text().replace(change, f"{key}: null") if change else runner.read_text())
    code, out, err = emit(project, "cloud-run", capsys, store)
    assert code == 2 and out == "" and message in err


def test_a_sweep_beyond_max_points_is_emitted_only_with_yes_and_its_tasks_then_run(project, capsys):
    sweep = project / "params/sweeps/models.yaml"
    sweep.write_text(sweep.read_text() + "max_points: 2\n")
    code, out, err = emit(project, "k8s", capsys)
    assert code == 2 and out == "" and "--yes" in err
    folders = ["--params-dir", str(project / "params"), "--notebooks-dir", str(project / "notebooks")]
    assert cli.main(["sweep", "models", "--emit", "k8s", "--yes", *folders, "--reports-dir", STORE]) == 0
    assert "--yes" in yaml.safe_load(capsys.readouterr().out)["spec"]["template"]["spec"]["containers"][0]["args"]


def test_sweep_flags_on_another_command_are_refused(project, capsys):
    assert cli.main(["report", "--emit", "k8s", "--reports-dir", STORE]) == 2
    assert "--emit go with sweep" in capsys.readouterr().err
