"""A run store in a bucket (``--reports-dir gs://...``): runs made on two machines land in one place with
one index, and a stage one machine made is reused by the other (a local Cloud Storage emulator)."""

import json
import shutil
import uuid

import pytest

from bqlab import cli
from bqlab.runner.remote import local_copy

from .conftest import ROOT
from .gcs import gcs_emulator, storage_client  # noqa: F401 - fixture


def machine(tmp_path, name: str):
    """A project folder of its own, as on another machine (its own caches)."""
    project = tmp_path / name
    for folder in ("params", "notebooks"):
        shutil.copytree(ROOT / folder, project / folder)
    return project


def report(project, store: str, monkeypatch, tmp_path) -> int:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / f"cache-{project.name}"))
    folders = ["--params-dir", str(project / "params"), "--notebooks-dir", str(project / "notebooks")]
    return cli.main(["report", "--profile", "ci", "--quiet", *folders, "--reports-dir", store])


@pytest.mark.slow
def test_runs_from_two_machines_land_in_one_store_with_one_index_and_reuse_each_others_stages(
    tmp_path,
    monkeypatch,
    gcs_emulator,  # noqa: F811 - the fixture
):
    name = f"store-{uuid.uuid4().hex[:12]}"
    bucket = storage_client(gcs_emulator).create_bucket(name)
    store = f"gs://{name}/runs-of-the-team"
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator)
    laptop, ci_job = machine(tmp_path, "laptop"), machine(tmp_path, "ci-job")
    profile = ci_job / "params/profiles/ci.yaml"
    profile.write_text(profile.read_text().replace("cv_folds: 3", "cv_folds: 4"))

    assert report(laptop, store, monkeypatch, tmp_path) == 0
    assert report(ci_job, store, monkeypatch, tmp_path) == 0

    names = {blob.name for blob in bucket.list_blobs(prefix="runs-of-the-team/")}
    runs = sorted({n.split("/")[2] for n in names if n.endswith("/run.index.json")})
    assert len(runs) == 2, f"both machines' runs are in the store: {runs}"
    index = bucket.blob("runs-of-the-team/index.html").download_as_text()
    assert all(f'id="{run}"' in index for run in runs), "one index lists both"
    second = json.loads(bucket.blob(f"runs-of-the-team/runs/{runs[1]}/run.json").download_as_text())
    stages = {s["stage"]: s for s in second["stages"]}
    assert stages["eda"]["status"] == "reused" and stages["eda"]["reused_from"] == runs[0], (
        "the data analysis the laptop made is reused on the CI job"
    )
    assert stages["train"]["status"] == "ok", "the changed training ran"
    assert (local_copy(store) / "runs" / runs[0] / "run.json").is_file(), "the CI job's copy holds the laptop's run"
