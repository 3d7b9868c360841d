"""The index's trends: each key metric over the runs that can be compared (same table, label, task)."""

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from bqlab.analysis.numbers import metric_text
from bqlab.report.compare import comparable

WIDTH, HEIGHT, PAD = 140, 30, 3


def sparkline(values: Sequence[float], title: str) -> str:
    """An inline SVG line of ``values`` (oldest first), its last point marked; ``title`` as its text."""
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    step = (WIDTH - 2 * PAD) / max(len(values) - 1, 1)
    points = [(PAD + i * step, HEIGHT - PAD - (v - low) / span * (HEIGHT - 2 * PAD)) for i, v in enumerate(values)]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    x, y = points[-1]
    return (
        f'<svg class="spark" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
        f'<polyline fill="none" stroke="#1a5fb4" stroke-width="1.5" points="{line}"/>'
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="#1a5fb4"/></svg>'
    )


def trends(runs: Sequence[Mapping[str, Any]], key_metrics: Mapping[str, list[tuple[str, str]]]) -> list[dict]:
    """Per group of comparable runs (newest group first), each key metric that two or more runs have.

    ``runs`` are newest first, as the index lists them; each trend reads oldest to newest.
    """
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for run in runs:
        groups.setdefault(comparable(run), []).append(run)
    out = []
    for (table, label, task), members in groups.items():
        lines = []
        for stage, metrics in key_metrics.items():
            for key, title in metrics:
                if key.endswith("_std"):
                    continue
                series = [
                    (run["run_id"], s["metrics"][key])
                    for run in reversed(members)
                    for s in run.get("stages", [])
                    if s.get("stage") == stage and isinstance(s.get("metrics", {}).get(key), int | float)
                ]
                if len(series) < 2:
                    continue
                values = [v for _, v in series]
                shown = [metric_text(key, v) for v in values]
                text = f"{title} over {len(values)} runs: " + ", ".join(shown)
                lines.append(
                    {
                        "title": title,
                        "svg": sparkline(values, text),
                        "first": shown[0],
                        "last": shown[-1],
                        "range": f"{metric_text(key, min(values))} to {metric_text(key, max(values))}",
                    }
                )
        if lines:
            out.append({"table": table, "label": label, "task": task, "runs": len(members), "lines": lines})
    return out
