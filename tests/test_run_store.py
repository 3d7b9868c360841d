"""A run store in a bucket (``--reports-dir gs://...``): runs made on two machines land in one place with
one index, and a stage one machine made is reused by the other (a local Cloud Storage emulator)."""

import json
import os
import shutil
import subprocess
import sys
import uuid

import pytest

from bqlab import cli
from bqlab.errors import ParamsError
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

    # Back on the laptop, a command that makes no run: latest/ stays on the newest run, the CI job's,
    # and the baseline's default is that run too; the CI job's copy reads the store's tag.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache-laptop"))
    folders = ["--params-dir", str(laptop / "params"), "--notebooks-dir", str(laptop / "notebooks")]
    assert cli.main(["baseline", *folders, "--reports-dir", store]) == 0
    shown = bucket.blob("runs-of-the-team/latest/index.html").download_as_text()
    assert f'<meta name="bqlab-latest-run" content="{runs[1]}">' in shown, "latest/ never goes back"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache-ci-job"))
    folders = ["--params-dir", str(ci_job / "params"), "--notebooks-dir", str(ci_job / "notebooks")]
    assert cli.main(["compare", "--quiet", *folders, "--reports-dir", store]) == 0
    assert (local_copy(store) / "baseline").read_text().strip() == runs[1], "the store's latest, tagged"
    # The laptop reports again: the newest run has other inputs, so a new run, every stage reused.
    assert report(laptop, store, monkeypatch, tmp_path) == 0
    third = sorted({n.split("/")[2] for n in (b.name for b in bucket.list_blobs()) if n.endswith("/run.index.json")})
    assert len(third) == 3
    record = json.loads(bucket.blob(f"runs-of-the-team/runs/{third[2]}/run.json").download_as_text())
    assert {s["status"] for s in record["stages"]} == {"reused"}, "nothing computed again"


class FakeStore:
    """A bucket folder as pull reads it: names with MD5s, and their bytes."""

    where = "gs://some-bucket/runs"

    def __init__(self, objects: dict[str, bytes]):
        self.objects = objects

    def listing(self):
        return dict.fromkeys(self.objects, "md5")

    def read(self, name):
        return self.objects.get(name)

    def fetch(self, name, path):
        if name in self.objects:
            path.write_bytes(self.objects[name])
        return name in self.objects


def test_a_run_whose_file_names_would_write_outside_its_folder_is_not_fetched(tmp_path, monkeypatch):
    from bqlab.runner import remote

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    record = json.dumps({"run_id": "R1", "stages": []}).encode()
    objects = {
        ".bqlab-publish.json": b'{"published_by": "bqlab", "audience": "team"}',
        "runs/R1/run.index.json": record,
        "runs/R1/run.json": record,
        "runs/R1/../../../../escaped.txt": b"owned",
        "runs/R2/run.index.json": record,
        "runs/R2/run.json": record,
        "runs/R2/figures/a.png": b"png",
        "other/runs/R3/run.index.json": record,
    }
    monkeypatch.setattr(remote, "open_destination", lambda *_: FakeStore(objects))
    lines = []
    copy, whole = remote.pull("gs://some-bucket/runs", tmp_path, None, lines.append)
    assert whole == {"R1", "R2"}
    assert not list(tmp_path.rglob("escaped.txt")), "nothing written outside the run's folder"
    assert sorted(p.name for p in (copy / "runs").iterdir()) == ["R1", "R2"], "whole runs only, no folder left"
    assert (copy / "runs/R2/figures/a.png").read_bytes() == b"png"
    assert lines == [f"run store gs://some-bucket/runs: 2 run(s); 2 fetched to {copy}"]
    remote.pull("gs://some-bucket/runs", tmp_path, None, lines.append)
    assert lines[-1].endswith(f"0 fetched to {copy}"), "each run once"
    del objects["runs/R2/run.index.json"]  # another machine's push removed it (retention)
    _, whole = remote.pull("gs://some-bucket/runs", tmp_path, None, lines.append)
    assert whole == {"R1"} and remote.unsent(copy, whole) == [], "a run the store removed is not sent back"
    objects.pop(".bqlab-publish.json")
    with pytest.raises(ParamsError, match="holds files bqlab did not put there"):
        remote.pull("gs://some-bucket/runs", tmp_path, None, lines.append)
    objects[".bqlab-publish.json"] = b'{"published_by": "bqlab", "audience": "readers"}'
    with pytest.raises(ParamsError, match="published for readers"):
        remote.pull("gs://some-bucket/runs", tmp_path, None, lines.append)


def sweep_file(project):
    (project / "params/sweeps/folds.yaml").write_text("profile: ci\ngrid:\n  cv_folds: [3, 4]\n")


def leaderboard(path) -> list[tuple]:
    body = json.loads(path.read_text())
    return [(p["point"], p["values"], p["status"], p["scores"], p["best"]) for p in body["points"]]


@pytest.mark.slow
def test_a_sweep_fanned_out_as_cloud_tasks_gives_the_leaderboard_of_the_same_sweep_run_here(
    tmp_path,
    monkeypatch,
    gcs_emulator,  # noqa: F811 - the fixture
):
    here = machine(tmp_path, "here")
    sweep_file(here)
    folders = ["--params-dir", str(here / "params"), "--notebooks-dir", str(here / "notebooks")]
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache-here"))
    assert cli.main(["sweep", "folds", "--quiet", *folders, "--reports-dir", str(here / "reports")]) == 0

    name = f"store-{uuid.uuid4().hex[:12]}"
    storage_client(gcs_emulator).create_bucket(name)
    store = f"gs://{name}/sweeps"
    cloud = machine(tmp_path, "cloud")
    sweep_file(cloud)
    # First, once: point 1, whose data analysis the other points reuse.
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache-first"))
    folders = ["--params-dir", str(cloud / "params"), "--notebooks-dir", str(cloud / "notebooks")]
    assert cli.main(["sweep", "folds", "--point", "1", "--quiet", *folders, "--reports-dir", store]) == 0
    command = [sys.executable, "-m", "bqlab", "sweep", "folds", "--point", "task", "--quiet"]
    command += ["--params-dir", str(cloud / "params"), "--notebooks-dir", str(cloud / "notebooks")]
    command += ["--reports-dir", store]
    tasks = [
        subprocess.Popen(
            command,
            env={
                **os.environ,
                "STORAGE_EMULATOR_HOST": gcs_emulator,
                "XDG_CACHE_HOME": str(tmp_path / f"cache-task-{index}"),  # each task a container of its own
                variable: str(index),
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for index, variable in enumerate(["JOB_COMPLETION_INDEX", "CLOUD_RUN_TASK_INDEX"])
    ]
    outputs = [task.communicate(timeout=600)[0] for task in tasks]
    assert [task.returncode for task in tasks] == [0, 0], outputs
    assert "point 1: run" in outputs[0] and "point 2: run" in outputs[1], outputs

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache-collector"))
    assert cli.main(["sweep", "folds", "--collect", "--quiet", *folders, "--reports-dir", store]) == 0
    collected = local_copy(store) / "sweeps/folds.json"
    assert leaderboard(collected) == leaderboard(here / "reports/sweeps/folds.json")
    first, second = (p["run_id"] for p in json.loads(collected.read_text())["points"])
    stages = {s["stage"]: s for s in json.loads((local_copy(store) / f"runs/{second}/run.json").read_text())["stages"]}
    assert (stages["eda"]["status"], stages["eda"]["reused_from"]) == ("reused", first), "the data analysis ran once"
    runs = {p.name for p in (local_copy(store) / "runs").iterdir() if not p.name.startswith(".")}
    assert runs == {first, second}, "the first task found its point done: no second run of it"
    assert all(p[2] == "ok" and p[3]["cv_mean"] is not None for p in leaderboard(collected)), "scored points"
    page = storage_client(gcs_emulator).bucket(name).blob("sweeps/sweeps/folds.html").download_as_text()
    assert "cv_folds" in page, "the leaderboard page is in the store"


def test_a_task_index_that_is_missing_or_past_the_points_is_refused_before_any_work(tmp_path, monkeypatch, capsys):
    project = machine(tmp_path, "p")
    sweep_file(project)
    folders = ["--params-dir", str(project / "params"), "--notebooks-dir", str(project / "notebooks")]
    for variable in ("JOB_COMPLETION_INDEX", "CLOUD_RUN_TASK_INDEX"):
        monkeypatch.delenv(variable, raising=False)
    assert cli.main(["sweep", "folds", "--point", "task", *folders, "--reports-dir", str(project / "r")]) == 2
    assert "$JOB_COMPLETION_INDEX or $CLOUD_RUN_TASK_INDEX" in capsys.readouterr().err
    monkeypatch.setenv("CLOUD_RUN_TASK_INDEX", "2")
    assert cli.main(["sweep", "folds", "--point", "task", *folders, "--reports-dir", str(project / "r")]) == 2
    assert "no point 3" in capsys.readouterr().err
    assert not (project / "r" / "runs").exists() or not any((project / "r" / "runs").iterdir()), "nothing ran"


@pytest.mark.slow
def test_a_run_whose_push_failed_is_sent_by_the_next_command(tmp_path, monkeypatch, capsys, gcs_emulator):  # noqa: F811
    from bqlab.errors import DataError
    from bqlab.runner import remote

    name = f"store-{uuid.uuid4().hex[:12]}"
    bucket = storage_client(gcs_emulator).create_bucket(name)
    store = f"gs://{name}/runs"
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator)
    laptop = machine(tmp_path, "laptop")
    real, calls = remote.publish, []

    def refused_once(*args, **kwargs):
        calls.append(args)
        if len(calls) == 1:
            raise DataError("the network went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(remote, "publish", refused_once)
    assert report(laptop, store, monkeypatch, tmp_path) == 2
    err = capsys.readouterr().err
    assert "the network went away" in err and "run it again to send it" in err
    assert not [b for b in bucket.list_blobs() if b.name.endswith("run.index.json")], "nothing whole was sent"
    assert report(laptop, store, monkeypatch, tmp_path) == 0, "a no-op here ..."
    assert "up to date" in capsys.readouterr().out
    sent = [b.name for b in bucket.list_blobs() if b.name.endswith("run.index.json")]
    assert len(sent) == 1 and len(calls) == 2, "... that sends the run the failed push left"
