"""A sweep's leaderboard page (``reports/sweeps/<name>.html``): one row per point, self-contained.

The page shows only the params that vary, each point's cross-validated main score with its
spread, its test score, the baseline and the run's status, sortable by any column (a few lines
of inline script: nothing loads from the network), the best point marked, a figure of the
score against each varying param (inline SVG), and links to each point's findings and to a
comparison of each point with the best.
"""

import json
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

import jinja2

from bqlab.project import write_atomically

WIDTH, HEIGHT, PAD = 360, 220, 44


def shown_value(value: Any) -> str:
    """A param's value as the sweep file would write it (``null``, ``[a, b]``, ``3``)."""
    return value if isinstance(value, str) else json.dumps(value)


def score_figure(points: Sequence[Mapping[str, Any]], key: str, score: str) -> str:
    """Inline SVG: the cross-validated score (mean, a bar of ± one spread) of each point against ``key``'s value."""
    scored = [p for p in points if (p.get("scores") or {}).get("cv_mean") is not None]
    if not scored:
        return ""
    values = list(dict.fromkeys(shown_value(p["values"].get(key)) for p in scored))
    lows = [p["scores"]["cv_mean"] - (p["scores"].get("cv_std") or 0) for p in scored]
    highs = [p["scores"]["cv_mean"] + (p["scores"].get("cv_std") or 0) for p in scored]
    low, high = min(lows), max(highs)
    span = (high - low) or abs(high) or 1.0
    low, high = low - 0.05 * span, high + 0.05 * span

    def y(v: float) -> float:
        return HEIGHT - PAD - (v - low) / (high - low) * (HEIGHT - 2 * PAD)

    def x(i: int) -> float:
        return PAD + (i + 0.5) * (WIDTH - 1.5 * PAD) / len(values)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'aria-label="cross-validated {escape(score)} against {escape(key)}">',
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD / 2}" y2="{HEIGHT - PAD}" stroke="#888"/>',
        f'<line x1="{PAD}" y1="{PAD / 2}" x2="{PAD}" y2="{HEIGHT - PAD}" stroke="#888"/>',
    ]
    for tick in (low, (low + high) / 2, high):
        parts.append(f'<text x="{PAD - 4}" y="{y(tick) + 4:.1f}" text-anchor="end" font-size="10">{tick:.3f}</text>')
    # Many values: labels on two rows, each as wide as two slots (about 6 px a character), the whole
    # value in the label's tooltip.
    staggered = len(values) > 3
    room = max(4, int((WIDTH - 1.5 * PAD) / len(values) * (2 if staggered else 1) / 6))
    for i, value in enumerate(values):
        shown = value if len(value) <= room else value[: room - 1] + "…"
        parts.append(
            f'<text x="{x(i):.1f}" y="{HEIGHT - PAD + 14 + (11 * (i % 2) if staggered else 0)}" '
            f'text-anchor="middle" font-size="10"><title>{escape(value)}</title>{escape(shown)}</text>'
        )
    parts.append(
        f'<text x="{(WIDTH + PAD) / 2:.1f}" y="{HEIGHT - 8}" text-anchor="middle" font-size="11">{escape(key)}</text>'
    )
    for n, p in enumerate(scored):
        i = values.index(shown_value(p["values"].get(key)))
        offset = (n % 5 - 2) * 4  # points with the same value side by side, not on top of each other
        mean, spread = p["scores"]["cv_mean"], p["scores"].get("cv_std") or 0
        cx, colour = x(i) + offset, "#b00020" if p.get("best") else "#1f5fa8"
        parts.append(
            f'<line x1="{cx:.1f}" y1="{y(mean - spread):.1f}" x2="{cx:.1f}" y2="{y(mean + spread):.1f}" '
            f'stroke="{colour}"/><circle cx="{cx:.1f}" cy="{y(mean):.1f}" r="3.5" fill="{colour}">'
            f"<title>point {p['point']}: {mean:.4f} ± {spread:.4f}</title></circle>"
        )
    parts.append("</svg>")
    return "".join(parts)


def write_leaderboard(path: Path, sweep: Mapping[str, Any]) -> Path:
    """Write the page for ``sweep``, the sweep's results as ``reports/sweeps/<name>.json`` keeps them.

    Besides the points, ``sweep`` holds the best point's number (``best``), the verdict against
    the current params (``verdict``) and, per point, the links to its findings and to its
    comparison with the best (``links``).
    """
    points = sweep["points"]
    score = next((p["scores"]["score"] for p in points if p.get("scores")), "score")
    figures = [{"key": k, "svg": score_figure(points, k, score)} for k in sweep["varying"]]
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("bqlab.report", "templates"), autoescape=True, undefined=jinja2.StrictUndefined
    )
    numeric = {  # keys whose values are all numbers (or unset) sort as numbers
        k
        for k in sweep["varying"]
        if all(isinstance(p["values"].get(k), int | float | None) for p in points)
        and not all(isinstance(p["values"].get(k), bool) for p in points)
    }
    page = env.get_template("leaderboard.html.j2").render(
        sweep=sweep,
        points=points,
        score=score,
        figures=[f for f in figures if f["svg"]],
        value=shown_value,
        numeric=numeric,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_atomically(path, page)
