"""Two runs side by side: what changed between them (params, data, code) and what it did to the results.

``make compare`` compares the two newest runs, or the two named (``A=<run id> B=<run id>``),
and writes a self-contained page to ``reports/compare/<A>-vs-<B>.html``. Each run also gets
``compare.html`` in its own folder, against the previous comparable run (same table, label
and task), which the index links.
"""

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from bqlab.analysis.numbers import metric_text
from bqlab.errors import ParamsError
from bqlab.project import write_atomically
from bqlab.report.header import key_values

COMPARE_DIR = "compare"  # under reports/: the pages `make compare` writes
COMPARE_PAGE = "compare.html"  # in each run's folder: the run against the previous comparable one
# Direction of each score: the last word of a metric's name, after "cv_" and "_mean" are taken off.
HIGHER_IS_BETTER = {"accuracy", "macro_f1", "f1", "precision", "recall", "r2", "auc", "roc_auc"}
LOWER_IS_BETTER = {"rmse", "mae", "median absolute error", "90th percentile absolute error", "largest absolute error"}


def comparable(run: Mapping[str, Any]) -> tuple:
    """What two runs must share for their metrics to be compared: table, label and task."""
    data = run.get("provenance", {}).get("data", {})
    return data.get("table"), data.get("label"), data.get("task")


def direction(key: str) -> int:
    """+1 when a higher value of the metric ``key`` is better, -1 when lower is, 0 when neither.

    The last part of a dotted key decides (``per_class.<class>.f1``), else the first
    (``roc_auc.<class>``); a class's own name never does.
    """
    parts = key.split(".")
    for part in dict.fromkeys((parts[-1], parts[0])):
        name = part.removeprefix("cv_").removesuffix("_mean")
        if name in HIGHER_IS_BETTER or name in LOWER_IS_BETTER:
            return 1 if name in HIGHER_IS_BETTER else -1
    return 0


def flat_numbers(values: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """The numeric leaves of nested metrics, by dotted key (``per_class.Adelie.f1``)."""
    out: dict[str, float] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out |= flat_numbers(value, f"{name}.")
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[name] = value
    return out


@dataclass
class MetricChange:
    """One metric of one notebook in both runs."""

    stage: str
    key: str
    a: float | None
    b: float | None

    @property
    def delta(self) -> float | None:
        """B - A, or None when one run lacks the metric."""
        return None if self.a is None or self.b is None else self.b - self.a

    @property
    def verdict(self) -> str:
        """``better``, ``worse``, ``same``, ``changed`` (no direction), or ``only in A``/``only in B``.

        Two values that read the same as shown (0.596 and 0.596) are the same: a change below
        the shown precision is not called better or worse.
        """
        if self.a is None or self.b is None:
            return "only in B" if self.a is None else "only in A"
        if abs(self.b - self.a) <= 1e-9 * max(1.0, abs(self.a)):
            return "same"
        if metric_text(self.key, self.a) == metric_text(self.key, self.b):
            return "same"
        sign = direction(self.key)
        if not sign:
            return "changed"
        return "better" if (self.b - self.a) * sign > 0 else "worse"


@dataclass
class Comparison:
    """What differs between run ``a`` (older, the baseline) and run ``b``."""

    a: dict[str, Any]
    b: dict[str, Any]
    params: list[tuple[str, str, str]] = field(default_factory=list)
    metrics: list[MetricChange] = field(default_factory=list)

    @property
    def comparable(self) -> bool:
        """Whether both runs share table, label and task."""
        return comparable(self.a) == comparable(self.b)

    def facts(self) -> list[tuple[str, str, str, bool]]:
        """(what, in A, in B, differs) for the code version, the data and the task."""
        rows = []
        for name, read in (
            ("code", _code),
            ("table", lambda r: _data(r).get("table", "?")),
            ("rows", lambda r: f"{_data(r).get('rows', 0):,}"),
            ("data fingerprint", lambda r: str(_data(r).get("content_sha256", "?"))[:16]),
            ("label and task", lambda r: f"{_data(r).get('label', '?')} ({_data(r).get('task', '?')})"),
            ("profile", lambda r: r.get("profile") or "(none)"),
            ("status", lambda r: r.get("status", "?")),
        ):
            a, b = read(self.a), read(self.b)
            rows.append((name, a, b, a != b))
        return rows

    def by_stage(self) -> list[tuple[str, list[MetricChange], list[MetricChange]]]:
        """Per notebook, in run order: the metrics that differ, and those that are the same."""
        stages = list(dict.fromkeys(m.stage for m in self.metrics))
        return [
            (
                stage,
                [m for m in self.metrics if m.stage == stage and m.verdict != "same"],
                [m for m in self.metrics if m.stage == stage and m.verdict == "same"],
            )
            for stage in stages
        ]

    def key_changes(self) -> list[MetricChange]:
        """The metrics with a direction (scores and errors) that moved, headline ones first."""
        moved = [m for m in self.metrics if m.verdict in ("better", "worse")]
        return sorted(moved, key=lambda m: ("." in m.key, m.key.startswith("cv_"), m.stage))


def _data(run: Mapping[str, Any]) -> Mapping[str, Any]:
    return run.get("provenance", {}).get("data", {})


def _code(run: Mapping[str, Any]) -> str:
    git = run.get("provenance", {}).get("git", {})
    return f"{git.get('commit') or 'no git commit'}{' (uncommitted changes)' if git.get('dirty') else ''}"


def _params(run: Mapping[str, Any]) -> dict[str, str]:
    merged = {}
    for stage_params in run.get("provenance", {}).get("params", {}).values():
        merged.update(dict(key_values(stage_params)))
    return merged


def compare(a: Mapping[str, Any], b: Mapping[str, Any]) -> Comparison:
    """Compare run ``a`` (the baseline) with run ``b``: params, data, code and every numeric metric."""
    pa, pb = _params(a), _params(b)
    params = [(k, pa.get(k, "(not set)"), pb.get(k, "(not set)")) for k in sorted(pa.keys() | pb.keys())]
    # An empty mapping reads "(none)"; once it has entries, its key is "(not set)" beside them.
    params = [row for row in params if row[1] != row[2] and {row[1], row[2]} != {"(none)", "(not set)"}]
    stages_a = {s["stage"]: flat_numbers(s.get("metrics", {})) for s in a.get("stages", [])}
    stages_b = {s["stage"]: flat_numbers(s.get("metrics", {})) for s in b.get("stages", [])}
    metrics = []
    for stage in [*stages_a, *(s for s in stages_b if s not in stages_a)]:
        ma, mb = stages_a.get(stage, {}), stages_b.get(stage, {})
        metrics += [MetricChange(stage, k, ma.get(k), mb.get(k)) for k in [*ma, *(k for k in mb if k not in ma)]]
    return Comparison(dict(a), dict(b), params, metrics)


def named_runs(runs: list[dict[str, Any]], given: str) -> list[dict[str, Any]]:
    """The runs whose id is ``given`` or starts with it (a user may type a unique start of an id)."""
    return [r for r in runs if r["run_id"].startswith(given)]


def pick_runs(
    runs: list[dict[str, Any]], a: str | None = None, b: str | None = None, as_named: bool = False
) -> tuple[dict, dict]:
    """The runs to compare: named by id (or a unique start of one), else the two newest.

    The older run is A, the baseline, whichever order they are named in; with ``as_named``, A is
    the run named ``a`` (a sweep compares each point with its best point, older or newer).

    Raises:
        ParamsError: fewer than two runs, or an id that names no run (the newest ids are listed).
    """
    if len(runs) < 2 and not (a and b):
        raise ParamsError(
            f"compare needs two runs and reports/ has {len(runs)}: run `make report`, change a parameter "
            "(or the data, or the code) and run it again"
        )

    def find(given: str) -> dict:
        hits = named_runs(runs, given)
        if len(hits) == 1:
            return hits[0]
        newest = ", ".join(r["run_id"] for r in runs[:5]) or "none"
        why = "names no run" if not hits else f"matches {len(hits)} runs"
        raise ParamsError(f"run id {given!r} {why}; the newest runs: {newest} (A=<run id> B=<run id>)")

    run_b = find(b) if b else runs[0]
    run_a = find(a) if a else next((r for r in runs if r["run_id"] != run_b["run_id"]), None)
    if run_a is None or run_a["run_id"] == run_b["run_id"]:
        raise ParamsError(f"A and B are the same run ({run_b['run_id']}): name two different runs")
    return (run_a, run_b) if as_named or run_a["started"] <= run_b["started"] else (run_b, run_a)


def previous_comparable(runs: Iterable[Mapping[str, Any]], run: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The newest run started before ``run`` with the same table, label and task that has metrics.

    Run ids sort by start to the microsecond (``started`` is to the second): a sweep's points start
    in the same second.
    """
    for other in runs:
        if (
            other["run_id"] != run["run_id"]
            and (other["started"], other["run_id"]) < (run["started"], run["run_id"])
            and comparable(other) == comparable(run)
        ):
            if any(s.get("metrics") for s in other.get("stages", [])):
                return other
    return None


def _text(m: MetricChange, value: float | None) -> str:
    return "–" if value is None else metric_text(m.key, value)


def text_diff(c: Comparison, limit: int = 12) -> list[str]:
    """A few lines for the terminal: what changed between the runs, and the scores that moved."""
    lines = [f"A {c.a['run_id']}  →  B {c.b['run_id']}"]
    if not c.comparable:
        lines.append("warning: the runs differ in table, label or task: their metrics are not comparable")
    lines += [f"  {name}: {a} → {b}" for name, a, b, differs in c.facts() if differs]
    lines += [f"  param {k}: {a} → {b}" for k, a, b in c.params[:limit]]
    if len(c.params) > limit:
        lines.append(f"  … and {len(c.params) - limit} more params")
    changes = c.key_changes()
    for m in changes[:limit]:
        change = metric_text(m.key, m.delta, signed=True)
        lines.append(f"  {m.stage} {m.key}: {_text(m, m.a)} → {_text(m, m.b)} ({change}, {m.verdict})")
    if len(changes) > limit:
        lines.append(f"  … and {len(changes) - limit} more scores moved")
    if len(lines) == 1:
        lines.append("  same params, data and code; no score moved")
    return lines


def _figures(run_dirs: tuple[Path, Path], c: Comparison) -> list[dict[str, Any]]:
    """Each notebook's figures of both runs, paired by name; one image when they are identical."""
    out = []
    for stage in c.b.get("stages", []):
        stem = stage["notebook"].removesuffix(".ipynb")
        folders = [run_dir / "figures" / stem for run_dir in run_dirs]
        names = sorted({p.name for folder in folders if folder.is_dir() for p in folder.glob("*.png")})
        pairs = []
        for name in names:
            data = [(f / name).read_bytes() if (f / name).is_file() else None for f in folders]
            same = data[0] == data[1]
            uris = [f"data:image/png;base64,{base64.b64encode(d).decode()}" if d else None for d in data]
            caption = name.removesuffix(".png").split("-", 1)[-1].replace("-", " ")
            pairs.append({"caption": caption, "same": same, "a": uris[0], "b": None if same else uris[1]})
        if pairs:
            differ = [p for p in pairs if not p["same"]]
            out.append({"stem": stem, "differ": differ, "same": [p for p in pairs if p["same"]]})
    return out


def write_page(c: Comparison, run_dirs: tuple[Path, Path], path: Path) -> Path:
    """Write the comparison as one self-contained HTML page (figures embedded) at ``path``.

    ``run_dirs`` are the folders of runs A and B, where their figures are.
    """
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("bqlab.report", "templates"), autoescape=True, undefined=jinja2.StrictUndefined
    )
    page = env.get_template("compare.html.j2").render(
        c=c, figures=_figures(run_dirs, c), text=_text, metric=metric_text, changes=c.key_changes()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_atomically(path, page)


def compare_page(
    reports_dir: Path, runs: list[dict[str, Any]], a: str | None = None, b: str | None = None, as_named: bool = False
) -> tuple[Path, list[str]]:
    """``make compare``: write ``reports/compare/<A>-vs-<B>.html``; return its path and the text diff."""
    run_a, run_b = pick_runs(runs, a, b, as_named)
    c = compare(run_a, run_b)
    path = reports_dir / COMPARE_DIR / f"{run_a['run_id']}-vs-{run_b['run_id']}.html"
    run_dirs = (reports_dir / "runs" / run_a["run_id"], reports_dir / "runs" / run_b["run_id"])
    return write_page(c, run_dirs, path), text_diff(c)
