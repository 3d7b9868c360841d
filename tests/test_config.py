from pathlib import Path

import pytest

from bqlab.config import EvaluateParams, TrainParams, load_params
from bqlab.errors import ParamsError
from bqlab.project import ROOT_VARIABLE
from bqlab.sources import open_source

from .conftest import ROOT, write_yaml


def test_project_params_load_and_profiles_overlay():
    base = load_params(ROOT / "params")
    ci = load_params(ROOT / "params", "ci")
    assert base.common.table == "bigquery-public-data.ml_datasets.penguins"
    assert ci.stages["train"].cv_folds < base.stages["train"].cv_folds
    assert ci.stages["eda"] == base.stages["eda"]  # the ci profile leaves EDA alone
    assert ci.files[-1].name == "ci.yaml"


def test_every_stage_shares_the_common_values(project):
    params = load_params(project / "params")
    assert {p.label for p in params.stages.values()} == {"species"}
    assert {tuple(p.features) for p in params.stages.values()} == {tuple(params.common.features)}


def test_unknown_key_names_file_key_and_nearest_valid_key(project):
    write_yaml(project / "params/common.yaml", "table: a-project.ds.t\nlabell: species\nfeatures: [x]\n")
    with pytest.raises(ParamsError, match=r"common\.yaml: unknown key 'labell'; did you mean 'label'\?"):
        load_params(project / "params")


def test_among_equally_near_keys_the_one_not_set_yet_is_suggested(project):
    write_yaml(project / "params/common.yaml", "table: a-project.ds.t\nlable: species\nfeatures: [x]\n")
    with pytest.raises(ParamsError, match=r"unknown key 'lable'; did you mean 'label'\?"):  # not 'table': it is set
        load_params(project / "params")


def test_stage_file_rejects_a_shared_key_and_says_where_it_belongs(project):
    write_yaml(project / "params/02-train.yaml", "model: random_forest\nseed: 3\n")
    with pytest.raises(
        ParamsError,
        match=r"02-train\.yaml \(only 02-train's own keys; shared keys go in common\.yaml\): unknown key 'seed'",
    ):
        load_params(project / "params")


def test_wrong_type_names_file_and_key(project):
    write_yaml(project / "params/02-train.yaml", "model: random_forest\ncv_folds: five\n")
    with pytest.raises(ParamsError, match=r"02-train\.yaml: key 'cv_folds': Input should be a valid integer.*'five'"):
        load_params(project / "params")


def test_unknown_model_lists_the_choices(project):
    write_yaml(project / "params/02-train.yaml", "model: xgboost\n")
    with pytest.raises(
        ParamsError,
        match=r"key 'model': unknown model 'xgboost': use one of auto, logistic_regression, ridge, random_forest, "
        "gradient_boosting, hist_gradient_boosting",
    ):
        load_params(project / "params")


def test_unknown_hyperparameter_suggests_the_estimator_argument(project):
    write_yaml(project / "params/02-train.yaml", "model: random_forest\nhyperparameters: {n_estimator: 10}\n")
    with pytest.raises(
        ParamsError,
        match=r"unknown hyperparameter 'n_estimator' for model 'random_forest'; did you mean 'n_estimators'\?",
    ):
        load_params(project / "params")


def test_malformed_table_id_is_rejected_before_anything_runs(project):
    text = (
        (project / "params/common.yaml")
        .read_text()
        .replace("table: bigquery-public-data.ml_datasets.penguins", "table: 'proj.ds.t; DROP TABLE x'")
    )
    write_yaml(project / "params/common.yaml", text)
    with pytest.raises(
        ParamsError, match=r"common\.yaml: key 'table': table id 'proj.ds.t; DROP TABLE x' is not valid"
    ):
        load_params(project / "params")


def test_label_listed_as_feature_is_rejected(project):
    write_yaml(project / "params/common.yaml", "label: species\nfeatures: [species, island]\n")
    with pytest.raises(
        ParamsError, match=r"common\.yaml: key 'features': label 'species' is also listed in features: remove it"
    ):
        load_params(project / "params")
    write_yaml(project / "params/common.yaml", "label: species\nfeatures: [island, sex, island]\n")
    with pytest.raises(ParamsError, match=r"common\.yaml: key 'features': features lists 'island' more than once"):
        load_params(project / "params")


def test_profile_sections_are_checked(project):
    write_yaml(project / "params/profiles/fast.yaml", "training:\n  cv_folds: 2\n")
    with pytest.raises(ParamsError, match=r"fast\.yaml \(sections\): unknown key 'training'; did you mean 'train'\?"):
        load_params(project / "params", "fast")


def test_profile_values_are_validated_and_blamed_on_the_profile(project):
    write_yaml(project / "params/profiles/fast.yaml", "common:\n  test_fraction: 1.5\n")
    with pytest.raises(ParamsError, match=r"fast\.yaml: key 'test_fraction': Input should be less than 1"):
        load_params(project / "params", "fast")


def test_missing_profile_lists_the_known_ones(project):
    with pytest.raises(ParamsError, match=r"profile 'nope' not found.*known profiles: \['bigquery', 'ci'\]"):
        load_params(project / "params", "nope")


def test_yaml_that_is_not_a_mapping_is_rejected(project):
    write_yaml(project / "params/01-eda.yaml", "- just\n- a list\n")
    with pytest.raises(ParamsError, match=r"01-eda\.yaml: expected a mapping"):
        load_params(project / "params")


def test_local_table_paths_stay_as_written_and_are_read_from_the_project_root(project, tmp_path_factory, monkeypatch):
    text = (
        (project / "params/common.yaml")
        .read_text()
        .replace("local_tables: {}", "local_tables: {my-project.sales.orders: data/orders.csv}")
        .replace("table: bigquery-public-data.ml_datasets.penguins", "table: my-project.sales.orders")
    )
    write_yaml(project / "params/common.yaml", text)
    write_yaml(project / "data/orders.csv", "id,amount\n1,2.5\n2,4.0\n")
    params = load_params(project / "params")
    assert params.common.local_tables == {"my-project.sales.orders": "data/orders.csv"}, "no machine path in params"
    monkeypatch.delenv(ROOT_VARIABLE, raising=False)
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    assert open_source(params.common, root=params.root).row_count("my-project.sales.orders") == 2
    monkeypatch.chdir(project / "notebooks")  # a notebook run by hand: the root is found from here
    assert open_source(params.common).row_count("my-project.sales.orders") == 2


def test_from_namespace_reads_only_the_model_fields():
    namespace = {"features": ["a", "b"], "label": "y", "model": "gradient_boosting", "output_dir": "x", "In": []}
    params = TrainParams.from_namespace(namespace)
    assert (params.model, params.features) == ("gradient_boosting", ["a", "b"])


def test_evaluate_reads_slice_columns_that_are_not_features():
    params = EvaluateParams(label="y", features=["a"], slice_columns=["a", "region"])
    assert params.columns == ["y", "a", "region"]
    assert params.split_columns == ["y", "a"]


def test_malformed_billing_project_is_rejected(project):
    text = (project / "params/common.yaml").read_text().replace("  project: null", "  project: My_Project!")
    write_yaml(project / "params/common.yaml", text)
    with pytest.raises(
        ParamsError,
        match=r"common\.yaml: key 'bigquery.project': 'My_Project!' is not a project id: use 6-30 lowercase",
    ):
        load_params(project / "params")


@pytest.mark.parametrize(
    "file, text, key",
    [
        ("01-eda.yaml", "sample_rows: 0\n", "sample_rows"),
        ("01-eda.yaml", "top_values: -1\n", "top_values"),
    ],
)
def test_a_sample_or_row_bound_of_zero_is_refused_with_the_key(project, file, text, key):
    write_yaml(project / "params" / file, text)
    with pytest.raises(ParamsError, match=rf"{file.replace('.', '[.]')}: key '{key}': Input should be greater than 0"):
        load_params(project / "params")


def test_max_rows_of_zero_is_refused_with_the_key(project):
    common = (project / "params/common.yaml").read_text().replace("max_rows: 100000", "max_rows: 0")
    write_yaml(project / "params/common.yaml", common)
    with pytest.raises(ParamsError, match=r"common[.]yaml: key 'max_rows': Input should be greater than 0"):
        load_params(project / "params")


def test_a_profile_merges_nested_keys_one_by_one(project):
    common = (project / "params/common.yaml").read_text().replace("  project: null", "  project: my-billing-1")
    write_yaml(project / "params/common.yaml", common)
    write_yaml(project / "params/profiles/eu.yaml", "common:\n  bigquery:\n    location: EU\n")
    params = load_params(project / "params", "eu")
    assert (params.common.bigquery.project, params.common.bigquery.location) == ("my-billing-1", "EU")
    assert params.common.bigquery.maximum_bytes_billed == 1073741824, "keys the profile does not name are kept"


def test_the_ci_profile_keeps_the_hyperparameters_it_does_not_name():
    ci = load_params(ROOT / "params", "ci")
    assert ci.stages["train"].settings_for("random_forest") == {"n_estimators": 30, "min_samples_leaf": 2}


def test_a_nested_value_in_a_profile_is_blamed_on_the_profile(project):
    write_yaml(project / "params/profiles/fast.yaml", "common:\n  bigquery:\n    maximum_bytes_billed: -1\n")
    with pytest.raises(ParamsError, match=r"profiles/fast\.yaml: key 'bigquery.maximum_bytes_billed': Input should"):
        load_params(project / "params", "fast")


def test_where_names_the_file_or_says_the_value_is_a_built_in_default(project):
    write_yaml(project / "params/03-evaluate.yaml", "permutation_repeats: 3\n")
    write_yaml(project / "params/profiles/fast.yaml", "evaluate:\n  permutation_repeats: 2\n")
    params = load_params(project / "params", "fast")
    assert params.where("evaluate", "permutation_repeats").endswith("profiles/fast.yaml")
    assert params.where("evaluate", "slice_columns").endswith(
        "params/03-evaluate.yaml (built-in default, not set in the file)"
    )
    assert params.where("train", "label").endswith("params/common.yaml")
    assert params.stages["evaluate"].slice_columns == "auto"


def test_a_local_file_with_its_encoding_and_delimiter(project):
    text = (project / "params/common.yaml").read_text()
    text = text.replace(
        "local_tables: {}", "local_tables: {p-abcdef.d.t: {path: data/t.csv, encoding: latin-1, delimiter: ';'}}"
    )
    write_yaml(project / "params/common.yaml", text)
    entry = load_params(project / "params").common.local_files["p-abcdef.d.t"]
    assert (entry.path, entry.encoding, entry.delimiter) == ("data/t.csv", "latin-1", ";")


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("column_types: {}", "column_types: {spend: DOUBLE}", r"key 'column_types.spend': Input should be 'STRING'"),
        (
            "task: auto",
            "task: regresion",
            r"key 'task': unknown task 'regresion' \(did you mean 'regression'\?\): use one of auto, classification",
        ),
        ("memory_limit: 256MB", "memory_limit: lots", r"key 'local_engine.memory_limit': String should match"),
        (
            "local_tables: {}",
            "local_tables: {p-abcdef.d.t: {path: t.csv, encoding: cp1252}}",
            r"key 'local_tables.p-abcdef.d.t.encoding': Input should be 'utf-8', 'utf-16' or 'latin-1'",
        ),
    ],
)
def test_new_common_keys_are_checked_with_the_file_and_key(project, old, new, message):
    text = (project / "params/common.yaml").read_text()
    assert old in text
    write_yaml(project / "params/common.yaml", text.replace(old, new))
    with pytest.raises(ParamsError, match=r"common\.yaml: " + message):
        load_params(project / "params")


def test_a_model_for_the_other_task_is_refused_when_the_task_is_set(project):
    text = (project / "params/common.yaml").read_text().replace("task: auto", "task: regression")
    write_yaml(project / "params/common.yaml", text)
    write_yaml(project / "params/02-train.yaml", "model: logistic_regression\n")
    with pytest.raises(ParamsError, match=r"02-train\.yaml: key 'model': model 'logistic_regression' is for classif"):
        load_params(project / "params")


def test_a_key_that_takes_one_of_two_forms_gets_one_line(project):
    write_yaml(project / "params/03-evaluate.yaml", "slice_columns: region\n")
    with pytest.raises(ParamsError) as refused:
        load_params(project / "params")
    message = str(refused.value)
    assert (
        message.count("\n") == 0
        and "key 'slice_columns': Input should be 'auto'; or Input should be a valid list" in message
    )


def test_a_profile_that_changes_the_model_starts_from_no_hyperparameters(project):
    write_yaml(
        project / "params/profiles/linear.yaml", "train:\n  model: logistic_regression\n  hyperparameters: {C: 0.5}\n"
    )
    params = load_params(project / "params", "linear")
    assert params.stages["train"].hyperparameters == {"C": 0.5}, "n_estimators of random_forest is not carried over"


@pytest.mark.parametrize(
    ("text", "where", "hint"),
    [
        ('table: a-project.ds.t\nlabel: "species\nfeatures: [x]\nseed: 1\n', "line 2, column 8", "never closed"),
        ("table: a-project.ds.t\nfeatures: [x, y\nseed: 1\n", "line 2, column 11", "[ or { opened there"),
        ("table: a-project.ds.t\nlabel: y\n  features: [x]\n", "line 3, column 11", "quote the value or fix"),
        ("table: a-project.ds.t\nfeatures:\n\t- x\n", "line 3, column 1", "indent with spaces"),
    ],
)
def test_a_yaml_syntax_error_is_one_line_at_the_place_it_starts(project, text, where, hint):
    (project / "params/common.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ParamsError) as err:
        load_params(project / "params")
    message = str(err.value)
    assert "\n" not in message and "common.yaml, " + where in message and hint in message, message
    assert "<unicode string>" not in message


def test_relative_paths_start_at_the_project_root_whatever_params_folder_is_used(project, tmp_path, monkeypatch):
    import shutil

    from bqlab.project import root_of

    other = tmp_path / "elsewhere" / "customers-params"
    shutil.copytree(project / "params", other)
    monkeypatch.chdir(project)
    monkeypatch.delenv(ROOT_VARIABLE, raising=False)
    assert root_of(project / "params") == project.resolve()
    assert root_of(other) == project.resolve(), "PARAMS=<folder>: the project make runs in, not the folder's parent"
    assert load_params(other).root == project.resolve()
    monkeypatch.chdir("/")  # no project around: the params folder's parent
    assert root_of(other) == other.parent.resolve()


def test_one_project_object_carries_the_root_and_the_params_folder_to_every_reader(project, tmp_path, monkeypatch):
    import shutil

    from bqlab.project import Project
    from bqlab.runner.fingerprint import quick_key

    other = tmp_path / "elsewhere" / "customers-params"
    shutil.copytree(project / "params", other)
    monkeypatch.chdir(project)
    monkeypatch.delenv(ROOT_VARIABLE, raising=False)
    mine = Project.of(other)
    assert (mine.root, mine.params_dir) == (project.resolve(), other.resolve())
    assert Project.of(mine) is mine and Project.found() == Project.of(project / "params")
    assert mine.rooted("data/x.csv") == project.resolve() / "data/x.csv" and mine.rooted("/abs") == Path("/abs")
    params = load_params(mine)
    assert params.project == mine and params.root == mine.root and params.params_dir == mine.params_dir
    assert all(Path(f).is_relative_to(other.resolve()) for f in params.files), "read from the project's params folder"
    # The no-op key reads the same layers from the same object as from the folder's path.
    notebooks = ROOT / "notebooks"
    assert quick_key(mine, None, notebooks) == quick_key(other, None, notebooks) is not None
    # A folder is kept as written: messages and sweep pages name params/..., not a machine path.
    assert Project.of("params") == Project(project.resolve(), Path("params"))
    assert Project.of("params").resolved().params_dir == (project / "params").resolve()
