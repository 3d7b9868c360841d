"""``make publish``: the reports folder, copied to a bucket or a shared folder that readers open.

What is sent, in this order, so that a reader never follows a link to something missing, even
when a publish is killed half way:

1. each finished run's files (``runs/<id>/...``), never rewritten: a create-only put, which a
   file already there refuses; then the run's index record (``run.index.json``: the run as the
   index shows it, without params), so a run with its record is a whole run;
2. under the destination's lock (``bqlab.store.locked``: one publisher at a time), the
   comparisons the sweeps' pages link (``compare/``), then the sweeps' pages (and, for the team,
   the tag of the gate's baseline: a run store's other machines read it);
3. ``latest/index.html``: one page that lists the newest run and links its files in its folder
   (unless another publisher sent a newer run), so ``latest/`` changes at once;
4. ``index.html``, last. It lists every whole run the destination holds, from every machine that
   publishes there (their index records): the newest ``keep_runs``, and always the run
   ``latest/`` shows, the baseline and the sweeps' runs;
5. then the runs beyond ``keep_runs`` are removed (nothing links them any more).

Only what is missing or changed is sent (by MD5, as the destination reports it): a second
publish with nothing new sends nothing. ``audience="readers"`` publishes the findings pages
(without their links to code), the comparisons, the figures and an index without links to code;
never a notebook, a run record or params file, or a model. A findings page keeps its run details
as the report shows them (params, with secret-looking values redacted).

A destination is one bqlab publishes to for one audience: a marker at its root
(``.bqlab-publish.json``) names the audience, and a destination that holds other files, or was
published for the other audience, is refused before anything is sent.
"""

import html
import json
import mimetypes
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from bqlab.digests import md5_base64
from bqlab.errors import ParamsError, PipelineError
from bqlab.report.compare import COMPARE_DIR, COMPARE_PAGE
from bqlab.report.header import versions_html
from bqlab.report.render import render_index
from bqlab.runner.runs import BASELINE_FILE, ReportsLock, baseline_run, latest_run, load_runs
from bqlab.store import Destination, locked, open_destination

AUDIENCES = ("team", "readers")
MARKER = ".bqlab-publish.json"  # at the destination's root: published by bqlab, for this audience
INDEX_RECORD = "run.index.json"  # in each published run: what the index shows of it, for every publisher
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
_LATEST = re.compile(r'<meta name="bqlab-latest-run" content="([^"]+)">')


def marked_for(destination: Destination, held: Mapping[str, str]) -> tuple[str | None, list[str]]:
    """Whom ``destination`` was published for, by its marker (None: no marker), and the files bqlab did not put there.

    Those files are listed for a folder without a marker only: one with a marker is bqlab's.
    """
    marker = destination.read(MARKER)
    if marker is None:
        return None, sorted(name for name in held if not name.startswith(".bqlab-"))
    try:
        audience = json.loads(marker).get("audience")
    except (ValueError, AttributeError):
        audience = None
    return audience or "another audience", []


def listed(names: list[str], shown: int = 3) -> str:
    """The first ``shown`` names, and ... for the others."""
    return ", ".join(names[:shown]) + (" ..." if len(names) > shown else "")


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
    kept_apart: list[str] = field(default_factory=list)  # run files another publisher put other bytes in
    pruned: list[str] = field(default_factory=list)  # runs removed from the destination beyond keep_runs
    unlisted: list[str] = field(default_factory=list)  # runs in the destination without an index record


def readers_copy(name: str, path: Path, scratch: Path) -> Path:
    """The file readers get: a findings page without its links to the version with code (not published).

    Raises:
        PipelineError: the page links its version with code in a way this bqlab does not know.
    """
    if not name.endswith(".findings.html"):
        return path
    stem = name.removesuffix(".findings.html").split("/")[-1]
    text = path.read_text(encoding="utf-8").replace(versions_html(stem), "")
    if f'href="{html.escape(stem)}.html"' in text:
        raise PipelineError(
            f"{path} links its version with code in a way this bqlab cannot take out (a report made by "
            "another version): publish it with AUDIENCE=team, or make the report again"
        )
    copy = scratch / name.replace("/", "__")
    copy.write_text(text, encoding="utf-8")
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


def index_record(record: dict[str, Any], readers: bool = False) -> dict[str, Any]:
    """A run as the index shows it (``runs/<id>/run.index.json``): no params, software or input digests.

    Another publisher to the same destination reads it to list this run in its index. For readers,
    without the names of the versions with code (not published).
    """
    kept = {key: value for key, value in record.items() if key not in ("provenance", "quick_key", "stages")}
    provenance = record.get("provenance", {})
    kept["provenance"] = {key: provenance[key] for key in ("git", "data", "image") if key in provenance}
    dropped = {"fingerprint", *(("html",) if readers else ())}
    kept["stages"] = [{k: v for k, v in stage.items() if k not in dropped} for stage in record.get("stages", [])]
    return kept


def publish(
    reports_dir: Path,
    to: str,
    root: Path,
    audience: str = "team",
    api_endpoint: str | None = None,
    echo: Callable[[str], None] = print,
    keep_runs: int | None = None,
    lock_wait_seconds: float = 300,
    exclude: frozenset[str] = frozenset(),
    pages: frozenset[str] | None = None,
) -> Published:
    """Publish ``reports_dir`` to ``to`` (``gs://bucket/folder`` or a folder); see the module's doc.

    A run store (``bqlab.runner.remote``) leaves out the runs in ``exclude`` (the store removed them),
    and of the sweeps' and comparisons' pages and the baseline's tag sends only those in ``pages``
    (names in the reports folder: those its command wrote); an older copy of the others is another
    machine's to replace, not this one's.

    Raises:
        ParamsError: an unknown audience; a destination inside the reports folder (or holding it),
            holding other files, or published for the other audience.
        PipelineError: no finished run to publish.
        DataError: the destination refused (credentials, permission, a missing bucket, a lock held).
    """
    if audience not in AUDIENCES:
        raise ParamsError(f"audience {audience!r} is not one of {', '.join(AUDIENCES)}: use AUDIENCE=readers or team")
    runs_dir = Path(reports_dir) / "runs"
    if not runs_dir.is_dir() or not any(runs_dir.glob("[!.]*/run.json")):
        raise PipelineError(f"nothing to publish: no finished run in {reports_dir}; run `make report` first")
    destination = open_destination(to, root, api_endpoint)
    folder = getattr(destination, "path", None)
    reports = Path(reports_dir).resolve()
    if folder is not None and Path(folder).is_relative_to(reports):
        raise ParamsError(
            f"publish to {to!r}: {folder} is inside the reports folder {reports}; name a folder outside it"
        )
    if folder is not None and reports.is_relative_to(folder):
        raise ParamsError(f"publish to {to!r}: {folder} holds the reports folder {reports}; name a folder outside it")
    with ReportsLock(reports_dir, "publishing"):  # no run is added or pruned while its files are sent
        runs = [run for run in load_runs(reports_dir, warn=False) if run["run_id"] not in exclude]
        if not runs:
            raise PipelineError(f"nothing to publish: every run in {reports_dir} was removed from {to}")
        pointed = latest_run(reports_dir)  # a link left dangling: the newest run instead
        latest = next((run["run_id"] for run in runs if run["run_id"] == pointed), runs[0]["run_id"])
        with tempfile.TemporaryDirectory(prefix="bqlab-publish-") as scratch:
            publisher = Publisher(reports_dir, destination, audience, Path(scratch), echo, pages)
            publisher.claim()
            publisher.send_runs(runs)
            with locked(destination, wait_seconds=lock_wait_seconds, echo=echo):
                publisher.send_pages(runs, latest, keep_runs)
            return publisher.done


class Publisher:
    """One publish of a reports folder to a destination: what it sends, and how."""

    def __init__(
        self,
        reports_dir: Path,
        destination: Destination,
        audience: str,
        scratch: Path,
        echo,
        pages: frozenset[str] | None = None,
    ) -> None:
        self.reports_dir, self.destination, self.scratch, self.echo = Path(reports_dir), destination, scratch, echo
        self.pages = pages
        self.audience, self.readers = audience, audience == "readers"
        self.held = destination.listing()  # name -> MD5 of what the destination holds
        self.done = Published(destination.where, destination.links("index.html"))

    def claim(self) -> None:
        """Refuse a destination bqlab did not publish to, or published for the other audience; else mark it.

        Raises:
            ParamsError: naming what the destination holds and what to do.
        """
        where = self.destination.where
        audience, others = marked_for(self.destination, self.held)
        if others:
            raise ParamsError(
                f"publish to {where!r}: it holds files bqlab did not publish ({listed(others)}); "
                "publish to an empty folder, or to one bqlab published to"
            )
        if audience is None:
            self.destination.create(MARKER, json.dumps({"published_by": "bqlab", "audience": self.audience}).encode())
        elif audience != self.audience:
            raise ParamsError(
                f"publish to {where!r}: it was published for {audience}, not for {self.audience}; publish "
                "each audience to a folder of its own (a public site to a bucket of its own)"
            )

    def files_of(self, run: dict[str, Any]) -> dict[str, Path]:
        """A run's files for the audience, and its index record."""
        run_id = run["run_id"]
        (self.scratch / run_id).mkdir(exist_ok=True)
        files = run_files(self.reports_dir / "runs" / run_id, self.audience)
        if self.readers:
            files = {name: readers_copy(name, path, self.scratch / run_id) for name, path in files.items()}
        record = self.scratch / run_id / INDEX_RECORD
        record.write_text(json.dumps(index_record(run, self.readers), indent=1, sort_keys=True), encoding="utf-8")
        return {**files, INDEX_RECORD: record}

    def send(self, items: Iterable[tuple[str, Path, str, bool]]) -> None:
        """Put each (name, path, cache control, create only) that is missing or changed, in parallel."""
        todo, done = [], self.done
        for name, path, cache, create_only in items:
            if create_only and name in self.held:  # a run's file, there already: never rewritten, not read again
                done.unchanged += 1
            elif self.held.get(name) == md5_base64(path):
                done.unchanged += 1
            else:
                todo.append((name, path, cache, create_only))

        def put(item):
            name, path, cache, create_only = item
            if self.destination.put(name, path, content_type(name), cache, create_only=create_only):
                return path.stat().st_size
            done.kept_apart.append(name)  # another publisher put other bytes there first
            return None

        pool = ThreadPoolExecutor(max_workers=UPLOAD_THREADS)
        try:
            for size in pool.map(put, todo):  # an error (or Ctrl-C) stops the publish before the next phase
                if size is not None:
                    done.sent += 1
                    done.sent_bytes += size
        finally:
            pool.shutdown(wait=True, cancel_futures=True)  # the uploads under way end; no other starts

    def _pages(self, paths: list[Path]) -> list[Path]:
        """Of ``paths``, the files that exist and are among ``pages`` (all of them without it)."""
        named = self.pages
        return [
            p for p in paths if p.is_file() and (named is None or p.relative_to(self.reports_dir).as_posix() in named)
        ]

    def send_runs(self, runs: list[dict[str, Any]]) -> None:
        """1. Each run's files, oldest run first, each created once; its index record last (no lock needed)."""
        self.echo(f"publishing {len(runs)} run(s) to {self.destination.where} (audience: {self.audience}) ...")
        self.done.runs = len(runs)
        for run in reversed(runs):
            before, files, whole = self.done.sent, self.files_of(run), f"runs/{run['run_id']}/{INDEX_RECORD}"
            record = files.pop(INDEX_RECORD)  # a run with its index record is whole, for every publisher
            new = whole not in self.held
            self.send((f"runs/{run['run_id']}/{name}", path, IMMUTABLE, True) for name, path in files.items())
            self.send([(whole, record, IMMUTABLE, True)])
            if self.done.sent > before:
                self.done.new_runs += [run["run_id"]] if new else []
                what = "sent" if new else "sent again (missing there)"
                self.echo(f"  run {run['run_id']}: {self.done.sent - before} file(s) {what}")

    def send_pages(self, runs: list[dict[str, Any]], latest: str, keep_runs: int | None) -> None:
        """2-5. The pages that list runs, over every run the destination holds (under its lock)."""
        reports_dir, destination, done = self.reports_dir, self.destination, self.done
        self.held = held = destination.listing()  # as it is now: another publisher may have added runs
        theirs = _their_runs(destination, held, {run["run_id"] for run in runs}, done)
        everyone = sorted([*runs, *theirs], key=lambda run: (run["started"], run["run_id"]), reverse=True)
        compare_pages = {run["run_id"] for run in theirs if f"runs/{run['run_id']}/{COMPARE_PAGE}" in held}
        compare_pages |= {r["run_id"] for r in runs if (reports_dir / "runs" / r["run_id"] / COMPARE_PAGE).is_file()}

        def page(name: str, listed: list[dict[str, Any]], **kwargs) -> Path:
            path = self.scratch / name
            text = render_index(
                reports_dir, listed, published=True, readers=self.readers, compare_pages=compare_pages, **kwargs
            )
            path.write_text(text, encoding="utf-8")
            return path

        # 2. the comparisons the sweeps' pages link (made once, never changed), then the pages
        pairs = self._pages(sorted((reports_dir / COMPARE_DIR).glob("*.html")))
        self.send((f"{COMPARE_DIR}/{path.name}", path, IMMUTABLE, False) for path in pairs)
        sweeps = sorted((reports_dir / "sweeps").glob("*.html"))
        sweeps += [] if self.readers else sorted((reports_dir / "sweeps").glob("*.json"))
        self.send((f"sweeps/{path.name}", path, REVALIDATE, False) for path in self._pages(sweeps))
        tag = reports_dir / BASELINE_FILE  # the gate's baseline, for a run store's other machines
        if not self.readers and self._pages([tag]):
            self.send([(BASELINE_FILE, tag, REVALIDATE, False)])
        # 3. latest/: a page of our latest run; left to another publisher whose run is newer
        ours = next(run for run in runs if run["run_id"] == latest)
        shown_page = destination.read("latest/index.html")
        shown = (_LATEST.findall(shown_page.decode("utf-8", "replace")) or [None])[0] if shown_page else None
        if not any((run["started"], run["run_id"]) > (ours["started"], ours["run_id"]) for run in theirs):
            shown = ours["run_id"]
            self.send([("latest/index.html", page("latest.html", [ours], latest_page=True), REVALIDATE, False)])
        # 4. the index, last: the newest keep_runs runs, the one latest/ shows, the baseline and sweeps' runs
        always = {shown, baseline_run(reports_dir)} | {run["run_id"] for run in everyone if run.get("sweep")}
        kept = [run for i, run in enumerate(everyone) if keep_runs is None or i < keep_runs or run["run_id"] in always]
        self.send([("index.html", page("index.html", kept), REVALIDATE, False)])
        # 5. the runs beyond keep_runs: nothing links them now
        done.pruned = sorted({run["run_id"] for run in everyone} - {run["run_id"] for run in kept})
        for name in sorted(n for n in held for run_id in done.pruned if n.startswith(f"runs/{run_id}/")):
            destination.delete(name)


def _their_runs(destination: Destination, held: dict[str, str], ours: set[str], done: Published) -> list[dict]:
    """The whole runs other publishers sent to the destination, as their index records say."""
    theirs = []
    for run_id in sorted({n.split("/")[1] for n in held if n.startswith("runs/") and n.count("/") >= 2} - ours):
        data = destination.read(f"runs/{run_id}/{INDEX_RECORD}") if f"runs/{run_id}/{INDEX_RECORD}" in held else None
        try:
            record = json.loads(data) if data else None
        except ValueError:
            record = None
        if isinstance(record, dict) and record.get("run_id") == run_id and isinstance(record.get("stages"), list):
            theirs.append(record)
        else:
            done.unlisted.append(run_id)  # half sent, or by an older bqlab: not listed
    return theirs


def summary(done: Published) -> list[str]:
    """The lines ``make publish`` prints at the end."""
    if done.sent or done.pruned:
        sent = f"{done.sent} file(s) sent ({done.sent_bytes / 1e6:.1f} MB)"
        lines = [f"published to {done.where}: {sent}, {done.unchanged} already there ({done.runs} run(s) here)"]
    else:
        lines = [f"nothing to send: {done.where} already holds these {done.runs} run(s) ({done.unchanged} files)"]
    if done.new_runs:
        lines.append(f"new run(s): {', '.join(done.new_runs)}")
    if done.kept_apart:
        shown = ", ".join(done.kept_apart[:5]) + (" ..." if len(done.kept_apart) > 5 else "")
        lines.append(
            f"warning: {len(done.kept_apart)} run file(s) hold other bytes in {done.where} (another publisher "
            f"sent a run of the same id) and were left as they are: {shown}"
        )
    if done.pruned:
        lines.append(
            f"removed {len(done.pruned)} run(s) beyond keep_runs from {done.where}: {', '.join(done.pruned[:5])}"
        )
    if done.unlisted:
        lines.append(
            f"{len(done.unlisted)} run(s) in {done.where} have no {INDEX_RECORD} (half sent, or by an older bqlab): "
            "not listed, left there: " + ", ".join(done.unlisted[:5]) + (" ..." if len(done.unlisted) > 5 else "")
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
