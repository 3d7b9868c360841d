"""Outputs stored once by content (bqlab.runner.blobs) and retention by size (runs_to_prune's keep_bytes)."""

import hashlib
import json
import os

from bqlab.runner import blobs
from bqlab.runner.runs import baseline_run, remove_runs, runs_to_prune, tag_baseline

BIG = blobs.MIN_BYTES


def _run(reports, run_id, files, reused_from=None):
    """A finished run folder with ``files`` ({name: bytes}) and a record the index and prune read."""
    folder = reports / "runs" / run_id
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    stage = {"stage": "train", "notebook": "02-train.ipynb", "status": "ok", "seconds": 1.0, "metrics": {}}
    if reused_from:
        stage |= {"status": "reused", "reused_from": reused_from}
    record = {"run_id": run_id, "started": run_id, "status": "ok", "seconds": 1.0, "stages": [stage]}
    (folder / "run.json").write_text(json.dumps(record))
    return folder


def _inode(path):
    return os.stat(path).st_ino


def test_an_identical_output_is_kept_once_and_each_run_folder_stays_whole(tmp_path):
    model, other = b"m" * (3 * BIG), b"o" * (2 * BIG)
    first = _run(tmp_path, "r1", {"artifacts/model.skops": model, "small.json": b"{}"})
    second = _run(tmp_path, "r2", {"artifacts/model.skops": model, "figure.png": other, "small.json": b"{}"})
    store = blobs.store_dir(tmp_path)
    assert blobs.store_outputs(first, store) == 0, "the first copy is stored, nothing saved yet"
    assert blobs.store_outputs(second, store) == len(model)
    assert _inode(first / "artifacts/model.skops") == _inode(second / "artifacts/model.skops")
    assert (second / "artifacts/model.skops").read_bytes() == model, "the run's file reads as before"
    assert _inode(first / "small.json") != _inode(second / "small.json"), "small files are not linked"
    assert sorted(p.name for p in store.iterdir()) == sorted(hashlib.sha256(d).hexdigest() for d in (model, other))
    files = blobs.run_files(tmp_path, ["r1", "r2"])
    sizes = blobs.sizes(files)
    assert sizes["r2"].bytes == len(model) + len(other) + 2 + len((second / "run.json").read_bytes())
    assert sizes["r2"].own == sizes["r2"].bytes - len(model), "the shared model is nobody's own"
    assert blobs.total_bytes(files) == sizes["r1"].bytes + sizes["r2"].bytes - len(model)
    assert blobs.store_outputs(second, store) == 0, "a second pass finds every file already stored"


def test_removing_a_run_frees_only_what_no_kept_run_shares_and_drops_unlinked_copies(tmp_path):
    model, own = b"m" * (3 * BIG), b"x" * (2 * BIG)
    store = blobs.store_dir(tmp_path)
    for run_id, files in (("r1", {"model": model, "own": own}), ("r2", {"model": model})):
        blobs.store_outputs(_run(tmp_path, run_id, files), store)
    freed = remove_runs(tmp_path, ["r1"])
    assert freed == len(own) + len((tmp_path / "runs/r2/run.json").read_bytes()), "the model stays with r2"
    assert (tmp_path / "runs/r2/model").read_bytes() == model
    assert [p.name for p in store.iterdir()] == [hashlib.sha256(model).hexdigest()]
    assert remove_runs(tmp_path, ["r2"]) >= len(model) and not list(store.iterdir())


def test_keep_bytes_removes_the_oldest_runs_until_the_rest_fit_but_never_latest_or_a_reused_one(tmp_path):
    size = 10 * BIG
    _run(tmp_path, "r1", {"f": b"1" * size})
    _run(tmp_path, "r2", {"f": b"2" * size})  # reused by r4: kept
    _run(tmp_path, "r3", {"f": b"3" * size})
    _run(tmp_path, "r4", {"f": b"4" * size}, reused_from="r2")
    _run(tmp_path, "r5", {"f": b"5" * size})
    assert runs_to_prune(tmp_path, keep=10, latest="r5") == [], "no size bound: keep_runs alone"
    assert runs_to_prune(tmp_path, keep=10, latest="r5", keep_bytes=100 * size) == []
    assert runs_to_prune(tmp_path, keep=10, latest="r5", keep_bytes=int(3.5 * size)) == ["r1", "r3"]
    # r2 stays while r4, which reuses it, is kept; once r4 goes, so may r2. The latest run always stays.
    assert runs_to_prune(tmp_path, keep=10, latest="r5", keep_bytes=1) == ["r1", "r3", "r4", "r2"]
    assert runs_to_prune(tmp_path, keep=2, latest="r5", keep_bytes=100 * size) == ["r3", "r1"]
    tag_baseline(tmp_path, "r1")  # the gate's baseline stays whatever keep_runs and keep_bytes say
    assert runs_to_prune(tmp_path, keep=2, latest="r5", keep_bytes=100 * size) == ["r3"]
    assert runs_to_prune(tmp_path, keep=10, latest="r5", keep_bytes=1) == ["r3", "r4", "r2"]
    tag_baseline(tmp_path, "gone")  # a tag naming no kept run protects nothing
    assert baseline_run(tmp_path) is None


def test_shared_files_count_once_against_keep_bytes(tmp_path):
    shared = b"s" * (10 * BIG)
    store = blobs.store_dir(tmp_path)
    for run_id in ("r1", "r2", "r3"):
        blobs.store_outputs(_run(tmp_path, run_id, {"model": shared}), store)
    assert runs_to_prune(tmp_path, keep=10, latest="r3", keep_bytes=int(1.5 * len(shared))) == []


def test_runs_a_sweeps_leaderboard_lists_are_kept_with_what_they_reuse(tmp_path):
    import json

    size = 10 * BIG
    for run_id in ("r1", "r2", "r3"):
        _run(tmp_path, run_id, {"f": run_id.encode() * size})
    _run(tmp_path, "r4", {"f": b"4" * size}, reused_from="r2")
    _run(tmp_path, "r5", {"f": b"5" * size})
    assert runs_to_prune(tmp_path, keep=1, latest="r5") == ["r4", "r3", "r2", "r1"]
    (tmp_path / "sweeps").mkdir()
    (tmp_path / "sweeps" / "grid.json").write_text(json.dumps({"points": [{"run_id": "r1"}, {"run_id": "r4"}]}))
    (tmp_path / "sweeps" / "broken.json").write_text("{not json")  # protects nothing, breaks nothing
    assert runs_to_prune(tmp_path, keep=1, latest="r5") == ["r3"], "r2 stays: the listed r4 reuses it"
    assert runs_to_prune(tmp_path, keep=1, latest="r5", keep_bytes=1) == ["r3"]
    (tmp_path / "sweeps" / "grid.json").unlink()  # the sweep's page removed: its runs may go
    assert runs_to_prune(tmp_path, keep=1, latest="r5") == ["r4", "r3", "r2", "r1"]
