"""The bare computation of the three notebooks: the same bqlab calls in one plain process.

Used by ``benchmarks/runner.py`` as the baseline the notebook runner is compared with.
Figures are drawn and encoded as PNG, as the notebooks' inline backend does. Prints one
JSON line with the seconds spent in imports and in each stage.
"""

import io
import json
import sys
import tempfile
import time
from pathlib import Path

started = time.perf_counter()
import matplotlib  # noqa: E402

matplotlib.use("Agg")
from bqlab import aggregates, data, evaluation, features, modeling, plots, profiling  # noqa: E402
from bqlab.config import load_params  # noqa: E402

seconds = {"imports": time.perf_counter() - started}


def png(fig) -> int:
    """Encode a figure as the inline backend would."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.tell()


def split(p) -> list:
    """Training and held-out rows as the notebooks read them: split in SQL, placeholders as missing."""
    sides = data.fetch_split(
        data.open_source(p), p.table, p.columns, p.split_columns, p.test_fraction, p.seed, p.missing_values, p.max_rows
    )
    return [features.clean_placeholders(side, p.missing_values) for side in sides]


params = load_params(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("params"))
out = Path(tempfile.mkdtemp(prefix="bqlab-bare-"))

clock = time.perf_counter()
p = params.stages["eda"]
engine = data.open_source(p)
schema = engine.schema(p.table)
numeric, categorical = aggregates.numeric_columns(schema, p.features)
profiling.schema_table(schema, aggregates.distinct_counts(engine, p.table, p.columns))
rows = engine.row_count(p.table)
missing = profiling.missing_table(data.column_profile(engine, p.table, p.columns, p.missing_values))
balance = aggregates.class_counts(engine, p.table, p.label)
png(plots.class_balance(balance, p.label))
png(plots.distributions_by_class(aggregates.numeric_summary(engine, p.table, p.label, numeric), p.label))
aggregates.category_counts(engine, p.table, p.label, categorical, p.top_values)
sample = data.sample_rows(engine, p.table, p.columns, p.sample_rows, p.seed, rows)
png(plots.pair_plot(features.clean_placeholders(sample, p.missing_values), p.label, numeric))
corr = aggregates.correlations(engine, p.table, numeric)
png(plots.correlation_heatmap(corr))
profiling.data_quality_findings(missing, balance, corr, p.label)
evaluation.save_metrics(profiling.summary_metrics(missing, balance, corr, p.label), out / "eda.json")
seconds["eda"] = time.perf_counter() - clock

clock = time.perf_counter()
p = params.stages["train"]
train, test = split(p)
numeric, categorical = features.feature_kinds(train, p.features)
pipeline = modeling.build_pipeline(p.model, p.hyperparameters, p.seed, numeric, categorical)
x_train, y_train = features.split_xy(train, p.label, p.features)
scores = modeling.cross_validate_pipeline(pipeline, x_train, y_train, p.cv_folds, p.seed)
png(plots.cv_scores(scores))
pipeline.fit(x_train, y_train)
modeling.save_model(pipeline, out / "model.skops")
evaluation.save_metrics(evaluation.summarise_scores(scores), out / "train.json")
seconds["train"] = time.perf_counter() - clock

clock = time.perf_counter()
p = params.stages["evaluate"]
_, test = split(p)
pipeline = modeling.load_model(out / "model.skops")
x_test, y_test = features.split_xy(test, p.label, p.features)
predictions = pipeline.predict(x_test)
classes = list(pipeline.classes_)
headline = evaluation.headline_metrics(y_test, predictions)
per_class = evaluation.per_class_table(y_test, predictions, classes)
png(plots.confusion_heatmap(evaluation.confusion_table(y_test, predictions, classes)))
points, areas = evaluation.roc_curves(y_test, pipeline.predict_proba(x_test), classes)
png(plots.roc_plot(points, areas))
evaluation.weakest_slice(evaluation.slice_table(test, y_test, predictions, p.slice_columns))
png(plots.importance_bars(evaluation.importance_table(pipeline, x_test, y_test, p.permutation_repeats, p.seed)))
evaluation.save_metrics(headline, out / "evaluate.json")
seconds["evaluate"] = time.perf_counter() - clock
seconds["total"] = time.perf_counter() - started
print(json.dumps({k: round(v, 3) for k, v in seconds.items()}))
