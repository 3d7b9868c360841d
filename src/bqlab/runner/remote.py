"""A run store in a bucket: ``--reports-dir gs://<bucket>/<folder>`` (``make report REPORTS=gs://...``).

The runs live in the bucket, laid out as `make publish` lays out a team's reports, so runs made on
a laptop, in a CI job or in a cloud task land in one place with one index. Each machine works in a
local copy of the store (``$XDG_CACHE_HOME/bqlab/stores/<bucket>/<folder>``):

1. before a command, the whole runs of the store the copy lacks are fetched (a run whose index
   record is there; each run once per machine, since a run's files never change);
2. the command runs on the copy as on any reports folder: reuse of stages made on other machines,
   comparisons, the baseline, the index;
3. after a command that may have added runs (report, sweep, baseline), the copy is published to the
   store (``bqlab.runner.publish``): new runs' files first, each created once, then, under the store's
   lock (an object created only if absent), the pages that list every machine's runs, then the runs
   beyond ``keep_runs`` are removed.
"""

import shutil
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from bqlab.project import cache_dir
from bqlab.runner.publish import INDEX_RECORD, publish
from bqlab.store import open_destination
from bqlab.store.urls import split_bucket_url

STORES = "stores"


def is_store(reports_dir: str | Path) -> bool:
    """Whether the reports folder named on the command line is a bucket."""
    return str(reports_dir).startswith("gs://")


def local_copy(url: str) -> Path:
    """The folder this machine works in for the store at ``url``."""
    bucket, prefix = split_bucket_url(url)
    return cache_dir() / STORES / bucket / (prefix.strip("/") or "_root")


def pull(url: str, root: Path, api_endpoint: str | None, echo: Callable[[str], None] = print) -> Path:
    """Fetch the whole runs of the store its local copy lacks; return the copy's folder.

    Raises:
        ParamsError, DataError: a mistyped URL, credentials, a missing bucket (as `make publish`).
    """
    copy = local_copy(url)
    (copy / "runs").mkdir(parents=True, exist_ok=True)
    destination = open_destination(url, root, api_endpoint)
    held = destination.listing()
    whole = sorted({PurePosixPath(name).parts[1] for name in held if name.endswith(f"/{INDEX_RECORD}")})
    fetched = []
    for run_id in whole:
        if (copy / "runs" / run_id).is_dir():
            continue
        partial = copy / "runs" / f".{run_id}.fetching"
        shutil.rmtree(partial, ignore_errors=True)
        for name in sorted(n for n in held if n.startswith(f"runs/{run_id}/") and not n.endswith(INDEX_RECORD)):
            data = destination.read(name)
            if data is None:  # removed by another machine's retention meanwhile: the run is left out
                break
            target = partial / PurePosixPath(name).relative_to(f"runs/{run_id}")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        else:
            if (partial / "run.json").is_file():
                partial.rename(copy / "runs" / run_id)
                fetched.append(run_id)
        shutil.rmtree(partial, ignore_errors=True)
    echo(f"run store {url}: {len(whole)} run(s), {len(fetched)} fetched to {copy}")
    return copy


def push(
    url: str,
    copy: Path,
    root: Path,
    api_endpoint: str | None,
    keep_runs: int | None,
    echo: Callable[[str], None] = print,
) -> None:
    """Publish the local copy's runs to the store (team audience); see the module's doc."""
    if not any((copy / "runs").glob("[!.]*/run.json")):
        return
    done = publish(copy, url, root, "team", api_endpoint, lambda _line: None, keep_runs)
    new = f": new run(s) {', '.join(done.new_runs)}" if done.new_runs else ""
    echo(f"run store {url}: {done.sent} file(s) sent{new}; index {done.links[0]}")
