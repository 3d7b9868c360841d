"""The pipeline's stages, in the order they run: the one place that says what a stage is.

Everything else reads this registry: the params loader (which file, which params model), the
runner (which notebook, which stages must finish first, which paths it passes), the reports
(the key metrics of the index, the summary writer), a notebook run by hand (where its upstream
inputs are) and the benchmark. A new stage is one entry here, a params model in
``bqlab.config`` (or an existing one), ``params/<stem>.yaml`` and ``notebooks/<stem>.ipynb``.

This module imports nothing of bqlab, so deciding what to run reads it without loading the
params models (pydantic) or the summary writers.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field

ARTIFACTS = "artifacts"  # under a run folder: artifacts/<stage>/, each stage's outputs
METRICS_FILE = "metrics.json"
MODEL_FILE = "model.skops"
MODEL_PARAMS_FILE = "model.params.json"  # the training params, beside the model


@dataclass(frozen=True, eq=False)
class Stage:
    """One notebook of the pipeline and what the rest of the package needs to know about it."""

    name: str
    stem: str  # notebooks/<stem>.ipynb, params/<stem>.yaml, reports/.../<stem>.html
    params: str  # the name of its params model in bqlab.config
    upstream: tuple[str, ...] = ()  # stages whose outputs it reads: they run first
    # Notebook parameter -> "<upstream stage>/<file>": an output of an upstream stage it is given.
    inputs: Mapping[str, str] = field(default_factory=dict)
    outputs: tuple[str, ...] = (METRICS_FILE,)  # files it writes into its output_dir
    key_metrics: tuple[tuple[str, str], ...] = ()  # (metric, title) shown in the index and its trends
    summary: str = ""  # the name of its summary writer in bqlab.report.findings ("": the metrics as sentences)
    metrics: str = ""  # the name of its metrics model in bqlab.analysis.metrics ("": any JSON object)

    @property
    def notebook(self) -> str:
        """The notebook's file name."""
        return f"{self.stem}.ipynb"

    @property
    def runner_keys(self) -> tuple[str, ...]:
        """The parameters the runner passes besides params: where outputs go, then each input."""
        return ("output_dir", *self.inputs)

    def runner_parameters(self) -> dict[str, str]:
        """Those parameters' values, relative to the run folder."""
        inputs = {key: f"{ARTIFACTS}/{path}" for key, path in self.inputs.items()}
        return {"output_dir": f"{ARTIFACTS}/{self.name}", **inputs}


STAGES: dict[str, Stage] = {
    stage.name: stage
    for stage in (
        Stage(
            "eda",
            "01-eda",
            "EdaParams",
            metrics="EdaMetrics",
            key_metrics=(("rows", "rows"), ("missing_cells", "missing cells")),
            summary="eda",
        ),
        Stage(
            "train",
            "02-train",
            "TrainParams",
            metrics="TrainMetrics",
            outputs=(METRICS_FILE, MODEL_FILE, MODEL_PARAMS_FILE),
            key_metrics=(
                ("cv_accuracy_mean", "CV accuracy"),
                ("cv_accuracy_std", "± std"),
                ("cv_rmse_mean", "CV RMSE"),
                ("cv_r2_mean", "CV R²"),
            ),
            summary="train",
        ),
        Stage(
            "evaluate",
            "03-evaluate",
            "EvaluateParams",
            metrics="EvaluateMetrics",
            upstream=("train",),
            inputs={"model_path": f"train/{MODEL_FILE}", "train_metrics_path": f"train/{METRICS_FILE}"},
            key_metrics=(("accuracy", "test accuracy"), ("macro_f1", "macro F1"), ("rmse", "test RMSE"), ("r2", "R²")),
            summary="evaluate",
        ),
    )
}


def key_metrics() -> dict[str, list[tuple[str, str]]]:
    """Per stage, the (metric, title) pairs the index shows when a run's metrics have them."""
    return {stage.name: list(stage.key_metrics) for stage in STAGES.values()}
