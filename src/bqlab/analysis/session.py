"""What a notebook resolves before its analysis: its params, where its outputs go, its upstream outputs.

A notebook's parameters cell names every parameter and sets each to ``...``. `make report`
injects every value below that cell (papermill), and they are used as they are. Run by hand
(JupyterLab, or papermill without every ``-p``), each name still holding ``...`` is resolved as
`make report` would resolve it: ``params/*.yaml`` with the profile named in ``$BQLAB_PROFILE``,
the same validation, the same checks of the table and the same messages. A value typed into the
cell is kept (and named). By hand, outputs go to ``reports/scratch/<stage>/`` (git-ignored,
removed by `make clean`), and the evaluation notebook takes the newest trained model whose
training params match: from a run in ``reports/`` or from a by-hand training run.

Errors of bqlab (bad params, a column not in the table) show as one line in the notebook, not as
a traceback.
"""

import json
import os
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from pydantic import ValidationError

from bqlab.analysis.checks import check_table
from bqlab.analysis.modeling import training_params
from bqlab.analysis.plots import show_descriptions
from bqlab.analysis.tables import keep_column_names, show_tables
from bqlab.config import load_params, params_model
from bqlab.errors import BqlabError, DataError, ParamsError
from bqlab.project import Project, shown
from bqlab.sources.views import date_part_names
from bqlab.stages import ARTIFACTS, MODEL_PARAMS_FILE, STAGES

PROFILE_VARIABLE = "BQLAB_PROFILE"
SCRATCH = Path("reports") / "scratch"


class Paths(SimpleNamespace):
    """Where a notebook writes its outputs (``output_dir``) and reads each upstream input (``model_path``)."""


def start(stage: str, namespace: dict[str, Any]):
    """Return ``(params, paths)`` for the notebook of ``stage``, from its globals (see the module docstring).

    Raises:
        ParamsError, DataError: bad params or a table that does not fit them, in one line.
    """
    short_errors()

    show_descriptions()
    show_tables()
    model = params_model(stage)
    names = [*model.model_fields, *STAGES[stage].runner_keys]
    given = {name: namespace[name] for name in names if name in namespace and namespace[name] is not ...}
    if len(given) == len(names):  # injected by `make report`: used as they are
        params = model.from_namespace(given)
        paths = Paths(**{key: given[key] for key in STAGES[stage].runner_keys})
    else:
        params, paths = _by_hand(stage, model, given)
    # The table's own column names are headers shown as written (not as words).
    keep_column_names([*params.columns, *(part for c in params.features for part in date_part_names(c))])
    return params, paths


def _by_hand(stage: str, model, given: dict[str, Any]):

    project = Project.found()
    root = project.root
    profile = os.environ.get(PROFILE_VARIABLE) or None
    pipeline = load_params(project, profile)
    overrides = {k: v for k, v in given.items() if k in model.model_fields}
    try:
        params = model(**{**pipeline.stages[stage].model_dump(), **overrides})
    except ValidationError as err:
        problems = "; ".join(
            f"key {'.'.join(map(str, e['loc']))!r}: {e['msg']} (got {e.get('input')!r})" for e in err.errors()
        )
        raise ParamsError(f"the parameters cell of this notebook: {problems}") from None

    def where(in_stage: str, *key: str) -> str:
        return "the parameters cell" if key and key[0] in overrides else pipeline.where(in_stage, *key)

    check_table({stage: params}, where)
    output_dir = given.get("output_dir") or str(root / SCRATCH / stage)
    inputs, found = {}, []
    for key, spec in STAGES[stage].inputs.items():
        if key in given:
            inputs[key] = given[key]
            continue
        upstream, _, name = spec.partition("/")
        common = set(pipeline.common.model_fields)
        made_with = pipeline.stages[upstream].model_copy(update={k: v for k, v in overrides.items() if k in common})
        newest = newest_output(root, upstream, name, training_params(made_with))
        if newest is None:
            raise DataError(
                f"no {name} of the {upstream} stage matches the current params (in reports/runs/ or "
                f"reports/scratch/{upstream}/): run notebooks/{STAGES[upstream].notebook}, or `make report`, first"
            )
        inputs[key] = newest[0]
        found.append(f"{key}: {shown(Path(newest[0]), root)} ({newest[1]})")
    typed = ", ".join(sorted(overrides)) or "nothing"
    print(
        f"run by hand: params from {shown(root / 'params', root)}/*.yaml"
        f"{f' with profile {profile} (${PROFILE_VARIABLE})' if profile else ''}; set in this notebook: {typed}; "
        f"outputs in {shown(Path(output_dir), root)}/"
    )
    for line in found:
        print(line)
    return params, Paths(output_dir=output_dir, **inputs)


def newest_output(root: Path, stage: str, name: str, wanted: dict[str, Any]) -> tuple[str, str] | None:
    """The newest file ``name`` of ``stage`` made with ``wanted`` params: (path, what it is), or None.

    It is looked for in the runs in reports/ and in a by-hand run. A model is matched on the
    training params saved beside it; any other file on those of the model beside it.
    """
    reports = root / "reports"
    runs = (reports / "runs").glob(f"[!.]*/{ARTIFACTS}/{stage}/{name}")  # not a run in progress
    candidates = [(p, f"{stage} run {p.parents[2].name}") for p in runs]
    candidates.append((reports / "scratch" / stage / name, f"your by-hand {stage} run"))
    found = []
    for path, what in candidates:
        try:
            saved = json.loads(path.with_name(MODEL_PARAMS_FILE).read_text(encoding="utf-8"))
            when = path.stat().st_mtime
        except (OSError, ValueError):
            continue
        if saved == wanted:
            found.append((when, "scratch" not in what, str(path), what))
    if not found:
        return None
    _, _, newest, what = max(found)
    return newest, what


def short_errors() -> None:
    """In IPython, show bqlab's own errors (bad params, a missing column) as one line, not a traceback."""
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    if shell is None:
        return

    def one_line(shell, etype, value, _tb, tb_offset=None):
        line = [f"{etype.__name__}: {value}"]
        shell._showtraceback(etype, value, line)  # IPython leaves the showing to a custom handler
        return line

    shell.set_custom_exc((BqlabError,), one_line)
