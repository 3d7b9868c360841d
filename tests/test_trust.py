"""Numbers a user can trust: the whole pipeline on tables where a wrong split would show (ci profile).

Each score is checked against an independent method on the same rows: scikit-learn's own
stratified ``train_test_split``. And a run whose scores contradict each other is marked
``check``, with its reason, exit code 0.
"""

import json

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split

from bqlab.analysis import modeling

from . import tables
from .conftest import run_cli
from .test_other_tables import _findings, _metrics, _project

pytestmark = pytest.mark.slow
SEEDS = range(5)


def _plain_split_score(frame, label, features, task="classification", fraction=0.25):
    """Mean test score of the same model over five plain stratified scikit-learn splits of the same rows."""
    numeric = [c for c in features if frame[c].dtype.kind in "if"]
    categorical = [c for c in features if c not in numeric]
    scores = []
    for seed in SEEDS:
        strata = frame[label] if task == "classification" else frame[label].rank(pct=True).mul(9.99).astype(int)
        train, test = train_test_split(frame, test_size=fraction, stratify=strata, random_state=seed)
        model = modeling.build_pipeline("random_forest", {"n_estimators": 30}, 42, numeric, categorical, task)
        model.fit(train[features], train[label])
        predicted = model.predict(test[features])
        scores.append(
            accuracy_score(test[label], predicted) if task == "classification" else r2_score(test[label], predicted)
        )
    return float(np.mean(scores))


def _report(tmp_path, frame, common, capsys, **stages):
    project = _project(tmp_path, frame, common, **stages)
    code = run_cli(project, "report", "--profile", "ci", "--quiet")
    out = capsys.readouterr()
    assert code == 0, out.err
    return project, out.out


def test_a_table_of_few_distinct_rows_scores_as_a_plain_stratified_split_does(tmp_path, capsys):
    frame = tables.few_distinct()
    assert len(frame.drop_duplicates()) < 30 and len(frame) > 1000
    common = "local_tables: {my-project.lab.t: t.csv}\nlabel: label\nfeatures: [a, b, c]\ntest_fraction: 0.25\n"
    project, out = _report(tmp_path, frame, common, capsys)
    train, evaluate = _metrics(project, "train"), _metrics(project, "evaluate")
    plain = _plain_split_score(frame, "label", ["a", "b", "c"])
    assert abs(evaluate["accuracy"] - plain) < 0.04, (evaluate["accuracy"], plain)
    assert abs(evaluate["accuracy"] - train["cv_accuracy_mean"]) < 0.06
    counts = frame["label"].value_counts()
    assert evaluate["test_rows"] == sum(int(np.floor(n * 0.25 + 0.5)) for n in counts)
    assert {c: s["support"] for c, s in evaluate["per_class"].items()} == {
        c: int(np.floor(n * 0.25 + 0.5)) for c, n in counts.items()
    }
    assert evaluate["result_check"] == "ok" and "report OK" in out
    page = _findings(project, "02-train")
    assert "held out share" in page and "share of test" in page, "the split is stated as a table"


def test_an_imbalanced_table_holds_out_test_fraction_of_each_class_to_the_row(tmp_path, capsys):
    frame = tables.imbalanced()
    common = "local_tables: {my-project.lab.t: t.csv}\nlabel: fraud\nfeatures: [x, shop]\ntest_fraction: 0.3\n"
    project, _ = _report(tmp_path, frame, common, capsys)
    evaluate = _metrics(project, "evaluate")
    expected = {c: int(np.floor(n * 0.3 + 0.5)) for c, n in frame["fraud"].value_counts().items()}
    assert {c: s["support"] for c, s in evaluate["per_class"].items()} == expected
    assert abs(evaluate["accuracy"] - _plain_split_score(frame, "fraud", ["x", "shop"], fraction=0.3)) < 0.03


def test_a_regression_with_repeated_rows_scores_as_a_plain_split_does(tmp_path, capsys):
    frame = tables.repeated_regression()
    assert len(frame[["rating", "plan"]].drop_duplicates()) == 15
    common = "local_tables: {my-project.lab.t: t.csv}\nlabel: spend\nfeatures: [rating, plan]\ntest_fraction: 0.25\n"
    project, _ = _report(tmp_path, frame, common, capsys)
    train, evaluate = _metrics(project, "train"), _metrics(project, "evaluate")
    assert train["test_rows"] == int(np.floor(len(frame) * 0.25 + 0.5))
    assert abs(evaluate["r2"] - _plain_split_score(frame, "spend", ["rating", "plan"], "regression")) < 0.03
    assert evaluate["result_check"] == "ok"


def test_a_model_no_better_than_the_baseline_is_a_check_with_its_reason_and_exit_0(tmp_path, capsys):
    common = "local_tables: {my-project.lab.t: t.csv}\nlabel: y\nfeatures: [x]\n"
    project, out = _report(tmp_path, tables.noise(), common, capsys)
    evaluate = _metrics(project, "evaluate", ok=False)
    assert (
        evaluate["result_check"] == "check"
        and "no better than predicting always 'a'" in evaluate["result_check_reason"]
    )
    assert "status CHECK" in out and "check: the model is no better" in out
    run = json.loads((project / "reports/latest/run.json").read_text())
    assert run["status"] == "check" and "no better than predicting" in run["check_reason"]
    page = _findings(project, "03-evaluate")
    assert page.index("Check this result") < page.index("Test accuracy"), "the check leads the summary"
    assert 'bqlab-status check">check' in page
    index = (project / "reports/index.html").read_text()
    assert '<span class="check">check</span>' in index and "no better than predicting" in index
    again = run_cli(project, "report", "--profile", "ci", "--quiet")
    assert again == 0 and "up to date" in capsys.readouterr().out, "a checked run is complete: a no-op reuses it"


def test_a_split_by_groups_that_cannot_be_stratified_is_a_check(tmp_path, capsys):
    # One store holds every buyer but a few: whole stores cannot put buyers on both sides alike.
    rng = np.random.default_rng(9)
    store = np.array(["big"] * 300 + [f"s{i:02d}" for i in range(20) for _ in range(15)])
    y = np.where(store == "big", "buy", np.where(rng.random(600) < 0.1, "buy", "skip"))
    frame = tables.pd.DataFrame({"y": y, "x": (rng.normal(size=600) + (y == "buy")).round(2), "store": store})
    common = (
        "local_tables: {my-project.lab.t: t.csv}\nlabel: y\nfeatures: [x]\nsplit_group: store\ntest_fraction: 0.25\n"
    )
    project, out = _report(tmp_path, frame, common, capsys, **{"02_train": "cv_folds: 2\n"})
    evaluate = _metrics(project, "evaluate", ok=False)
    assert evaluate["result_check"] == "check", evaluate
    assert (
        "of the training rows but" in evaluate["result_check_reason"]
        and "split_group" in evaluate["result_check_reason"]
    )
    assert "status CHECK" in out


def test_date_and_timestamp_features_reach_the_model_as_parts_computed_in_sql(tmp_path, capsys):
    common = (
        "local_tables: {my-project.lab.t: t.parquet}\nlabel: late\nfeatures: [signup, last_seen, amount]\n"
        "test_fraction: 0.25\n"
    )
    project, _ = _report(tmp_path, tables.dated(), common, capsys, file="t.parquet")
    evaluate = _metrics(project, "evaluate")
    assert evaluate["accuracy"] > 0.9, "the month of signup and the day of week of last_seen carry the label"
    eda = _findings(project, "01-eda")
    assert "signup_month" in eda and "last_seen_day_of_week" in eda and "2023-10" in eda, "parts and months listed"
    fitted = (project / "reports/latest/02-train.html").read_text(encoding="utf-8")
    assert "signup_month" in fitted and "last_seen_day_of_week" in fitted, "the pipeline reads the parts"


def test_a_date_label_is_refused_with_the_reason(tmp_path, capsys):
    project = _project(
        tmp_path,
        tables.dated(),
        "local_tables: {my-project.lab.t: t.parquet}\nlabel: signup\nfeatures: [amount]\n",
        file="t.parquet",
    )
    assert run_cli(project, "report", "--profile", "ci", "--quiet") == 2
    err = capsys.readouterr().err
    assert "column 'signup' (key 'label') has type DATE: a date or a time cannot be the label" in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
