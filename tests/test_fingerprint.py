from pathlib import Path

from bqlab.config import load_params, point_sections
from bqlab.runner import fingerprint

from .conftest import ROOT

SRC = ROOT / "src" / "bqlab"


def test_package_files_follow_imports_transitively():
    files = {str(p.relative_to(SRC)) for p in fingerprint.package_files("from bqlab.sources import identifiers")}
    assert {"sources/identifiers.py", "errors.py", "__init__.py", "sources/__init__.py"} <= files
    assert "analysis/plots.py" not in files and "runner/pipeline.py" not in files


def test_notebook_dependencies_include_the_modules_it_calls():
    code = fingerprint.notebook_code(ROOT / "notebooks" / "03-evaluate.ipynb")
    files = {str(p.relative_to(SRC)) for p in fingerprint.package_files(code)}
    expected = {"analysis/evaluation.py", "analysis/modeling.py", "analysis/queries.py", "sources/__init__.py"}
    assert expected | {"sources/base.py", "sources/embedded.py"} <= files, "followed into the engine open_source opens"
    assert "analysis/profiling.py" not in files and "report/render.py" not in files


def test_stage_fingerprint_changes_with_each_input(tmp_path):
    notebook = tmp_path / "nb.ipynb"
    notebook.write_text((ROOT / "notebooks" / "01-eda.ipynb").read_text())
    base = fingerprint.stage_fingerprint(notebook, {"a": 1}, "data1", ["up1"])
    assert fingerprint.stage_fingerprint(notebook, {"a": 1}, "data1", ["up1"]) == base
    assert fingerprint.stage_fingerprint(notebook, {"a": 2}, "data1", ["up1"]) != base
    assert fingerprint.stage_fingerprint(notebook, {"a": 1}, "data2", ["up1"]) != base
    assert fingerprint.stage_fingerprint(notebook, {"a": 1}, "data1", ["up2"]) != base
    notebook.write_text(notebook.read_text().replace("Data analysis", "Data analysis!"))
    assert fingerprint.stage_fingerprint(notebook, {"a": 1}, "data1", ["up1"]) != base


def test_quick_key_ignores_how_paths_are_spelt_and_sees_content(project, monkeypatch):
    absolute = fingerprint.quick_key(project / "params", None, project / "notebooks")
    monkeypatch.chdir(project)
    assert fingerprint.quick_key(Path("params"), None, Path("notebooks")) == absolute
    assert fingerprint.quick_key(Path("params"), "ci", Path("notebooks")) != absolute
    (project / "params" / "01-eda.yaml").write_text("sample_rows: 10\n")
    assert fingerprint.quick_key(Path("params"), None, Path("notebooks")) != absolute


def test_quick_key_reads_the_files_the_profile_and_a_point_as_the_params_loader_does(project):
    """One reader of the raw layers: a profile's and a sweep point's local_tables are the data digested."""
    params, notebooks, table = project / "params", project / "notebooks", "my-project.lab.t"
    (project / "t.csv").write_text("x,y\n1,a\n")
    (project / "u.csv").write_text("x,y\n1,a\n")
    (params / "profiles" / "p.yaml").write_text(f"common: {{local_tables: {{{table}: t.csv}}}}\n")
    point = point_sections({"local_tables": {table: "u.csv"}}, "point 1")
    assert load_params(params, "p", {"local_tables": {table: "u.csv"}}).common.local_tables[table] == "u.csv"
    before = fingerprint.quick_key(params, "p", notebooks, point)
    assert before is not None
    (project / "t.csv").write_text("x,y\n2,b\n")  # the profile's file, which the point replaces
    assert fingerprint.quick_key(params, "p", notebooks, point) == before
    (project / "u.csv").write_text("x,y\n2,b\n")  # the point's own file
    assert fingerprint.quick_key(params, "p", notebooks, point) != before
    # A point on the warehouse, or params that do not read: no quick key (the full check decides).
    assert fingerprint.quick_key(params, "p", notebooks, point_sections({"source": "bigquery"}, "p2")) is None
    (params / "common.yaml").write_text((params / "common.yaml").read_text() + "\nlabel: [unclosed\n")
    assert fingerprint.quick_key(params, "p", notebooks, point) is None


def test_data_digest_of_a_local_file_follows_its_content(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a\n1\n")
    first = fingerprint.data_digest("p.d.t", {"p.d.t": str(path)})
    path.write_text("a\n2\n")
    assert fingerprint.data_digest("p.d.t", {"p.d.t": str(path)}) != first
    assert fingerprint.data_digest("bigquery-public-data.ml_datasets.penguins", {}) == fingerprint.data_digest(
        "bigquery-public-data.ml_datasets.penguins", {}
    )


def test_a_large_file_is_hashed_streaming_once_until_it_changes(tmp_path, monkeypatch):
    import hashlib
    import os

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    big = tmp_path / "big.csv"
    big.write_bytes(b"x" * (fingerprint.CACHED_SIZE + 5))
    first = fingerprint.file_digest(big)
    assert first == hashlib.sha256(big.read_bytes()).hexdigest()
    assert fingerprint.digest_cache_file().is_file()

    opened = []
    real_open = type(big).open
    monkeypatch.setattr(
        type(big), "open", lambda self, *a, **k: (self == big and opened.append(self)) or real_open(self, *a, **k)
    )
    assert fingerprint.file_digest(big) == first and opened == [], "unchanged: not read again"
    big.write_bytes(b"y" * (fingerprint.CACHED_SIZE + 5))
    os.utime(big, ns=(1, 1))  # a different modification time, as any rewrite gives
    opened.clear()  # (the write itself opened it)
    assert fingerprint.file_digest(big) != first and opened == [big], "changed: read again"


def test_digests_work_without_a_writable_cache(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    big = tmp_path / "big.bin"
    big.write_bytes(b"z" * fingerprint.CACHED_SIZE)
    assert fingerprint.file_digest(big) == fingerprint.file_digest(big)


def test_the_environment_in_a_fingerprint_is_what_the_notebooks_run_with_not_the_dev_tools():
    from importlib import metadata

    from bqlab.runner.fingerprint import runtime_distributions

    runtime = runtime_distributions()
    for needed in ("bqlab", "pandas", "scikit-learn", "duckdb", "papermill", "ipykernel", "numpy", "packaging"):
        assert runtime.get(needed) == metadata.version(needed), needed
    installed = {d.metadata["Name"].lower() for d in metadata.distributions()}
    dev = {"pytest", "ruff", "mypy", "pre-commit", "deptry"} & installed
    assert dev and not dev & set(runtime), "a laptop set up for tests and the image make the same stages"


def test_the_environment_digest_is_kept_under_the_environments_stamp(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    fingerprint.environment_digest.cache_clear()
    read = []
    real = fingerprint.runtime_distributions
    monkeypatch.setattr(fingerprint, "runtime_distributions", lambda: read.append(1) or real())
    try:
        first = fingerprint.environment_digest()
        fingerprint.environment_digest.cache_clear()  # another process: the digest is read from the cache
        assert fingerprint.environment_digest() == first and len(read) == 1
        # A package installed or removed changes site-packages, so the stamp: the metadata is read again.
        monkeypatch.setattr(fingerprint, "environment_stamp", lambda: "another environment")
        monkeypatch.setattr(fingerprint, "runtime_distributions", lambda: read.append(1) or {"pandas": "0.1"})
        fingerprint.environment_digest.cache_clear()
        assert fingerprint.environment_digest() != first and len(read) == 2
    finally:
        fingerprint.environment_digest.cache_clear()
