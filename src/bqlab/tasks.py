"""The tasks a run can perform, one object each: what differs between predicting classes and a number.

A task says whether its labels are classes (counted, stratified in the split and the folds, drawn
as bars) or a quantity (summarised, drawn as a histogram); which scores it reports and how
scikit-learn computes them in cross-validation; which score ranks slices and drives permutation
importance; which one is compared with cross-validation by the result check; what its baseline
is and how a model beats it. Every module reads these from the task object it is given, and
none compares a task's name (``tests/test_tasks.py`` checks): a new task is one entry here, its
baseline and figures where ``classes`` is read, and its metrics' fields (``analysis.metrics``).

``decide`` in ``analysis.targets`` picks the task of a run (``task: auto``) and gives the reason;
``task.with_reason`` carries it into every report.
"""

import difflib
from dataclasses import dataclass, replace

AUTO = "auto"


@dataclass(frozen=True)
class Score:
    """A score a task reports: its key in metrics.json, scikit-learn's scorer and words for readers.

    ``sign`` turns the scorer's value into the score (scikit-learn negates errors so that higher is
    better); ``higher_is_better`` is the score's own direction.
    """

    name: str
    scorer: str
    sign: int
    higher_is_better: bool
    words: str


@dataclass(frozen=True)
class Task:
    """One task: its name, whether its labels are classes, its scores and its baseline (and why it was chosen)."""

    name: str
    classes: bool  # labels are classes: counted per class, stratified, scored by accuracy
    label_words: str  # how reports speak of the label's values
    scores: tuple[Score, ...]  # the test and cross-validated scores, in report order
    main: str  # the score that ranks slices and drives permutation importance
    checked: str  # the score the result check compares with cross-validation
    importance: str  # the score permutation importance shuffles against
    baseline: str  # the metrics key of the baseline's value of the main score
    baseline_words: str  # what the baseline predicts
    reason: str = ""  # why a run performs this task (``analysis.targets.decide_task``)

    def score(self, name: str) -> Score:
        """The score called ``name``."""
        return next(s for s in self.scores if s.name == name)

    def beats_baseline(self, scores) -> bool | None:
        """Whether the model's main score beats the baseline's on the same rows (None: nothing to compare)."""
        model, bar = scores.get(self.main), scores.get(self.baseline)
        if model is None or bar is None:
            return None
        return model > bar if self.score(self.main).higher_is_better else model < bar

    def with_reason(self, reason: str) -> "Task":
        """This task, as a run decided it and why."""
        return replace(self, reason=reason)

    def __str__(self) -> str:
        return self.name


CLASSIFICATION = Task(
    name="classification",
    classes=True,
    label_words="classes",
    scores=(
        Score("accuracy", "accuracy", 1, True, "accuracy"),
        Score("macro_f1", "f1_macro", 1, True, "macro F1"),
    ),
    main="accuracy",
    checked="accuracy",
    importance="macro_f1",
    baseline="baseline_accuracy",
    baseline_words="always the most frequent class",
)
REGRESSION = Task(
    name="regression",
    classes=False,
    label_words="a number",
    scores=(
        Score("rmse", "neg_root_mean_squared_error", -1, False, "RMSE"),
        Score("mae", "neg_mean_absolute_error", -1, False, "MAE"),
        Score("r2", "r2", 1, True, "R²"),
    ),
    main="rmse",
    checked="r2",
    importance="rmse",
    baseline="baseline_rmse",
    baseline_words="the mean",
)

TASKS = {t.name: t for t in (CLASSIFICATION, REGRESSION)}
NAMES = tuple(TASKS)


def named(name: "str | Task") -> Task:
    """The task called ``name`` (a task is returned as it is).

    Raises:
        ValueError: no task has that name; the message lists those that do.
    """
    if isinstance(name, Task):
        return name
    if name not in TASKS:
        close = difflib.get_close_matches(str(name), (AUTO, *NAMES), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown task {name!r}{hint}: use one of {', '.join((AUTO, *NAMES))}")
    return TASKS[name]
