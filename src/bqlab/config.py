"""Typed, validated parameters loaded from ``params/``.

Layout: ``common.yaml`` (settings every notebook shares), one file per stage of the
registry (``bqlab.stages``: ``01-eda.yaml``, ``02-train.yaml``, ``03-evaluate.yaml``) holding
that notebook's own keys, validated by the params model the registry names,
``runner.yaml`` (timeouts; optional), and optional ``profiles/<name>.yaml`` overlays with
sections ``common``, ``runner`` and one per stage whose keys replace the base values. Every key is checked
before any kernel starts: an unknown key or a wrong value is a ``ParamsError`` naming
the file, the key and the nearest valid key.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ByteSize,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bqlab import models, tasks
from bqlab.errors import BqlabError, ParamsError, PipelineError
from bqlab.layers import did_you_mean, read_layers, shown_path
from bqlab.project import Project
from bqlab.sources import kinds
from bqlab.sources.identifiers import validate_column, validate_table_id
from bqlab.stages import STAGES
from bqlab.store.urls import check_destination


def _as_value_error(check):
    def run(value):
        try:
            return check(value)
        except BqlabError as err:
            raise ValueError(str(err)) from err

    return run


TableId = Annotated[str, AfterValidator(_as_value_error(validate_table_id))]
ColumnName = Annotated[str, AfterValidator(_as_value_error(validate_column))]


def _billing_project(value: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9-]{4,28}[a-z0-9]", value):
        raise ValueError(f"{value!r} is not a project id: use 6-30 lowercase letters, digits or hyphens")
    return value


BillingProject = Annotated[str, AfterValidator(_billing_project)]
# Types a column can be cast to from YAML (``column_types``), in SQL (``bqlab.sources.views``).
CastType = Literal["STRING", "INT64", "FLOAT64", "BOOL"]


class NumberCast(BaseModel):
    """A text column of numbers written with separators, e.g. ``{type: FLOAT64, thousands: ",", decimal: "."}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["INT64", "FLOAT64"]
    thousands: Literal[",", ".", " ", "'", "_"] | None = None  # 3,750 / 3.750 / 3 750 / 3'750 / 3_750
    decimal: Literal[".", ","] = "."  # 12.5 / 12,5

    @model_validator(mode="after")
    def _separators_differ(self):
        if self.thousands == self.decimal:
            raise ValueError(f"thousands and decimal are both {self.decimal!r}: they must differ")
        return self


class BigQueryParams(BaseModel):
    """Where and how queries run when ``source`` is ``bigquery``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    project: BillingProject | None = None
    location: str | None = None
    maximum_bytes_billed: int = Field(default=1024**3, gt=0)
    cache_dir: str | None = ".cache/bigquery"
    storage_api: bool = True
    api_endpoint: str | None = Field(default=None, pattern=r"^https?://")
    storage_api_endpoint: str | None = Field(default=None, pattern=r"^[A-Za-z0-9.-]+:[0-9]+$")


class LocalFile(BaseModel):
    """A CSV or Parquet file standing for a table on the local source, and how to read it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    # CSV only: the text encoding (utf-8, utf-16 or latin-1) and the field delimiter
    # (detected when null).
    encoding: Literal["utf-8", "utf-16", "latin-1"] = "utf-8"
    delimiter: str | None = Field(default=None, min_length=1, max_length=1)


class LocalEngineParams(BaseModel):
    """The embedded engine's (DuckDB's) resources; larger tables spill to disk beyond them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    memory_limit: str = Field(default="256MB", pattern=r"^[0-9]+(\.[0-9]+)? ?(MB|GB|MiB|GiB)$")
    threads: int | None = Field(default=None, ge=1, le=64)


class CommonParams(BaseModel):
    """Settings shared by every notebook (``params/common.yaml``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = kinds.DEFAULT  # a kind of source (bqlab.sources.kinds)
    bigquery: BigQueryParams = Field(default_factory=BigQueryParams)
    table: TableId = "bigquery-public-data.ml_datasets.penguins"
    local_tables: dict[TableId, str | LocalFile] = Field(default_factory=dict)
    local_engine: LocalEngineParams = Field(default_factory=LocalEngineParams)
    label: ColumnName = "species"
    features: list[ColumnName] = Field(min_length=1)
    task: str = tasks.AUTO  # a task of bqlab.tasks, or auto (decided from the label)
    column_types: dict[ColumnName, CastType | NumberCast] = Field(default_factory=dict)
    missing_values: list[str] = Field(default_factory=lambda: ["."])
    seed: int = 42
    test_fraction: float = Field(default=0.2, gt=0, lt=1)
    max_rows: int = Field(default=100_000, gt=0)
    split_group: ColumnName | None = None  # rows of one value (a customer id ...) stay on one side of the split

    @field_validator("features")
    @classmethod
    def _label_is_not_a_feature(cls, features: list[str], info) -> list[str]:
        label = info.data.get("label")
        if label in features:
            raise ValueError(f"label {label!r} is also listed in features: remove it from features")
        twice = sorted({c for c in features if features.count(c) > 1})
        if twice:
            raise ValueError(f"features lists {', '.join(map(repr, twice))} more than once")
        return features

    @field_validator("split_group")
    @classmethod
    def _group_is_not_the_label(cls, group: str | None, info) -> str | None:
        if group is not None and group == info.data.get("label"):
            raise ValueError(f"split_group {group!r} is the label: name the column whose rows stay together")
        return group

    @property
    def local_files(self) -> dict[str, LocalFile]:
        """``local_tables`` with every entry as a LocalFile (a bare path reads with the defaults)."""
        return {t: f if isinstance(f, LocalFile) else LocalFile(path=f) for t, f in self.local_tables.items()}

    @classmethod
    def from_namespace(cls, namespace: dict[str, Any]):
        """Build the params from a notebook's globals (its papermill parameters)."""
        return cls(**{key: namespace[key] for key in cls.model_fields if key in namespace})

    @property
    def split_columns(self) -> list[str]:
        """Label, features and any split group: the columns whose values decide a row's side of the split."""
        group = [self.split_group] if self.split_group and self.split_group not in self.features else []
        return [self.label, *self.features, *group]

    @property
    def columns(self) -> list[str]:
        """Every column this notebook reads from the table."""
        return self.split_columns


class EdaParams(CommonParams):
    """Data-analysis notebook (``params/01-eda.yaml``)."""

    sample_rows: int = Field(default=2000, gt=0)
    top_values: int = Field(default=20, gt=0)
    max_plot_features: int = Field(default=6, gt=0, le=30)


class TrainParams(CommonParams):
    """Training notebook (``params/02-train.yaml``)."""

    model: str = models.AUTO  # a name in the model registry (bqlab.models), or auto
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    cv_folds: int = Field(default=5, ge=2, le=20)

    @field_validator("source")
    @classmethod
    def _a_source_kind(cls, value: str) -> str:
        return kinds.kind(value).name

    @field_validator("task")
    @classmethod
    def _a_task(cls, value: str) -> str:
        return value if value == tasks.AUTO else tasks.named(value).name

    @field_validator("model")
    @classmethod
    def _model_fits_the_task(cls, value: str, info) -> str:

        problem = models.model_problem(value, info.data.get("task", "auto"))
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("hyperparameters")
    @classmethod
    def _known_hyperparameters(cls, value: dict[str, Any], info) -> dict[str, Any]:

        model = info.data.get("model")
        if model is None:
            return value
        if value and not models.per_model(value) and model == models.AUTO:
            example = f"{{{models.AUTO_SMALL}: {{{next(iter(value))}: ...}}}}"
            raise ValueError(
                f"with model: auto, give hyperparameters per model ({example}): auto may train "
                f"{' or '.join(models.candidates(model))}, which take different settings; or name the model"
            )
        task = info.data.get("task", "auto")
        ahead = models.values_ahead(model, value, task)  # a cold cache: one scikit-learn process, not two
        for name in list(value) if models.per_model(value) else [model]:
            valid = models.hyperparameter_names(name, task, ahead)
            for key in models.settings_of(name, value):
                if key not in valid:
                    raise ValueError(f"unknown hyperparameter {key!r} for model {name!r}{did_you_mean(key, valid)}")
        if model != models.AUTO and models.per_model(value):
            # With a model named, other models' settings do nothing: dropped, so that they neither show in
            # the run's params nor make two runs differ (a sweep over a forest's depth and two models
            # trains the boosting model once, not once per depth).
            return {model: value[model]} if value.get(model) else {}
        return value

    def settings_for(self, model: str) -> dict[str, Any]:
        """The hyperparameters params give ``model`` (the model trained: auto resolved)."""
        return models.settings_of(model, self.hyperparameters)


class EvaluateParams(CommonParams):
    """Evaluation notebook (``params/03-evaluate.yaml``)."""

    slice_columns: Literal["auto"] | list[ColumnName] = "auto"
    permutation_repeats: int = Field(default=10, gt=0)
    permutation_rows: int = Field(default=5000, gt=0)

    @property
    def columns(self) -> list[str]:
        """Label, features and any slice column that is not a feature ("auto" picks among features)."""
        extra = [] if self.slice_columns == "auto" else self.slice_columns
        return [*self.split_columns, *(c for c in extra if c not in self.split_columns)]


class PublishParams(BaseModel):
    """Where ``make publish`` sends the reports (``publish:`` in ``params/runner.yaml``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    to: str | None = None  # gs://<bucket>/<folder>, or a folder (relative to the project's root)
    audience: Literal["team", "readers"] = "team"  # readers: findings, comparisons, figures and the index only
    api_endpoint: str | None = None  # a local Cloud Storage emulator (tests): no credentials

    @field_validator("to")
    @classmethod
    def _a_destination(cls, value: str | None) -> str | None:
        try:  # a bad bucket name or a mistyped URL is refused before anything is read
            return None if value is None else check_destination(value)
        except ParamsError as err:
            raise ValueError(str(err)) from None


class FanoutParams(BaseModel):
    """The cloud job ``bqlab sweep NAME --emit k8s|cloud-run`` writes (``fanout:`` in ``params/runner.yaml``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    image: str | None = (
        None  # the project's image in a registry, e.g. europe-docker.pkg.dev/<project>/bqlab/bqlab:0.1.0
    )
    kubernetes_service_account: str = "bqlab-runner"  # bound to a Google service account (Workload Identity)
    cloud_run_service_account: str | None = None  # the Google service account's email the tasks run as
    cpu: str = "2"
    memory: str = "4Gi"
    deadline_seconds: int = Field(default=3600, gt=0)  # the whole job's (Kubernetes), each task's (Cloud Run)
    parallelism: int | None = Field(default=None, ge=1)  # tasks at once (default: every point at once)
    retries: int = Field(default=1, ge=0, le=10)  # per task


class RunnerParams(BaseModel):
    """How the runner executes notebooks (``params/runner.yaml``); not passed to notebooks."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cell_timeout_seconds: int = Field(default=600, gt=0)
    notebook_timeout_seconds: int = Field(default=1800, gt=0)
    parallel_notebooks: int = Field(default=2, ge=1, le=4)
    keep_runs: int = Field(default=20, ge=1)
    keep_bytes: ByteSize = Field(default=ByteSize(10**9), gt=0)  # "1GB", "500MB", "2GiB" or a number of bytes
    # make sweep on BigQuery: the most bytes all of a sweep's statements may process (forecast by dry runs)
    sweep_maximum_bytes_billed: ByteSize = Field(default=ByteSize(10 * 1024**3), gt=0)
    # make gate: how much worse a score may get before it fails (default: twice the CV spread)
    gate_tolerances: dict[str, Annotated[float, Field(ge=0)]] = Field(default_factory=dict)
    publish: PublishParams = Field(default_factory=PublishParams)
    fanout: FanoutParams = Field(default_factory=FanoutParams)

    @field_validator("gate_tolerances")
    @classmethod
    def _scores_of_a_task(cls, value: dict[str, float]) -> dict[str, float]:
        names = {s.name for t in tasks.TASKS.values() for s in t.scores}
        valid = names | {f"cv_{n}_mean" for n in names}
        unknown = [k for k in value if k not in valid]
        if unknown:
            raise ValueError(f"{unknown} are not scores: use {', '.join(sorted(valid))}")
        return value


def params_model(stage: str) -> type[CommonParams]:
    """The params model of ``stage``, as the stage registry (``bqlab.stages``) names it."""
    model = globals().get(STAGES[stage].params)
    if not (isinstance(model, type) and issubclass(model, CommonParams)):
        raise PipelineError(f"stage {stage!r}: bqlab.config has no params model {STAGES[stage].params!r}")
    return model


@dataclass(frozen=True)
class PipelineParams:
    """The validated params of every stage, and the files they came from."""

    stages: dict[str, CommonParams]
    runner: RunnerParams
    files: tuple[Path, ...]
    profile: str | None
    # (section, key, nested key ...) -> the file that set it; section is "common", "runner" or a stage.
    origin: dict[tuple[str, ...], Path | str] = field(default_factory=dict)
    project: Project = field(default_factory=lambda: Project.of("params"))

    @property
    def common(self) -> CommonParams:
        """The shared settings (identical in every stage)."""
        return next(iter(self.stages.values()))

    @property
    def root(self) -> Path:
        """The project root: relative paths in params (local_tables, cache_dir) start there."""
        return self.project.root

    @property
    def params_dir(self) -> Path:
        """The params folder these params were read from."""
        return self.project.params_dir

    def where(self, stage: str, *key: str) -> str:
        """Name the file a key was read from, or where to set it when it holds a built-in default."""
        return _where(self.origin, self.params_dir, stage, key)


def _where(origin: dict[tuple[str, ...], Path | str], params_dir: Path, stage: str, key: tuple[str, ...]) -> str:
    for n in range(len(key), 0, -1):
        for section in (stage, "common"):
            if (section, *key[:n]) in origin:
                return shown_path(origin[(section, *key[:n])])
    if stage == "runner":
        home = "runner.yaml"
    elif key and key[0] in CommonParams.model_fields:
        home = "common.yaml"
    else:
        home = f"{STAGES[stage].stem}.yaml" if stage in STAGES else "common.yaml"
    return f"{shown_path(params_dir / home)} (built-in default, not set in the file)"


def allowed_keys(section: str) -> set[str]:
    """The keys a params section takes: the shared ones (common), the runner's, or a stage's own."""
    if section == "common":
        return set(CommonParams.model_fields)
    if section == "runner":
        return set(RunnerParams.model_fields)
    return set(params_model(section).model_fields) - set(CommonParams.model_fields)


def load_params(
    project: Project | str | Path,
    profile: str | None = None,
    point: Mapping[str, Any] | None = None,
    point_label: str | None = None,
) -> PipelineParams:
    """Load, merge and validate every params file.

    A profile's sections are merged key by key into the base files: a nested key in a profile
    (``bigquery: {location: EU}``) replaces that key only. A sweep point (dotted keys, see
    ``point_sections``) is merged last, the same way; messages name it by ``point_label``.

    Raises:
        ParamsError: naming the file and key at fault and how to fix it.
    """
    project = Project.of(project)
    params_dir = project.params_dir
    sections = point_sections(point, point_label or "sweep point") if point else None
    layers = read_layers(params_dir, profile, sections, point_label or "sweep point", allowed_keys)
    common, origin = layers.common, layers.origin
    stages = {}
    for stage in STAGES:
        try:
            stages[stage] = params_model(stage)(**common, **layers.stages[stage])
        except ValidationError as err:
            raise ParamsError(_describe(err, stage, origin, params_dir)) from None
    try:
        runner_params = RunnerParams(**layers.runner)
    except ValidationError as err:
        raise ParamsError(_describe(err, "runner", origin, params_dir)) from None
    return PipelineParams(stages, runner_params, tuple(layers.files), profile, origin, project)


def point_sections(point: Mapping[str, Any], where: str) -> dict[str, dict[str, Any]]:
    """A sweep point's dotted keys (``model``, ``hyperparameters.max_depth``, ``train.cv_folds``) as sections.

    A key's first part names its section (``common``, ``runner`` or a stage) or is a key of one:
    a shared key goes to common, a stage's own key to that stage (a key two stages have needs its
    stage named). Unknown keys are refused with the nearest valid one.
    """
    common_keys = set(CommonParams.model_fields)
    owners: dict[str, list[str]] = {}
    for stage in STAGES:
        for key in set(params_model(stage).model_fields) - common_keys:
            owners.setdefault(key, []).append(stage)
    sections: dict[str, dict[str, Any]] = {}
    for dotted, value in point.items():
        parts = str(dotted).split(".")
        if parts[0] in {"common", "runner", *STAGES} and len(parts) > 1:
            section, parts = parts[0], parts[1:]
        elif parts[0] in common_keys:
            section = "common"
        elif len(owners.get(parts[0], [])) == 1:
            section = owners[parts[0]][0]
        elif parts[0] in owners:
            named = ", ".join(f"{s}.{dotted}" for s in owners[parts[0]])
            raise ParamsError(f"{where}: key {dotted!r} is a key of several stages: name one ({named})")
        elif parts[0] in RunnerParams.model_fields:
            section = "runner"
        else:
            valid = common_keys | set(owners) | set(RunnerParams.model_fields)
            raise ParamsError(f"{where}: unknown key {dotted!r}{did_you_mean(parts[0], valid)}")
        target = sections.setdefault(section, {})
        for part in parts[:-1]:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise ParamsError(f"{where}: key {dotted!r} sets a value inside a key given a value of its own")
        target[parts[-1]] = value
    return sections


def _describe(err: ValidationError, stage: str, origin: dict, params_dir: Path) -> str:
    """One line per key at fault; the alternatives of a key that takes one of several forms are joined."""
    problems: dict[tuple[str, ...], list[Any]] = {}
    for problem in err.errors():
        # pydantic names each alternative of a union in the location ("str", "literal['auto']", ...)
        loc = tuple(
            str(p)
            for p in problem["loc"]
            if not re.search(r"[\[\]()]", str(p)) and p not in ("str", "LocalFile", "NumberCast")
        )
        problems.setdefault(loc, []).append(problem)
    if any(len(loc) > 1 for loc in problems):  # a nested key at fault: its parent's other forms are noise
        problems = {
            loc: found
            for loc, found in problems.items()
            if not any(o[: len(loc)] == loc and o != loc for o in problems)
        }
    lines = []
    for loc, found in problems.items():
        where = _where(origin, params_dir, stage, loc)
        path = ".".join(loc) or "(whole file)"
        message = "; or ".join(dict.fromkeys(p["msg"].removeprefix("Value error, ") for p in found))
        got = f" (got {found[0].get('input')!r})" if loc else ""
        lines.append(f"{where}: key {path!r}: {message}{got}")
    return "\n".join(lines)
