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
from bqlab.analysis import selection, targets  # noqa: E402
from bqlab.config import load_params  # noqa: E402

seconds = {"imports": time.perf_counter() - started}


def png(fig) -> int:
    """Encode a figure as the inline backend would."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.tell()


def split(p, engine, view) -> list:
    """Training and held-out rows as the notebooks read them: split in SQL, placeholders as missing."""
    sides = data.fetch_split(
        engine, view, p.columns, p.split_columns, p.test_fraction, p.seed, p.missing_values, p.max_rows
    )
    return [features.clean_placeholders(side, p.missing_values) for side in sides]


def opened(p, stage):
    """The engine, the table's view and the task, as each notebook opens them."""
    engine = data.open_source(p, stage)
    view = data.table_view(engine, p.table, p.column_types)
    return engine, view, targets.resolve_task(engine, view, p)


params = load_params(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("params"))
out = Path(tempfile.mkdtemp(prefix="bqlab-bare-"))

clock = time.perf_counter()
p = params.stages["eda"]
engine, view, task = opened(p, "eda")
numeric, categorical = aggregates.numeric_columns(view.schema, p.features)
profiling.schema_table(view, aggregates.distinct_counts(engine, view, p.columns))
rows = engine.row_count(p.table)
missing = profiling.missing_table(data.column_profile(engine, view, p.columns, p.missing_values), view)
balance = aggregates.label_summary(engine, view, p.label, task.name)
label_sample = data.sample_rows(engine, view, [p.label], p.sample_rows, p.seed)
png(plots.label_distribution(balance, features.clean_placeholders(label_sample, p.missing_values), p.label, task.name))
numeric_stats = aggregates.numeric_summary(engine, view, p.label, numeric, task.name)
plotted = selection.plot_features(engine, view, task.name, numeric_stats, p.label, numeric, p.max_plot_features)
png(plots.distributions_by_class(numeric_stats[numeric_stats["column"].isin(plotted)], p.label))
aggregates.category_counts(engine, view, p.label, categorical, p.top_values, task.name, p.missing_values)
sample = data.sample_rows(engine, view, [p.label, *plotted], p.sample_rows, p.seed)
png(plots.pair_plot(features.clean_placeholders(sample, p.missing_values), p.label, plotted, task.name, rows))
correlated = selection.correlated_columns(numeric, p.label, task.name)
pairs = aggregates.pairwise_correlations(engine, view, correlated, p.sample_rows, p.seed)
overview = plots.correlation_overview(pairs, correlated)
if hasattr(overview, "savefig"):  # a figure up to 30 columns, a table beyond
    png(overview)
evaluation.save_metrics(profiling.summary_metrics(missing, balance, pairs, p.label, task), out / "eda.json")
seconds["eda"] = time.perf_counter() - clock

clock = time.perf_counter()
p = params.stages["train"]
engine, view, task = opened(p, "train")
train, test = split(p, engine, view)
numeric, categorical = features.feature_kinds(train, p.features)
pipeline = modeling.build_pipeline(p.model, p.hyperparameters, p.seed, numeric, categorical, task.name)
x_train, y_train = features.split_xy(train, p.label, p.features, task.name)
targets.check_training_labels(y_train, p.label, task, p.cv_folds)
scores = modeling.cross_validate_pipeline(pipeline, x_train, y_train, p.cv_folds, p.seed, task.name)
png(plots.cv_scores(scores))
pipeline.fit(x_train, y_train)
modeling.save_model(pipeline, out / "model.skops")
evaluation.save_metrics(evaluation.summarise_scores(scores), out / "train.json")
seconds["train"] = time.perf_counter() - clock

clock = time.perf_counter()
p = params.stages["evaluate"]
engine, view, task = opened(p, "evaluate")
_, test = split(p, engine, view)
pipeline = modeling.load_model(out / "model.skops")
x_test, y_test = features.split_xy(test, p.label, p.features, task.name)
predictions = pipeline.predict(x_test)
classes = evaluation.classes_of(pipeline)
headline = evaluation.headline_metrics(y_test, predictions, task.name)
details = evaluation.error_details(task.name, y_test, predictions, classes)
png(plots.error_figure(task.name, y_test, predictions, classes, p.label))
curve = evaluation.curves(task.name, pipeline, x_test, y_test, predictions)
png(plots.curves_figure(task.name, curve, p.label))
slice_columns = evaluation.auto_slice_columns(p.slice_columns, test, features.feature_kinds(test, p.features)[1])
slices = evaluation.slice_table(test, y_test, predictions, slice_columns, task.name)
importance = evaluation.importance_table(pipeline, x_test, y_test, p.permutation_repeats, p.seed, task.name)
png(plots.importance_bars(importance, evaluation.IMPORTANCE_SCORING[task.name][1]))
metrics = evaluation.evaluation_metrics(task.name, headline, details, slices, curve, len(test))
evaluation.save_metrics(metrics, out / "evaluate.json")
seconds["evaluate"] = time.perf_counter() - clock
seconds["total"] = time.perf_counter() - started
print(json.dumps({k: round(v, 3) for k, v in seconds.items()}))
