"""make publish: the reports copied to a bucket (a local Cloud Storage emulator, the official
client) or a folder, runs first and never rewritten, the index last; a second publish sends
nothing; a publish stopped at any upload leaves an index whose every link resolves."""

import contextlib
import html.parser
import io
import posixpath
import shutil
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest

from bqlab.digests import md5_base64
from bqlab.errors import DataError, ParamsError, PipelineError
from bqlab.runner import publish as publishing
from bqlab.runner import sweeps
from bqlab.runner.runs import load_runs
from bqlab.store import LOCK, locked
from bqlab.store.bucket import BucketDestination
from bqlab.store.folder import FolderDestination

from .conftest import run_cli, write_yaml
from .gcs import gcs_emulator, storage_client  # noqa: F401 - fixture


@pytest.fixture
def reports(compared, tmp_path) -> Path:
    """A copy of a reports folder holding two finished runs (the second compared with the first)."""
    project = compared[0]
    shutil.copytree(project / "reports", tmp_path / "reports", symlinks=True)
    return tmp_path / "reports"


@pytest.fixture
def bucket(gcs_emulator):  # noqa: F811 - the fixture
    """A new bucket on the emulator: (gs:// URL of a folder in it, the client's bucket, the emulator's URL)."""
    name = f"reports-{uuid.uuid4().hex[:12]}"
    created = storage_client(gcs_emulator).create_bucket(name)
    return f"gs://{name}/team-site", created, gcs_emulator


class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs = []

    def handle_starttag(self, tag, attrs):
        self.hrefs += [value for key, value in attrs if key in ("href", "src") and value]


def dead_links(pages: dict[str, bytes], held: set[str]) -> list[str]:
    """Every link a reader can follow from index.html (page to page) that names no published file."""
    dead, todo, seen = [], ["index.html"], {"index.html"}
    while todo:
        name = todo.pop()
        parser = _Links()
        parser.feed(pages[name].decode("utf-8"))
        for href in parser.hrefs:
            if href.startswith(("#", "data:", "http:", "https:", "mailto:")):
                continue
            target = posixpath.normpath(posixpath.join(posixpath.dirname(name), href.split("#")[0]))
            if target not in held:
                dead.append(f"{name} -> {href}")
            elif target.endswith(".html") and target not in seen:
                seen.add(target)
                todo.append(target)
    assert len(seen) > 3, "the index links pages"
    return dead


def folder_pages(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*.html")}


def bucket_pages(created, prefix: str) -> dict[str, bytes]:
    blobs = created.client.list_blobs(created.name, prefix=f"{prefix}/")
    return {b.name[len(prefix) + 1 :]: b.download_as_bytes() for b in blobs if b.name.endswith(".html")}


def test_a_bucket_gets_the_runs_the_latest_and_the_index_and_a_second_publish_sends_nothing(reports, bucket):
    to, created, gcs_endpoint = bucket
    runs = [r["run_id"] for r in load_runs(reports)]
    done = publishing.publish(reports, to, reports.parent, api_endpoint=gcs_endpoint, echo=lambda _: None)
    assert sorted(done.new_runs) == sorted(runs) and done.sent > 0 and not done.kept_apart
    blobs = {b.name.removeprefix("team-site/"): b for b in created.client.list_blobs(created.name)}
    for run_id in runs:  # every file of every run, byte for byte
        for name, path in publishing.run_files(reports / "runs" / run_id, "team").items():
            assert blobs[f"runs/{run_id}/{name}"].md5_hash == md5_base64(path), name
    latest = (reports / "latest").resolve().name
    page = created.blob("team-site/latest/index.html").download_as_bytes().decode()
    assert f'content="{latest}"' in page and f'href="../runs/{latest}/01-eda.findings.html"' in page
    assert [n for n in blobs if n.startswith("latest/")] == ["latest/index.html"], "one page: nothing copied"
    index = blobs["index.html"]
    assert (index.content_type, index.cache_control) == ("text/html; charset=utf-8", "no-cache")
    figure = next(b for n, b in blobs.items() if n.startswith("runs/") and n.endswith(".png"))
    assert (figure.content_type, figure.cache_control) == ("image/png", publishing.IMMUTABLE)
    assert blobs[f"runs/{runs[0]}/run.json"].content_type == "application/json"
    pages = bucket_pages(created, "team-site")
    assert not dead_links(pages, set(blobs)), dead_links(pages, set(blobs))
    assert b'href="latest/index.html"' in pages["index.html"] and b"with code" in pages["index.html"]
    assert all(run_id.encode() in pages["index.html"] for run_id in runs)

    again = publishing.publish(reports, to, reports.parent, api_endpoint=gcs_endpoint, echo=lambda _: None)
    assert (again.sent, again.pruned, again.new_runs) == (0, [], [])
    assert publishing.summary(again)[0].startswith("nothing to send")
    created.blob(f"team-site/runs/{runs[0]}/run.json").delete()  # only what is missing goes again
    third = publishing.publish(reports, to, reports.parent, api_endpoint=gcs_endpoint, echo=lambda _: None)
    assert (third.sent, third.new_runs) == (1, []), "a run sent again is not a new one"


def test_readers_get_the_findings_the_figures_and_an_index_without_code(reports, bucket):
    to, created, gcs_endpoint = bucket
    publishing.publish(reports, to, reports.parent, "readers", gcs_endpoint, echo=lambda _: None)
    names = {b.name.removeprefix("team-site/") for b in created.client.list_blobs(created.name)}
    assert any(n.endswith(".findings.html") for n in names) and any(n.endswith(".png") for n in names)
    assert any(n.endswith("/compare.html") for n in names)
    leaked = [
        n for n in names
        if n.endswith((".ipynb", "run.json", ".skops", ".yaml")) or "/artifacts/" in n
        or (n.endswith(".html") and not n.endswith((".findings.html", "compare.html", "index.html"))
            and not n.startswith("compare/"))  # comparisons `make compare` made are for readers too
    ]  # fmt: skip
    assert not leaked, leaked
    pages = bucket_pages(created, "team-site")
    assert b"with code" not in pages["index.html"] and b".ipynb" not in pages["index.html"]
    assert not dead_links(pages, names), dead_links(pages, names)


class Killed(BaseException):
    """The publishing process dying at an upload (as SIGKILL would, nothing after it runs)."""


class DiesAt:
    """A destination that dies at its n-th put (the puts before it went through)."""

    def __init__(self, inner, at: int):
        self.inner, self.at, self.puts, self.count = inner, at, 0, threading.Lock()
        self.where = inner.where

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def put(self, *args, **kwargs):
        with self.count:  # puts run on several threads
            self.puts += 1
            dies = self.puts == self.at
        if dies:
            raise Killed
        return self.inner.put(*args, **kwargs)


def test_a_publish_killed_at_any_upload_leaves_an_index_whose_every_link_resolves(reports, tmp_path):
    # An earlier publish sent the first run; the next one (with the second run) dies at each of
    # its uploads in turn. Whatever was sent, the published pages link only files that are
    # there, the index lists a run only once all its files are there, and the next publish
    # completes it.
    runs = [r["run_id"] for r in load_runs(reports)]  # newest first
    older = tmp_path / "older"
    shutil.copytree(reports, older, symlinks=True)
    shutil.rmtree(older / "runs" / runs[0])
    (older / "latest").unlink()
    (older / "latest").symlink_to(Path("runs") / runs[1])
    newest = publishing.run_files(reports / "runs" / runs[0], "team")

    def published_before(site: Path) -> FolderDestination:
        publishing.publish(older, str(site), tmp_path, echo=lambda _: None)
        return FolderDestination(str(site), tmp_path)

    counting = DiesAt(published_before(tmp_path / "whole"), at=0)
    with _destination(counting):
        publishing.publish(reports, str(tmp_path / "whole"), tmp_path, echo=lambda _: None)
    assert counting.puts > len(newest) > 10
    for at in range(1, counting.puts + 1):
        site = tmp_path / f"site-{at}"
        dying = DiesAt(published_before(site), at)
        with _destination(dying), pytest.raises(Killed):
            publishing.publish(reports, str(site), tmp_path, echo=lambda _: None)
        held = set(FolderDestination(str(site), tmp_path).listing())
        pages = folder_pages(site)
        assert not dead_links(pages, held), (at, dead_links(pages, held))
        complete = all(f"runs/{runs[0]}/{name}" in held for name in newest)
        assert complete or runs[0].encode() not in pages["index.html"], f"killed at upload {at}: half a run listed"
        done = publishing.publish(reports, str(site), tmp_path, echo=lambda _: None)
        assert not done.kept_apart and runs[0].encode() in (site / "index.html").read_bytes()
        shutil.rmtree(site)


@contextlib.contextmanager
def _destination(destination):
    original = publishing.open_destination
    publishing.open_destination = lambda *args, **kwargs: destination
    try:
        yield
    finally:
        publishing.open_destination = original


def test_a_folder_gets_the_same_guarantees(reports, tmp_path):
    site = tmp_path / "shared" / "reports"
    done = publishing.publish(reports, str(site), tmp_path, echo=lambda _: None)
    held = set(FolderDestination(str(site), tmp_path).listing())
    assert done.sent == len(held) and not dead_links(folder_pages(site), held)
    assert not [p for p in site.rglob("*") if p.name.startswith(".bqlab-put-")], "no temporary file left"
    assert publishing.publish(reports, str(site), tmp_path, echo=lambda _: None).sent == 0


def test_bad_destinations_are_refused_before_anything_is_sent(reports, tmp_path, bucket, project):
    gcs_endpoint = bucket[2]
    with pytest.raises(ParamsError, match="'Bad_Bucket' is not a bucket name"):
        publishing.publish(reports, "gs://Bad_Bucket/x", tmp_path, echo=lambda _: None)
    with pytest.raises(ParamsError, match="is inside the reports folder"):
        publishing.publish(reports, str(reports / "site"), tmp_path, echo=lambda _: None)
    with pytest.raises(DataError, match="not found .*create it"):
        publishing.publish(reports, "gs://no-such-bucket-here/x", tmp_path, api_endpoint=gcs_endpoint)
    with pytest.MonkeyPatch.context() as env:  # no emulator, and a key file that is not there
        env.delenv("STORAGE_EMULATOR_HOST", raising=False)
        env.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing-key.json"))
        with pytest.raises(DataError, match="Google Cloud credentials: .*missing-key.json.* To fix: "):
            publishing.publish(reports, "gs://my-bucket/x", tmp_path)
    with pytest.raises(PipelineError, match="no finished run in .*; run `make report` first"):
        publishing.publish(tmp_path / "empty", str(tmp_path / "site"), tmp_path)
    for typo in ("gs:/my-bucket/x", "GS://my-bucket/x", "s3://my-bucket/x", "https://storage.googleapis.com/b/x"):
        with pytest.raises(ParamsError, match="is neither a Cloud Storage URL nor a folder"):
            publishing.publish(reports, typo, tmp_path, echo=lambda _: None)
    with pytest.raises(ParamsError, match="holds the reports folder .*; name a folder outside it"):
        publishing.publish(reports, str(reports.parent), tmp_path, echo=lambda _: None)  # TO=. from the root
    foreign = tmp_path / "www"
    write_yaml(foreign / "latest" / "notes.txt", "not ours")
    with pytest.raises(ParamsError, match="holds files bqlab did not publish .*latest/notes.txt"):
        publishing.publish(reports, str(foreign), tmp_path, echo=lambda _: None)
    assert sorted(p.name for p in foreign.rglob("*")) == ["latest", "notes.txt"], "nothing written or removed"
    publishing.publish(reports, str(tmp_path / "team"), tmp_path, echo=lambda _: None)
    with pytest.raises(ParamsError, match="published for team, not for readers; publish each audience"):
        publishing.publish(reports, str(tmp_path / "team"), tmp_path, "readers", echo=lambda _: None)
    assert not (reports / "site").exists() and not (tmp_path / "site").exists()
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert run_cli(project, "publish") == 2
    assert "no destination; set publish.to in params/runner.yaml" in err.getvalue()
    write_yaml(project / "params/profiles/shared.yaml", "runner:\n  publish:\n    to: gs://UPPER/x\n")
    with contextlib.redirect_stderr(err):
        assert run_cli(project, "publish", "--profile", "shared") == 2
    assert "'UPPER' is not a bucket name" in err.getvalue()


@pytest.mark.slow
def test_the_published_index_opens_from_the_bucket_with_no_other_request(reports, bucket, browser):
    to, created, gcs_endpoint = bucket
    publishing.publish(reports, to, reports.parent, "readers", gcs_endpoint, echo=lambda _: None)
    problems, seen = [], []
    context = browser.new_context()
    page = context.new_page()
    page.on("console", lambda m: m.type == "error" and problems.append(f"console error: {m.text}"))
    page.on("requestfailed", lambda r: problems.append(f"failed request {r.url}"))
    page.on("response", lambda r: r.status >= 400 and problems.append(f"{r.status} {r.url}"))

    def route(request_route):
        url = request_route.request.url
        seen.append(url)
        if url.startswith((gcs_endpoint, "data:")):
            return request_route.continue_()
        problems.append(f"request outside the bucket: {url}")
        return request_route.abort()

    context.route("**/*", route)
    base = f"{gcs_endpoint}/{created.name}/team-site/"
    page.goto(base + "index.html")
    assert "Analysis reports" in page.content()
    page.click("text=latest/")
    assert "Latest run" in page.content()
    page.locator("a", has_text="01-eda").first.click()
    assert page.url.endswith(".findings.html")
    context.close()
    assert not problems, problems
    assert len(seen) >= 3


def only_run(reports: Path, run_id: str, target: Path) -> Path:
    """A copy of ``reports`` holding one of its runs, as the folder of a machine that made only that run."""
    shutil.copytree(reports, target, symlinks=True)
    for other in (target / "runs").glob("[!.]*"):
        if other.name != run_id:
            shutil.rmtree(other)
    (target / "latest").unlink()
    (target / "latest").symlink_to(Path("runs") / run_id)
    (target / "index.html").unlink()
    return target


PUBLISH = """
import sys
from pathlib import Path
from bqlab.runner.publish import publish
done = publish(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[1]).parent, api_endpoint=sys.argv[3], echo=print)
print("sent", done.sent)
"""


def test_two_machines_publishing_into_one_bucket_at_once_are_both_listed(reports, bucket, tmp_path):
    # Each machine's folder holds only its own run; both publish at the same moment. The lock
    # lets one write the pages at a time, and the later one lists the other's run from its index
    # record: both runs listed, whole, with latest/ on the newer one, whichever finished last.
    to, created, endpoint = bucket
    newer, older = [r["run_id"] for r in load_runs(reports)]
    folders = [only_run(reports, older, tmp_path / "laptop"), only_run(reports, newer, tmp_path / "ci-job")]
    processes = [
        subprocess.Popen([sys.executable, "-c", PUBLISH, str(f), to, endpoint], stdout=subprocess.PIPE, text=True)
        for f in folders
    ]
    outputs = [p.communicate(timeout=120)[0] for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    names = {b.name.removeprefix("team-site/") for b in created.client.list_blobs(created.name)}
    pages = bucket_pages(created, "team-site")
    assert older.encode() in pages["index.html"] and newer.encode() in pages["index.html"], outputs
    assert not dead_links(pages, names), dead_links(pages, names)
    assert f'<meta name="bqlab-latest-run" content="{newer}">'.encode() in pages["latest/index.html"]
    assert not any(n.startswith(".bqlab-lock") or "/.bqlab-lock" in n for n in names), "the lock is released"


def test_the_lock_refuses_a_second_publisher_and_a_dead_ones_lock_is_taken_over(reports, bucket, tmp_path):
    to, created, endpoint = bucket
    destination = BucketDestination(to, endpoint)
    with locked(destination):
        assert destination.create(LOCK, b"{}") is None, "a second lock is refused while one is held"
        with pytest.raises(DataError, match="is locked by another publisher .* try again when it has finished"):
            publishing.publish(reports, to, tmp_path, api_endpoint=endpoint, echo=lambda _: None, lock_wait_seconds=1)
    assert "team-site/index.html" not in {b.name for b in created.client.list_blobs(created.name)}, "no index yet"
    left = destination.create(LOCK, b'{"holder": "a job that died", "since": "2026-01-01T00:00:00+00:00"}')
    said = []
    with locked(destination, stale_seconds=0, echo=said.append):  # every lock is stale at 0 s
        assert destination.version(LOCK)[0] != left
    assert said and "a job that died" in said[0] and destination.version(LOCK) is None
    folder = FolderDestination(str(tmp_path / "shared"), tmp_path)
    made = folder.create(LOCK, b"mine")
    assert folder.create(LOCK, b"theirs") is None and not folder.delete_version(LOCK, "another-version")
    assert folder.delete_version(LOCK, made) and folder.version(LOCK) is None


def test_the_destination_keeps_the_newest_keep_runs_runs(reports, tmp_path):
    site = tmp_path / "site"
    newer, older = [r["run_id"] for r in load_runs(reports)]
    publishing.publish(reports, str(site), tmp_path, echo=lambda _: None)
    done = publishing.publish(reports, str(site), tmp_path, echo=lambda _: None, keep_runs=1)
    assert done.pruned == [older] and not (site / "runs" / older).exists() and (site / "runs" / newer).is_dir()
    held = set(FolderDestination(str(site), tmp_path).listing())
    index = (site / "index.html").read_bytes()
    assert f'href="runs/{older}/'.encode() not in index and not dead_links(folder_pages(site), held)


@pytest.mark.parametrize("audience", ["team", "readers"])
def test_a_sweeps_page_and_the_comparisons_it_links_are_published_whole(reports, tmp_path, audience):
    # A sweep's leaderboard links each point's findings and its comparison with the best point
    # (reports/compare/<A>-vs-<B>.html, beside the runs): every link resolves once published.
    newer, older = [r["run_id"] for r in load_runs(reports)]
    records = {r["run_id"]: r for r in load_runs(reports)}
    sweep = sweeps.Sweep("depth", tmp_path / "depth.yaml", ({"train.x": 1}, {"train.x": 2}))
    results = [
        sweeps.PointResult(n, sweep.points[n - 1], run_id, "ok", scores=sweeps.point_scores(records[run_id]))
        for n, run_id in ((1, older), (2, newer))
    ]
    sweeps.publish_results(sweep, results, reports)
    assert list((reports / "compare").glob("*-vs-*.html")), "the leaderboard links a comparison"
    site = tmp_path / "site"
    publishing.publish(reports, str(site), tmp_path, audience, echo=lambda _: None)
    held = set(FolderDestination(str(site), tmp_path).listing())
    pages = folder_pages(site)
    assert "sweeps/depth.html" in held and any(n.startswith("compare/") for n in held)
    assert b"sweeps/depth.html" in pages["index.html"]
    assert not dead_links(pages, held), dead_links(pages, held)
    assert ("sweeps/depth.json" in held) == (audience == "team")
