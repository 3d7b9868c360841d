"""The cost forecast of a sweep on BigQuery: every statement it will send, dry-run before any is.

Before the first billed byte, each point's stages are fingerprinted (from params and the table's
metadata, both free) to find those a finished run or an earlier point already made; the
statements of the others, and of each point's checks, come from ``bqlab.analysis.forecast``.
A statement sent twice is billed once (BigQuery's result cache and ours answer the second), one
in the query cache is not billed at all, and each of the rest is dry-run (free) for its bytes,
counted at least 10 MB per table it reads, as BigQuery bills on demand.
A sweep whose total is over ``sweep_maximum_bytes_billed`` (params/runner.yaml) is refused;
``maximum_bytes_billed`` still refuses any one statement over it.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bqlab.analysis import forecast
from bqlab.analysis.checks import checked_view
from bqlab.analysis.targets import possible_tasks
from bqlab.digests import digest_json
from bqlab.errors import DataError
from bqlab.runner.pipeline import stage_inputs
from bqlab.runner.runs import find_reusable
from bqlab.sources import kinds, open_source
from bqlab.sources.base import tables_in
from bqlab.sources.bigquery import estimated_cost_usd, human_bytes
from bqlab.stages import STAGES

MINIMUM_BILLED = 10 * 1024**2  # bytes billed at least per table a statement reads (BigQuery on-demand pricing)


@dataclass
class Forecast:
    """What a sweep will send to BigQuery and bill, before it sends anything."""

    points: int = 0  # points on BigQuery
    stages: int = 0  # their stages
    reused: int = 0  # stages a finished run or an earlier point makes
    statements: int = 0  # distinct statements to send
    cached: int = 0  # of which the query cache answers
    bytes: int = 0  # processed by the others, from their dry runs
    cap: int = 0

    @property
    def usd(self) -> float:
        """The on-demand cost of the forecast bytes."""
        return estimated_cost_usd(self.bytes)

    def line(self) -> str:
        """One line for the terminal."""
        return (
            f"BigQuery cost forecast: {self.statements} distinct statement{'s' * (self.statements != 1)} for "
            f"{self.points} point{'s' * (self.points != 1)} ({self.reused} of {self.stages} stages reused, "
            f"{self.cached} answered by the query cache): {human_bytes(self.bytes)} "
            f"(about ${self.usd:.4f} on demand, free dry runs); the sweep cap is {human_bytes(self.cap)}"
        )


def forecast_sweep(
    checked: Sequence[Any], notebooks_dir: Path, reports_dir: Path, runs: Sequence[dict], *, force: bool = False
) -> Forecast:
    """Dry-run every distinct statement the points (their ``PipelineParams``) will send to BigQuery.

    Points on the embedded engine bill nothing and are left out.

    Raises:
        DataError: a statement over maximum_bytes_billed (from its dry run), or the whole sweep
            over sweep_maximum_bytes_billed; nothing has been run or billed.
    """
    out = Forecast(cap=min((int(p.runner.sweep_maximum_bytes_billed) for p in checked), default=0))
    engines: dict[str, Any] = {}
    finished = list(runs)
    made: set[str] = set()  # fingerprints of stages an earlier point runs
    statements: dict[tuple[str, str, str], tuple[Any, forecast.Statement]] = {}
    for params in checked:
        common = params.common
        if kinds.kind(common.source).local:
            continue
        settings = json.dumps(common.bigquery.model_dump(mode="json"), sort_keys=True)
        if settings not in engines:  # one connection per distinct BigQuery settings
            engines[settings] = open_source(common, "forecast", params.root)
        engine = engines[settings]
        view = checked_view(params.stages, params.where, engine)  # a bad column is named before any statement is built
        content = digest_json(engine.table_version(common.table))
        _, fingerprints = stage_inputs(params, Path(notebooks_dir), content)
        out.points += 1
        reused = [
            stage
            for stage, fingerprint in fingerprints.items()
            if not force and (fingerprint in made or find_reusable(finished, reports_dir, stage, fingerprint))
        ]
        out.stages, out.reused = out.stages + len(STAGES), out.reused + len(reused)
        made |= set(fingerprints.values())
        for task in possible_tasks(common, view.schema[common.label]):  # both, when the count decides it
            wanted = forecast.preflight_statements(params.stages, view, task)
            for stage in (s for s in STAGES if s not in reused):
                wanted += forecast.stage_statements(stage, params.stages[stage], view, task)
            for statement in wanted:  # one connection's statement; another's cache and bill are its own
                key = (settings, statement.sql, json.dumps(dict(statement.params), sort_keys=True, default=str))
                statements.setdefault(key, (engine, statement))
    for engine, statement in statements.values():
        out.statements += 1
        if engine.cached(statement.sql, statement.params):
            out.cached += 1
            continue
        # On demand, a statement bills at least 10 MB per table it reads, however little it processes.
        floor = MINIMUM_BILLED * len(tables_in(statement.sql))
        out.bytes += max(engine.estimate(statement.sql, statement.params), floor)
    if out.points and out.bytes > out.cap:
        raise DataError(
            f"the sweep would process {human_bytes(out.bytes)} in {out.statements - out.cached} statements (about "
            f"${out.usd:.2f} on demand), over sweep_maximum_bytes_billed = {human_bytes(out.cap)} in "
            "params/runner.yaml; nothing was run or billed. Sweep fewer points (or points that share "
            "stages), or raise sweep_maximum_bytes_billed if the cost is intended"
        )
    return out
