"""The regression gate (``make gate``): did the newest run's scores get worse than a baseline run's?

The gated metrics are the task's scores, on the held-out rows and cross-validated (``accuracy``
and ``cv_accuracy_mean``, ``rmse`` and ``cv_rmse_mean`` ...). A score is a regression when it
moved in its worse direction by more than its tolerance. By default that is two standard
deviations of the difference between two runs' scores, 2 × sqrt(σa² + σb²), where a run's σ is
the standard deviation of the score over its cross-validation folds (each fold is a held-out
set like the test rows), and for accuracy at least the binomial sampling error of a share
measured on the run's test rows, sqrt(p (1 - p) / n): three folds estimate a spread roughly,
and a new seed draws other test rows. ``gate_tolerances`` in ``params/runner.yaml`` sets a
metric's tolerance instead (a score's name covers both its held-out and its cross-validated value).
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bqlab import tasks
from bqlab.analysis.numbers import metric_text
from bqlab.errors import ParamsError
from bqlab.report.compare import comparable, named_runs, previous_comparable

NOISE_SPREADS = 2  # the default tolerance, in standard deviations of the difference of two runs' scores


@dataclass(frozen=True)
class GatedScore:
    """One gated metric in both runs, its tolerance and where the tolerance came from."""

    stage: str
    key: str
    base: float
    new: float
    higher_is_better: bool
    tolerance: float
    why: str

    @property
    def loss(self) -> float:
        """How much worse the new run is (negative: better)."""
        return (self.base - self.new) if self.higher_is_better else (self.new - self.base)

    @property
    def regressed(self) -> bool:
        """Worse by more than the tolerance."""
        return self.loss > self.tolerance + 1e-12

    def line(self) -> str:
        """One line for the terminal."""
        word = "WORSE" if self.regressed else "ok"
        change = metric_text(self.key, self.new - self.base, signed=True)
        return (
            f"{word}: {self.stage} {self.key} {metric_text(self.key, self.base)} → {metric_text(self.key, self.new)} "
            f"({change}; tolerance {self.tolerance:.4g}, {self.why})"
        )


def _metrics(run: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["stage"]: s.get("metrics") or {} for s in run.get("stages", [])}


def pick_baseline(
    runs: list[dict[str, Any]], base: str | None = None, tagged: str | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(baseline, newest): the run named ``base``, else the one ``tagged`` as baseline, else the previous comparable.

    ``base`` is an id or a unique start of one; the tagged run counts when it is not the newest
    and has the newest's table, label and task. The newest run and the previous comparable one
    are runs of the project's params, never a sweep's points (``base`` may name one).

    Raises:
        ParamsError: no run, no baseline, or runs whose scores measure different things.
    """
    # A sweep's points try other params: the gate weighs the project's own runs (a point only when named).
    finished = [r for r in runs if r.get("status") in ("ok", "check") and not r.get("sweep")]
    if not finished:
        swept = " (the finished runs are sweep points, which the gate leaves out)" if runs else ""
        raise ParamsError(f"the gate needs a finished run of `make report` in reports/{swept}: run `make report` first")
    newest = finished[0]
    if base:
        hits = named_runs(runs, base)
        if len(hits) != 1:
            why = "names no run" if not hits else f"matches {len(hits)} runs"
            ids = ", ".join(r["run_id"] for r in runs[:5])
            raise ParamsError(f"BASE={base!r} {why}; the newest runs: {ids}")
        baseline = hits[0]
        if baseline["run_id"] == newest["run_id"]:
            raise ParamsError(f"BASE={base!r} is the newest run itself: name an earlier run")
    else:
        marked = next((r for r in finished if r["run_id"] == tagged and r["run_id"] != newest["run_id"]), None)
        found = marked if marked and comparable(marked) == comparable(newest) else previous_comparable(finished, newest)
        if found is None:
            raise ParamsError(
                f"no earlier run of the same table, label and task to compare run {newest['run_id']} with: "
                "run `make report` on the baseline first, or name one with BASE=<run id>"
            )
        baseline = dict(found)
    if comparable(baseline) != comparable(newest):
        raise ParamsError(
            f"runs {baseline['run_id']} and {newest['run_id']} differ in table, label or task: "
            "their scores are not comparable; name a baseline of the same table with BASE=<run id>"
        )
    return baseline, newest


def gated_scores(
    base: Mapping[str, Any], new: Mapping[str, Any], tolerances: Mapping[str, float] | None = None
) -> list[GatedScore]:
    """Every score of the task that both runs have, with its tolerance."""
    tolerances = dict(tolerances or {})
    a, b = _metrics(base), _metrics(new)
    task_name = b.get("train", {}).get("task") or b.get("evaluate", {}).get("task")
    if task_name not in tasks.TASKS:
        return []
    task = tasks.named(task_name)
    out = []
    for score in task.scores:
        sigmas = [_sigma(m, score.name) for m in (a, b)]
        spread = math.sqrt(sum(x * x for x in sigmas if x is not None)) if any(x is not None for x in sigmas) else None
        for stage, key in (("evaluate", score.name), ("train", f"cv_{score.name}_mean")):
            old, now = a.get(stage, {}).get(key), b.get(stage, {}).get(key)
            if old is None or now is None:
                continue
            if key in tolerances or score.name in tolerances:
                named = key if key in tolerances else score.name
                tolerance, why = float(tolerances[named]), f"gate_tolerances.{named} in params/runner.yaml"
            elif spread is not None:
                tolerance, why = NOISE_SPREADS * spread, f"{NOISE_SPREADS} × {spread:.4g}, the spread of the difference"
            else:
                tolerance, why = 0.0, "no CV spread recorded: any loss counts"
            out.append(GatedScore(stage, key, old, now, score.higher_is_better, tolerance, why))
    return out


def _sigma(metrics: Mapping[str, Mapping[str, Any]], score: str) -> float | None:
    """A run's standard deviation of ``score`` on one held-out set.

    Over its folds, and for accuracy at least the binomial error of a share on its test rows.
    """
    fold = metrics.get("train", {}).get(f"cv_{score}_std")
    if score != "accuracy":
        return fold
    p, n = metrics.get("train", {}).get("cv_accuracy_mean"), metrics.get("evaluate", {}).get("test_rows")
    binomial = math.sqrt(p * (1 - p) / n) if p is not None and n else None
    return max((x for x in (fold, binomial) if x is not None), default=None)
