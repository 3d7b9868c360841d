"""What each stage's metrics.json holds, as types: a misspelt or mistyped metric fails where it is written.

The stage registry (``bqlab.stages``) names each stage's model. ``evaluation.save_metrics``
checks the JSON it is about to write against it, in ``make report`` and in JupyterLab alike,
and the reports, the index and the compare page read these keys. Classification and regression
each have their own fields; a field of the other task must be absent.
"""

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bqlab.errors import DataError
from bqlab.stages import STAGES
from bqlab.tasks import CLASSIFICATION, REGRESSION, Task, named

C, R = CLASSIFICATION, REGRESSION


class _Metrics(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task: str  # a task's name (bqlab.tasks)

    @field_validator("task")
    @classmethod
    def _a_task(cls, name: str) -> str:
        return named(name).name

    @model_validator(mode="after")
    def _fields_of_the_task(self):
        """A field of one task (``_only``) must be present for that task and absent for the other."""
        for name, info in type(self).model_fields.items():
            only = info.json_schema_extra.get("only") if isinstance(info.json_schema_extra, dict) else None
            if only is None:
                continue
            present = getattr(self, name) is not None
            if present != (only == self.task):
                state = "missing" if only == self.task else f"only for {only}"
                raise ValueError(f"{name} is {state} (task {self.task})")
        return self


def _only(task: Task) -> Any:
    return Field(default=None, json_schema_extra={"only": task.name})


class EdaMetrics(_Metrics):
    """The data analysis: size, missing values, label balance, correlations, data-quality findings."""

    task_reason: str
    rows: int
    columns: int
    missing_cells: int
    missing_by_column: dict[str, int]
    placeholders_by_column: dict[str, int]
    cast_failures_by_column: dict[str, int]
    numeric_text_columns: dict[str, float]  # column -> share (%) of present values that are not numbers
    separated_number_columns: dict[str, float]  # column -> share (%) of values that are numbers with separators
    strong_correlations: list[tuple[str, str, float]]
    many_valued_columns: dict[str, int]
    constant_columns: dict[str, float]  # column -> share (%) of its rows that its one most frequent value fills
    unlabelled_rows: int
    classes: int | None = _only(C)
    class_counts: dict[str, int] | None = _only(C)
    label_summary: dict[str, float] | None = _only(R)  # mean, std, min, median, max


CV_SCORE = re.compile(r"cv_[a-z0-9_]+_(mean|std)")


class TrainMetrics(_Metrics):
    """Training: the model, the split and each cross-validated score's mean and std (``cv_<score>_mean``)."""

    model_config = ConfigDict(extra="allow")

    model: str
    model_reason: str | None = None
    train_rows: int
    test_rows: int

    @model_validator(mode="after")
    def _cv_scores(self):
        extra = self.model_extra or {}
        wrong = sorted(k for k in extra if not CV_SCORE.fullmatch(k))
        if wrong:
            raise ValueError(f"unknown metrics {wrong}: only cv_<score>_mean and cv_<score>_std besides the fields")
        if not any(k.endswith("_mean") for k in extra):
            raise ValueError("no cross-validated score (cv_<score>_mean)")
        for key, value in extra.items():
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise ValueError(f"{key} must be a number, not {value!r}")
        return self


class PerClass(BaseModel):
    """One class's scores on the held-out rows."""

    model_config = ConfigDict(extra="forbid")

    precision: float
    recall: float
    f1: float
    support: int


class WeakestSlice(BaseModel):
    """The slice value with the worst main score, with every score of that slice."""

    model_config = ConfigDict(extra="allow")

    slice: str
    value: str
    rows: int


class EvaluateMetrics(_Metrics):
    """Evaluation on the held-out rows: headline scores, the baseline, per class or error sizes, the weakest slice."""

    test_rows: int
    result_check: Literal["ok", "check"]  # bqlab.analysis.result_check: whether the scores can be trusted
    result_check_reason: str  # "" when ok
    weakest_slice: WeakestSlice | None = None  # None without a slice column
    accuracy: float | None = _only(C)
    macro_f1: float | None = _only(C)
    baseline_accuracy: float | None = _only(C)
    baseline_class: str | None = _only(C)
    roc_auc: dict[str, float] | None = _only(C)
    weakest_class: str | None = _only(C)
    per_class: dict[str, PerClass] | None = _only(C)
    rmse: float | None = _only(R)
    mae: float | None = _only(R)
    r2: float | None = _only(R)
    baseline_rmse: float | None = _only(R)
    errors: dict[str, float] | None = _only(R)


MODELS: dict[str, type[BaseModel]] = {m.__name__: m for m in (EdaMetrics, TrainMetrics, EvaluateMetrics)}


def check_metrics(stage: str, text: str) -> None:
    """Check the JSON ``text`` of ``stage``'s metrics against the model the registry names.

    A stage without a metrics model (``Stage.metrics`` empty) takes any JSON object.

    Raises:
        DataError: naming each wrong metric and what was expected.
    """
    name = STAGES[stage].metrics if stage in STAGES else ""
    if not name:
        return
    try:
        MODELS[name].model_validate_json(text)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'metrics'}: {e['msg']}" for e in err.errors(include_url=False)
        )
        raise DataError(
            f"the {stage} metrics do not match {name} in bqlab.analysis.metrics ({problems}); "
            "fix the notebook's metrics, or the model if the metric is new"
        ) from None
