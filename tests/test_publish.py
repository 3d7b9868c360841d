"""make publish: the reports copied to a bucket (a local Cloud Storage emulator, the official
client) or a folder, runs first and never rewritten, the index last; a second publish sends
nothing; a publish stopped at any upload leaves an index whose every link resolves."""

import contextlib
import html.parser
import io
import posixpath
import shutil
import uuid
from pathlib import Path

import pytest

from bqlab.digests import md5_base64
from bqlab.errors import DataError, ParamsError, PipelineError
from bqlab.runner import publish as publishing
from bqlab.runner.runs import load_runs
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
    latest = (reports / "latest").resolve()
    assert blobs["latest/run.json"].md5_hash == md5_base64(latest / "run.json")
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
    assert (again.sent, again.removed, again.new_runs) == (0, 0, [])
    assert publishing.summary(again)[0].startswith("nothing to send")
    created.blob(f"team-site/runs/{runs[0]}/run.json").delete()  # only what is missing goes again
    third = publishing.publish(reports, to, reports.parent, api_endpoint=gcs_endpoint, echo=lambda _: None)
    assert (third.sent, third.new_runs) == (1, [runs[0]])


def test_readers_get_the_findings_the_figures_and_an_index_without_code(reports, bucket):
    to, created, gcs_endpoint = bucket
    publishing.publish(reports, to, reports.parent, "readers", gcs_endpoint, echo=lambda _: None)
    names = {b.name.removeprefix("team-site/") for b in created.client.list_blobs(created.name)}
    assert any(n.endswith(".findings.html") for n in names) and any(n.endswith(".png") for n in names)
    assert any(n.endswith("/compare.html") for n in names)
    leaked = [
        n for n in names
        if n.endswith((".ipynb", "run.json", ".skops", ".yaml")) or "/artifacts/" in n
        or (n.endswith(".html") and not n.endswith((".findings.html", "compare.html", "index.html")))
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
        self.inner, self.at, self.puts = inner, at, 0
        self.where = inner.where

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def put(self, *args, **kwargs):
        self.puts += 1
        if self.puts == self.at:
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
    with pytest.raises(ParamsError, match="inside the reports folder"):
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
