"""``make publish``: the reports folder, copied to a bucket or a shared folder that readers open.

What is sent, in this order, so that a reader never follows a link to something missing, even
when a publish is killed half way:

1. each finished run's files (``runs/<id>/...``), never rewritten: a create-only put, which a
   file already there refuses (a run is complete once its last file is there);
2. the sweeps' pages, which link to runs already sent;
3. ``latest/``: the newest run's files, then its page (``latest/index.html``);
4. ``index.html``, which links every run, last;
5. then the files ``latest/`` held for an older run are removed (nothing links them any more).

Only what is missing or changed is sent (by MD5, as the destination reports it): a second
publish with nothing new sends nothing. ``audience="readers"`` publishes the findings pages
(without code), the comparisons, the figures and an index without links to code; never a
notebook, a run record (which holds params), or a model.
"""

import mimetypes
import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from bqlab.digests import md5_base64
from bqlab.errors import ParamsError, PipelineError
from bqlab.report.compare import COMPARE_PAGE
from bqlab.report.header import versions_html
from bqlab.report.render import render_index
from bqlab.runner.runs import ReportsLock, latest_run, load_runs
from bqlab.store import Destination, open_destination

AUDIENCES = ("team", "readers")
# A run's files never change once published; the pages that list runs change with every run.
IMMUTABLE = "max-age=31536000, immutable"
REVALIDATE = "no-cache"
UPLOAD_THREADS = 8
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".ipynb": "application/x-ipynb+json",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".csv": "text/csv; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".yaml": "text/yaml; charset=utf-8",
}


def content_type(name: str) -> str:
    """The Content-Type a browser needs to show ``name`` (a model or other bytes: octet-stream)."""
    suffix = PurePosixPath(name).suffix.lower()
    return _TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def for_readers(name: str) -> bool:
    """Whether a run's file (``name`` within its folder) is for readers: findings, comparisons, figures."""
    path = PurePosixPath(name)
    return name.endswith(".findings.html") or name == COMPARE_PAGE or path.parts[0] == "figures"


@dataclass
class Published:
    """What a publish did."""

    where: str
    links: list[str]
    runs: int = 0
    new_runs: list[str] = field(default_factory=list)
    sent: int = 0
    sent_bytes: int = 0
    unchanged: int = 0
    removed: int = 0
    kept_apart: list[str] = field(default_factory=list)  # run files that differ from the published copy
    unlisted: list[str] = field(default_factory=list)  # runs in the destination the index no longer lists


def readers_copy(name: str, path: Path, scratch: Path) -> Path:
    """The file readers get: a findings page without its link to the version with code (not published)."""
    if not name.endswith(".findings.html"):
        return path
    text = path.read_text(encoding="utf-8")
    copy = scratch / name.replace("/", "__")
    copy.write_text(text.replace(versions_html(name.removesuffix(".findings.html").split("/")[-1]), ""), "utf-8")
    return copy


def run_files(run_dir: Path, audience: str) -> dict[str, Path]:
    """A run's files to publish, by their name within the run folder."""
    files = {}
    for path in sorted(run_dir.rglob("*")):
        name = path.relative_to(run_dir).as_posix()
        if not path.is_file() or any(part.startswith(".") for part in PurePosixPath(name).parts):
            continue
        if audience == "team" or for_readers(name):
            files[name] = path
    return files


def publish(
    reports_dir: Path,
    to: str,
    root: Path,
    audience: str = "team",
    api_endpoint: str | None = None,
    echo: Callable[[str], None] = print,
) -> Published:
    """Publish ``reports_dir`` to ``to`` (``gs://bucket/folder`` or a folder); see the module's doc.

    Raises:
        ParamsError: an unknown audience, or a destination inside the reports folder.
        PipelineError: no finished run to publish.
        DataError: the destination refused (credentials, permission, a missing bucket).
    """
    if audience not in AUDIENCES:
        raise ParamsError(f"audience {audience!r} is not one of {', '.join(AUDIENCES)}: use AUDIENCE=readers or team")
    if not (Path(reports_dir) / "runs").is_dir():
        raise PipelineError(f"nothing to publish: no finished run in {reports_dir}; run `make report` first")
    destination = open_destination(to, root, api_endpoint)
    folder = getattr(destination, "path", None)
    if folder is not None and Path(folder).is_relative_to(Path(reports_dir).resolve()):
        raise ParamsError(f"publish to {to!r}: it is inside the reports folder {reports_dir}; name a folder outside it")
    with ReportsLock(reports_dir):  # no run is added or pruned while the folder is read
        runs = load_runs(reports_dir, warn=False)
        if not runs:
            raise PipelineError(f"nothing to publish: no finished run in {reports_dir}; run `make report` first")
        latest = latest_run(reports_dir) or runs[0]["run_id"]
        return _publish(reports_dir, destination, runs, latest, audience, echo)


def _publish(reports_dir, destination: Destination, runs, latest: str, audience: str, echo) -> Published:
    with tempfile.TemporaryDirectory(prefix="bqlab-publish-") as scratch:
        return _send_all(reports_dir, destination, runs, latest, audience, echo, Path(scratch))


def _send_all(reports_dir, destination: Destination, runs, latest: str, audience: str, echo, scratch) -> Published:
    readers = audience == "readers"

    def files_of(run_id: str) -> dict[str, Path]:
        files = run_files(reports_dir / "runs" / run_id, audience)
        if readers:
            (scratch / run_id).mkdir(exist_ok=True)
            files = {name: readers_copy(name, path, scratch / run_id) for name, path in files.items()}
        return files

    echo(f"publishing {len(runs)} run(s) to {destination.where} (audience: {audience}) ...")
    held = destination.listing()
    done = Published(destination.where, destination.links("index.html"), runs=len(runs))
    listed = {run["run_id"] for run in runs}
    done.unlisted = sorted({n.split("/")[1] for n in held if n.startswith("runs/") and n.count("/") >= 2} - listed)

    def send(items: Iterable[tuple[str, Path, str, bool]]) -> None:
        """Put each (name, path, cache control, create only) that is missing or changed, in parallel."""
        todo = []
        for name, path, cache, create_only in items:
            digest = md5_base64(path)
            if held.get(name) == digest:
                done.unchanged += 1
            elif create_only and name in held:
                done.kept_apart.append(name)
            else:
                todo.append((name, path, cache, create_only))

        def put(item):
            name, path, cache, create_only = item
            if destination.put(name, path, content_type(name), cache, create_only=create_only):
                return path.stat().st_size
            done.kept_apart.append(name)  # another publisher put it first
            return None

        pool = ThreadPoolExecutor(max_workers=UPLOAD_THREADS)
        try:
            for size in pool.map(put, todo):  # an error (or Ctrl-C) stops the publish before the next phase
                if size is not None:
                    done.sent += 1
                    done.sent_bytes += size
        finally:
            pool.shutdown(wait=True, cancel_futures=True)  # the uploads under way end; no other starts

    # 1. the runs, oldest first, each file created once
    for run in reversed(runs):
        run_id = run["run_id"]
        files = files_of(run_id)
        before = done.sent
        send((f"runs/{run_id}/{name}", path, IMMUTABLE, True) for name, path in files.items())
        if done.sent > before:
            done.new_runs.append(run_id)
            echo(f"  run {run_id}: {done.sent - before} file(s) sent")
    # 2. the sweeps' pages (they link runs sent above)
    sweeps = sorted((reports_dir / "sweeps").glob("*.html")) + (
        [] if readers else sorted((reports_dir / "sweeps").glob("*.json"))
    )
    send((f"sweeps/{path.name}", path, REVALIDATE, False) for path in sweeps)
    # 3. latest/: the newest run's files, then its page
    latest_files = files_of(latest)
    send((f"latest/{name}", path, REVALIDATE, False) for name, path in latest_files.items())
    latest_record = [run for run in runs if run["run_id"] == latest]
    latest_page, index = scratch / "latest.html", scratch / "index.html"
    page = render_index(reports_dir, latest_record, published=True, readers=readers, latest_page=True)
    latest_page.write_text(page, encoding="utf-8")
    send([("latest/index.html", latest_page, REVALIDATE, False)])
    # 4. the index, last
    index.write_text(render_index(reports_dir, runs, published=True, readers=readers), encoding="utf-8")
    send([("index.html", index, REVALIDATE, False)])
    # 5. what latest/ held for an older run: nothing links it now
    wanted = {f"latest/{name}" for name in latest_files} | {"latest/index.html"}
    for name in sorted(n for n in held if n.startswith("latest/") and n not in wanted):
        destination.delete(name)
        done.removed += 1
    return done


def summary(done: Published) -> list[str]:
    """The lines ``make publish`` prints at the end."""
    if done.sent or done.removed:
        sent = f"{done.sent} file(s) sent ({done.sent_bytes / 1e6:.1f} MB)"
        lines = [f"published {done.runs} run(s) to {done.where}: {sent}, {done.unchanged} already there"]
    else:
        lines = [f"nothing to send: {done.where} already holds these {done.runs} run(s) ({done.unchanged} files)"]
    if done.new_runs:
        lines.append(f"new run(s): {', '.join(done.new_runs)}")
    if done.kept_apart:
        shown = ", ".join(done.kept_apart[:5]) + (" ..." if len(done.kept_apart) > 5 else "")
        lines.append(
            f"warning: {len(done.kept_apart)} run file(s) differ from the published copy and were left as "
            f"published (a run is never rewritten): {shown}"
        )
    if done.unlisted:
        lines.append(
            f"{len(done.unlisted)} run(s) in {done.where} are no longer in the index (pruned here), kept there: "
            + ", ".join(done.unlisted[:5])
            + (" ..." if len(done.unlisted) > 5 else "")
        )
    lines.append(f"open: {done.links[0]}")
    lines += [f"  or, if public: {link}" for link in done.links[1:]]
    return lines


def publish_settings(runner: Any, to: str | None, audience: str | None) -> tuple[str, str]:
    """The destination and audience: the command line's, else params/runner.yaml's ``publish``."""
    to = to or runner.publish.to
    if not to:
        raise ParamsError(
            "publish: no destination; set publish.to in params/runner.yaml (gs://<bucket>/<folder> or a folder), "
            "or run make publish TO=gs://<bucket>/<folder>"
        )
    return to, audience or runner.publish.audience
