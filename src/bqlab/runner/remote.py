"""A run store in a bucket: ``--reports-dir gs://<bucket>/<folder>`` (``make report REPORTS=gs://...``).

The runs live in the bucket, laid out as `make publish` lays out a team's reports, so runs made on
a laptop, in a CI job or in a cloud task land in one place with one index. Each machine works in a
local copy of the store (``$XDG_CACHE_HOME/bqlab/stores/<bucket>/...``):

1. before a command, the whole runs of the store the copy never had are fetched (a run whose index
   record is there; each run once per machine, since a run's files never change), and the tag of
   the gate's baseline;
2. the command runs on the copy as on any reports folder, whose ``latest`` is the store's newest
   run (another machine's too): reuse of stages made on other machines, comparisons, the baseline,
   the index; a report is a no-op when the store's newest run has its inputs;
3. after a command that may have added runs or pages (report, sweep, baseline, compare, prune; a
   report that failed too: its run is published), what the store lacks is published there
   (``bqlab.runner.publish``): new runs' files first, each created once, then, under the store's
   lock (an object created only if absent), the pages this command wrote and those that list every
   machine's runs; then the runs beyond ``keep_runs`` are removed from the store, and from the copy.
"""

import contextlib
import json
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath

from bqlab.errors import ParamsError, PipelineError
from bqlab.project import cache_dir, write_atomically
from bqlab.runner.publish import INDEX_RECORD, UPLOAD_THREADS, listed, marked_for, publish
from bqlab.runner.runs import BASELINE_FILE, ReportsLock, latest_run, load_runs, point_latest, remove_runs
from bqlab.store import Destination, open_destination
from bqlab.store.urls import split_bucket_url

STORES = "stores"
STATE = ".bqlab-store.json"  # in the copy: the runs it ever fetched (not fetched again once pruned here)


def local_copy(url: str) -> Path:
    """The folder this machine works in for the store at ``url`` (one per bucket folder)."""
    bucket, prefix = split_bucket_url(url)
    parts = prefix.split("/") if prefix else []
    if any(part in ("", ".", "..") for part in parts):
        raise ParamsError(f"{url!r}: a folder name in a run store's URL cannot be empty, '.' or '..'")
    return cache_dir() / STORES / bucket / ("folder" if parts else "root") / Path(*parts)


def _run_files(held: dict[str, str]) -> dict[str, list[str]]:
    """The store's whole runs (those with an index record) and their files' names, safe ones only."""
    files: dict[str, list[str]] = {}
    whole = set()
    for name in held:
        parts = PurePosixPath(name).parts
        if len(parts) < 3 or parts[0] != "runs" or any(p in ("", ".", "..") or "\\" in p for p in parts):
            continue  # not a run's file, or a name that would write outside the run's folder
        if len(parts) == 3 and parts[2] == INDEX_RECORD:
            whole.add(parts[1])
        else:
            files.setdefault(parts[1], []).append(name)
    return {run_id: sorted(files.get(run_id, [])) for run_id in sorted(whole) if not run_id.startswith(".")}


def _check_store(destination: Destination, held: dict[str, str]) -> None:
    """Refuse a bucket folder that holds other files, or that was published for readers (before any work)."""
    audience, others = marked_for(destination, held)
    if others:
        raise ParamsError(
            f"run store {destination.where!r} holds files bqlab did not put there ({listed(others)}): "
            "name an empty folder, or one bqlab keeps runs in"
        )
    if audience not in (None, "team"):
        raise ParamsError(
            f"run store {destination.where!r} was published for readers: runs are kept in a folder of their "
            "own (the team's); name another folder"
        )


def pull(url: str, root: Path, api_endpoint: str | None, echo: Callable[[str], None] = print) -> tuple[Path, set[str]]:
    """Fetch the whole runs of the store the local copy never had, and the baseline's tag.

    Returns the copy's folder and the runs the store holds whole.

    Each run is written to a folder of this process's own and renamed into place once every file
    is there, so a run in the copy is always whole, whoever else fetches it at the same time.

    Raises:
        ParamsError, DataError: a mistyped URL, a folder that is not a run store, credentials, a
            missing bucket (as `make publish`).
    """
    copy = local_copy(url)
    (copy / "runs").mkdir(parents=True, exist_ok=True)
    destination = open_destination(url, root, api_endpoint)
    held = destination.listing()
    _check_store(destination, held)
    state = _state(copy)
    runs = _run_files(held)
    # Runs the store held once (fetched from it, or sent to it) and holds no more: its retention removed them.
    _save_state(copy, state, pruned=sorted({*state["fetched"], *state["sent"]} - set(runs)))
    known = {*state["fetched"], *state["pruned"]}
    wanted = [run_id for run_id in runs if run_id not in known and not (copy / "runs" / run_id).is_dir()]
    fetched = []
    with ThreadPoolExecutor(max_workers=UPLOAD_THREADS) as pool:
        for run_id in wanted:
            if _fetch(destination, run_id, runs[run_id], copy, pool):
                fetched.append(run_id)
    baseline, here = destination.read(BASELINE_FILE) if BASELINE_FILE in held else None, copy / BASELINE_FILE
    if baseline is not None and (not here.is_file() or here.read_bytes() != baseline):
        write_atomically(here, baseline.decode("utf-8", "replace"))  # the store's tag: make baseline there
    _save_state(copy, state, fetched=fetched)
    _point_at_newest(copy)
    echo(f"run store {url}: {len(runs)} run(s); {len(fetched)} fetched to {copy}")
    return copy, set(runs)


def _point_at_newest(copy: Path) -> None:
    """Point the copy's ``latest`` at the store's newest run (not a sweep's point), whichever machine made it.

    So ``latest/`` in the store never goes back to an older run this machine made, and
    ``make baseline`` without a run tags the store's latest.
    """
    runs = load_runs(copy, warn=False)
    newest = max((r for r in runs if not r.get("sweep")), key=lambda r: (r["started"], r["run_id"]), default=None)
    current = next((r for r in runs if r["run_id"] == latest_run(copy)), None)
    if newest and (current is None or (current["started"], current["run_id"]) < (newest["started"], newest["run_id"])):
        with contextlib.suppress(OSError):  # another command of this machine moved it at the same moment
            point_latest(copy, copy / "runs" / newest["run_id"])


PAGES = ("sweeps/*.html", "sweeps/*.json", "compare/*.html", BASELINE_FILE)


def page_states(copy: Path) -> dict[str, tuple[int, int]]:
    """The copy's pages (sweeps, comparisons, the baseline's tag) and their state (modified, size)."""
    found = {}
    for pattern in PAGES:
        for path in copy.glob(pattern):
            with contextlib.suppress(OSError):
                stat = path.stat()
                found[path.relative_to(copy).as_posix()] = (stat.st_mtime_ns, stat.st_size)
    return found


def written_pages(copy: Path, before: dict[str, tuple[int, int]]) -> frozenset[str]:
    """The pages written since ``before`` (``page_states`` then): a command's own, to send."""
    return frozenset(name for name, state in page_states(copy).items() if before.get(name) != state)


def unsent(copy: Path, in_store: set[str]) -> list[str]:
    """The runs of the copy the store does not hold (made here since, or whose push failed)."""
    pruned = set(_state(copy)["pruned"])
    return [r["run_id"] for r in load_runs(copy, warn=False) if r["run_id"] not in in_store | pruned]


def _fetch(destination: Destination, run_id: str, names: list[str], copy: Path, pool: ThreadPoolExecutor) -> bool:
    """Fetch one run's files into the copy, whole or not at all; return whether it is there now."""
    target = copy / "runs" / run_id
    partial = Path(tempfile.mkdtemp(prefix=f".{run_id}.fetching-", dir=copy / "runs"))
    try:

        def one(name: str) -> bool:  # False: removed by another machine's retention meanwhile
            path = partial / PurePosixPath(name).relative_to(f"runs/{run_id}")
            path.parent.mkdir(parents=True, exist_ok=True)
            return destination.fetch(name, path)

        if not all(pool.map(one, names)) or not (partial / "run.json").is_file():
            return False
        partial.chmod(0o755)  # as any run folder (mkdtemp made it private)
        try:
            partial.rename(target)
        except OSError:  # another process fetched it first
            return target.is_dir()
        return True
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _state(copy: Path) -> dict[str, list[str]]:
    """What the copy remembers: runs it fetched and sent, and those the store removed (not fetched or sent again)."""
    try:
        state = json.loads((copy / STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        state = {}
    state = state if isinstance(state, dict) else {}
    return {key: [r for r in state.get(key, []) if isinstance(r, str)] for key in ("fetched", "sent", "pruned")}


def _save_state(copy: Path, state: dict[str, list[str]], **added: list[str]) -> None:
    if any(added.values()):
        for key, run_ids in added.items():
            state[key] = sorted({*state[key], *run_ids})
        write_atomically(copy / STATE, json.dumps(state, indent=1) + "\n")


def push(
    url: str,
    copy: Path,
    root: Path,
    api_endpoint: str | None,
    keep_runs: int | None,
    echo: Callable[[str], None] = print,
    pages: frozenset[str] = frozenset(),
) -> None:
    """Publish the local copy's runs to the store (team audience); remove from the copy what the store pruned.

    Of the pages (sweeps, comparisons, the baseline's tag), only ``pages`` are sent (``written_pages``).

    Raises:
        DataError: the store refused (credentials, permission, its lock held past the wait).
    """
    state = _state(copy)
    sending = [r["run_id"] for r in load_runs(copy, warn=False) if r["run_id"] not in state["pruned"]]
    if not sending:
        return
    done = publish(
        copy, url, root, "team", api_endpoint, echo, keep_runs, exclude=frozenset(state["pruned"]), pages=pages
    )
    _save_state(copy, state, sent=[r for r in sending if r not in done.pruned], pruned=done.pruned)
    if done.pruned:  # gone from the store: not kept here (best effort), and neither fetched nor sent again
        with contextlib.suppress(PipelineError), ReportsLock(copy, "pruning"):  # busy: pruned next time
            mine = latest_run(copy)  # this machine's latest stays, as the link to it
            runs = load_runs(copy, warn=False)
            remove_runs(copy, [r["run_id"] for r in runs if r["run_id"] in done.pruned and r["run_id"] != mine])
    new = f"; new run(s) {', '.join(done.new_runs)}" if done.new_runs else ""
    echo(f"run store {url}: {done.sent} file(s) sent{new}; index {done.links[0]}")
