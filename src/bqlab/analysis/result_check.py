"""The result check: whether a run's scores can be taken at their word, decided after evaluation.

A run whose notebooks all ran is ``ok``, or ``check`` when its numbers contradict each other:

- the test score is far below what cross-validation predicts: more than ``CV_SIGMAS`` standard
  deviations of the folds *and* more than ``CV_MARGIN`` below the CV mean (accuracy for
  classes, R² for a number), so the noise of a small test side alone does not raise it;
- the model does no better than the baseline (always the most frequent class, or the mean),
  the same rule the summary of findings states;
- a class's share of the training rows and of the test rows differ by more than
  ``SHARE_POINTS`` points beyond what one row of the test side weighs (a split that is not
  stratified, such as whole groups).

``check`` is not a failure: the run's reports are complete and the exit code is 0, but the status
line, the first line of the summary, the terminal and the index say ``check`` with the reason,
which names the likely causes and what to try.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from bqlab.analysis.numbers import metric_text
from bqlab.tasks import CLASSIFICATION, Task

CV_SIGMAS = 3.0
CV_MARGIN = 0.10
SHARE_POINTS = 5.0


@dataclass(frozen=True)
class ResultCheck:
    """The verdict on a run's numbers: ``ok``, or ``check`` and why (one line per reason)."""

    reasons: tuple[str, ...] = ()
    task: Task = CLASSIFICATION

    @property
    def status(self) -> str:
        """``ok`` or ``check``."""
        return "check" if self.reasons else "ok"

    @property
    def reason(self) -> str:
        """The reasons as one line ("" when ok)."""
        return "; ".join(self.reasons)

    def as_metrics(self) -> dict[str, str]:
        """The check as the evaluation's metrics hold it."""
        return {"result_check": self.status, "result_check_reason": self.reason}

    def _repr_markdown_(self) -> str:
        if not self.reasons:
            alike = ", and both sides of the split hold the classes alike" if self.task.classes else ""
            return f"**Result check: ok.** The test score agrees with cross-validation and beats the baseline{alike}."
        return "**Result check: check.** " + " ".join(f"{r[0].upper()}{r[1:]}." for r in self.reasons)


def _against_cv(task: Task, headline: Mapping[str, Any], training: Mapping[str, Any]) -> str | None:
    key, name = task.checked, task.score(task.checked).words
    mean, std = training.get(f"cv_{key}_mean"), training.get(f"cv_{key}_std")
    test = headline.get(key)
    if mean is None or std is None or test is None or test != test:  # NaN: a single test row
        return None
    gap = mean - test
    if gap <= CV_SIGMAS * std or gap <= CV_MARGIN:
        return None
    return (
        f"test {name} {metric_text(key, test)} is far below what cross-validation predicts "
        f"({metric_text(key, mean)} ± {metric_text(key, std)}): the held-out rows are unlike the training rows, or "
        "too few to score; compare the split table in the training report, and if rows of one entity (a customer, "
        "a day) repeat, name it as split_group"
    )


def _against_baseline(task: Task, headline: Mapping[str, Any]) -> str | None:
    """The rule the summary of findings states too (``Task.beats_baseline``)."""
    if task.beats_baseline(headline) is not False:
        return None
    main, model, bar = task.score(task.main), headline[task.main], headline[task.baseline]
    guess = f"always {headline.get('baseline_class')!r}" if task.classes else task.baseline_words
    scores = f"{main.words} {metric_text(main.name, model)} against {metric_text(main.name, bar)}"
    return (
        f"the model is no better than predicting {guess} ({scores}): the features may not carry the label; "
        "look for text columns that hold numbers or too many categories in the data analysis, or try another model"
    )


def _class_shares(train_labels: pd.Series, test_labels: pd.Series) -> str | None:
    if train_labels.empty or test_labels.empty:
        return None
    train = 100 * train_labels.astype(str).value_counts(normalize=True)
    test = 100 * test_labels.astype(str).value_counts(normalize=True)
    classes = train.index.union(test.index)
    gaps = (train.reindex(classes, fill_value=0) - test.reindex(classes, fill_value=0)).abs()
    worst = gaps.idxmax()
    if gaps[worst] <= SHARE_POINTS + 100 / len(test_labels):
        return None
    return (
        f"class {worst!r} is {train.get(worst, 0.0):.1f}% of the training rows but {test.get(worst, 0.0):.1f}% of "
        "the test rows: the two sides are not alike, so the test score says little; with split_group, groups may "
        "be too few or too large to stratify (use a finer group column, or more rows)"
    )


def check_result(
    task: Task,
    headline: Mapping[str, Any],
    training: Mapping[str, Any],
    train_labels: pd.Series,
    test_labels: pd.Series,
) -> ResultCheck:
    """Return the run's verdict from its test scores and baseline, CV scores and the labels of both sides.

    Args:
        task: the run's task (``bqlab.tasks``).
        headline: the test scores and the baseline's (``evaluation.headline_metrics``, ``evaluation.baseline``).
        training: the training stage's metrics (``cv_<score>_mean`` and ``_std``).
        train_labels: the label of the training rows.
        test_labels: the label of the test rows.
    """
    reasons = [
        _against_cv(task, headline, training),
        _against_baseline(task, headline),
        _class_shares(train_labels, test_labels) if task.classes else None,
    ]
    return ResultCheck(tuple(r for r in reasons if r), task)
