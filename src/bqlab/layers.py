"""The raw YAML layers of params, read and merged in one place: files, profile, sweep point.

``read_layers`` reads ``common.yaml``, each stage's file, ``runner.yaml`` and a profile's
sections, then a sweep point's (already sorted into sections), merging each key by key and
recording which file (or point) set each key. The typed loader (``bqlab.config.load_params``)
validates what it returns; the quick key of a no-op run (``bqlab.runner.fingerprint``) digests
it without importing pydantic. Unknown keys are refused here when the caller says which keys a
section takes.
"""

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bqlab import models
from bqlab.errors import ParamsError
from bqlab.project import find_root, shown
from bqlab.stages import STAGES

# section ("common", "runner" or a stage) -> the keys it takes (a stage: its own, not the shared ones)
Allowed = Callable[[str], set[str]]


@dataclass
class Layers:
    """The params as written, merged: shared keys, each stage's own, the runner's, and where each came from."""

    common: dict[str, Any]
    stages: dict[str, dict[str, Any]]
    runner: dict[str, Any]
    files: list[Path]
    # (section, key, nested key ...) -> the file (or the sweep point's label) that set it
    origin: dict[tuple[str, ...], Path | str] = field(default_factory=dict)


def read_layers(
    params_dir: Path,
    profile: str | None = None,
    point: Mapping[str, dict[str, Any]] | None = None,
    point_label: str = "sweep point",
    allowed: Allowed | None = None,
) -> Layers:
    """Read and merge every params layer; ``point`` is a sweep point's values by section (``config.point_sections``).

    With ``allowed``, a key a section does not take is refused, naming the file and the nearest key.

    Raises:
        ParamsError: a file missing or not valid YAML, an unknown profile or (with ``allowed``) key.
    """
    params_dir = Path(params_dir)
    origin: dict[tuple[str, ...], Path | str] = {}

    def check(values: dict[str, Any], section: str, where: str) -> None:
        if allowed is not None:
            check_keys(values, allowed(section), where)

    common_file = params_dir / "common.yaml"
    common = read_yaml(common_file)
    check(common, "common", str(common_file))
    common = merge({}, common, origin, ("common",), common_file)
    stages: dict[str, dict[str, Any]] = {}
    files = [common_file]
    for entry in STAGES.values():
        path = params_dir / f"{entry.stem}.yaml"
        values = read_yaml(path)
        check(values, entry.name, f"{path} (only {entry.stem}'s own keys; shared keys go in common.yaml)")
        stages[entry.name] = merge({}, values, origin, (entry.name,), path)
        files.append(path)
    runner_file = params_dir / "runner.yaml"
    runner = read_yaml(runner_file) if runner_file.is_file() else {}
    check(runner, "runner", str(runner_file))
    runner = merge({}, runner, origin, ("runner",), runner_file)
    if runner_file.is_file():
        files.append(runner_file)
    layers = Layers(common, stages, runner, files, origin)
    if profile:
        path = params_dir / "profiles" / f"{profile}.yaml"
        if not path.is_file():
            known = sorted(p.stem for p in (params_dir / "profiles").glob("*.yaml"))
            raise ParamsError(f"profile {profile!r} not found at {path}; known profiles: {known}")
        _overlay(layers, read_yaml(path), path, str(path), check)
        files.append(path)
    if point:
        _overlay(layers, dict(point), point_label, point_label, check)
    return layers


def shown_path(path: Path | str) -> str:
    """A params path as the user knows it: relative to the working folder or, else, the project root.

    A sweep point's keys come from no file of their own: their origin is the point's label, shown as is.
    """
    if isinstance(path, str):
        return path
    return shown(path, Path.cwd(), find_root())


def merge(base: dict[str, Any], overlay: dict[str, Any], origin: dict, prefix: tuple[str, ...], path: Path | str):
    """Merge ``overlay`` into ``base`` key by key (nested mappings too); record which file set what."""
    out = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and value:
            out[key] = merge(out[key], value, origin, (*prefix, key), path)
        else:
            out[key] = value
            origin[(*prefix, key)] = path
    return out


def did_you_mean(key: str, valid, already_set=()) -> str:
    """The nearest valid key; among equally near ones, a key not set yet (``lable``: label, not table)."""
    close = difflib.get_close_matches(key, list(valid), n=3, cutoff=0.5)
    if not close:
        return f"; valid keys: {', '.join(sorted(valid))}"
    best = difflib.SequenceMatcher(None, key, close[0]).ratio()
    nearest = [c for c in close if difflib.SequenceMatcher(None, key, c).ratio() == best]
    nearest.sort(key=lambda c: sorted(c) != sorted(key))  # two letters swapped is the likeliest typo
    return f"; did you mean {next((c for c in nearest if c not in already_set), nearest[0])!r}?"


def yaml_problem(path: Path, err: yaml.YAMLError) -> str:
    """One line: the file, the line and column where the problem starts, what PyYAML found, what to check."""
    context, problem = getattr(err, "context", None) or "", getattr(err, "problem", None) or str(err)
    # An unclosed quote or bracket is found at the end of the file: point at where it was opened.
    mark = (
        getattr(err, "context_mark", None)
        if context.startswith(("while scanning a quoted", "while parsing a flow"))
        else None
    )
    mark = mark or getattr(err, "problem_mark", None)
    where = f"{shown_path(path)}, line {mark.line + 1}, column {mark.column + 1}" if mark else shown_path(path)
    if "quoted scalar" in context:
        hint = "a quote opened there is never closed: add the closing quote"
    elif "flow" in context:
        hint = "a [ or { opened there is not closed, or a value inside it needs quotes"
    elif "'\\t'" in problem:
        hint = "a tab: indent with spaces"
    elif "mapping values" in problem:
        hint = "a ':' inside a value, or a line indented more than the key above it: quote the value or fix the indent"
    else:
        hint = "check the indentation and the quotes around there"
    return f"{where}: not valid YAML ({' '.join(filter(None, [context, problem]))}): {hint}"


def read_yaml(path: Path) -> dict[str, Any]:
    """A params file's mapping ({} when empty).

    Raises:
        ParamsError: the file is missing, not valid YAML (naming the line) or not a mapping.
    """
    if not path.is_file():
        raise ParamsError(f"params file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ParamsError(yaml_problem(path, err)) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: expected a mapping of keys to values, got {type(data).__name__}")
    return data


def check_keys(values: dict[str, Any], allowed, where: str) -> None:
    """Refuse a key not in ``allowed``, naming ``where`` and the nearest valid key."""
    for key in values:
        if key not in allowed:
            raise ParamsError(f"{where}: unknown key {key!r}{did_you_mean(str(key), allowed, values)}")


def _overlay(layers: Layers, overlay: dict[str, Any], source: Path | str, where: str, check) -> None:
    """Merge a profile's (or a sweep point's) sections key by key over the layers read so far.

    A nested key (``bigquery: {location: EU}``) replaces that key only; another model, or settings
    given per model over flat ones (or the other way round), drops the base file's hyperparameters,
    which were written for something else. ``layers`` is updated in place.
    """
    check_keys(overlay, {"common", "runner", *STAGES}, f"{where} (sections)")
    origin = layers.origin
    for section, values in overlay.items():
        if not isinstance(values, dict):
            raise ParamsError(f"{where}: section {section!r} must be a mapping of keys to values")
        check(values, section, f"{where} [{section}]")
        if section == "common":
            layers.common = merge(layers.common, values, origin, ("common",), source)
        elif section == "runner":
            layers.runner = merge(layers.runner, values, origin, ("runner",), source)
        else:
            base = layers.stages[section]
            if isinstance(source, str):  # a sweep point
                values = _point_settings(values, base, origin, section, source)
            flat = not models.per_model(base.get("hyperparameters") or {})
            reshaped = "hyperparameters" in values and flat == models.per_model(values["hyperparameters"] or {})
            if ("model" in values and values["model"] != base.get("model") and flat) or reshaped:
                base = {k: v for k, v in base.items() if k != "hyperparameters"}
                base["hyperparameters"] = {}
            layers.stages[section] = merge(base, values, origin, (section,), source)


def _point_settings(values: dict[str, Any], base: dict[str, Any], origin: dict, section: str, source: str) -> dict:
    """A sweep point's stage values, fitted to the files' form: its keys are named as its own.

    Flat hyperparameters (``hyperparameters.max_depth``) over settings given per model go to the
    point's model (or the files' one), so the model's other settings stay; a key the point sets
    in a mapping is the point's in messages, not the file's that holds the mapping.
    """
    settings = values.get("hyperparameters")
    model = values.get("model", base.get("model"))
    if isinstance(settings, dict) and settings and not models.per_model(settings) and model in models.MODELS:
        if models.per_model(base.get("hyperparameters") or {}):
            values = {**values, "hyperparameters": {model: settings}}
    for key in values:
        origin[(section, key)] = source
    return values
