"""The reports in a real browser: headless Chromium with the network off loads every report and
the index, and fails on any request that leaves the file, any failed request and any console error.
A screenshot of each page is saved under ``test-artifacts/screenshots/``.
"""

import pytest

from .conftest import ROOT

SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"


def pages(finished):
    _, project, run_dir = finished
    reports = sorted(run_dir.glob("*.html"))
    assert len(reports) == 6, [p.name for p in reports]  # three notebooks, two versions each
    return [project / "reports" / "index.html", *reports]


@pytest.mark.slow
def test_every_report_and_the_index_open_offline_with_no_request_and_no_error(browser, finished):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    problems, shots = [], []
    for path in pages(finished):
        context = browser.new_context(offline=True, viewport={"width": 1366, "height": 900})
        page = context.new_page()
        name = f"{path.parent.name}-{path.name}" if path.name == "index.html" else path.name
        page.on("console", lambda m, n=name: m.type == "error" and problems.append(f"{n}: console error: {m.text}"))
        page.on("pageerror", lambda e, n=name: problems.append(f"{n}: page error: {e}"))
        page.on("requestfailed", lambda r, n=name: problems.append(f"{n}: failed request {r.url}"))

        def outside(route, n=name):
            if route.request.url.startswith(("file://", "data:", "about:")):
                return route.continue_()
            problems.append(f"{n}: network request {route.request.url}")
            return route.abort()

        page.route("**/*", outside)
        page.goto(path.as_uri(), wait_until="load")
        page.wait_for_timeout(300)  # late requests (fonts, scripts started on load)
        shot = SCREENSHOTS / f"{name.removesuffix('.html')}.png"
        page.screenshot(path=str(shot), full_page=path.name == "index.html")
        shots.append(shot)
        context.close()
    print("\nscreenshots:\n" + "\n".join(f"  {s}" for s in shots))
    assert not problems, "\n".join(problems)
    assert all(s.stat().st_size > 10_000 for s in shots), "a screenshot is blank"


@pytest.mark.slow
def test_the_header_summary_and_contents_are_visible_and_the_contents_links_work(browser, finished):
    _, _, run_dir = finished
    context = browser.new_context(offline=True)
    page = context.new_page()
    page.goto((run_dir / "03-evaluate.findings.html").as_uri())
    header = page.locator(".bqlab-header")
    assert header.is_visible()
    text = header.inner_text()
    for expected in ("Run", "Status", "ok", "Summary", "Test accuracy", "Weakest slice", "Parameters", "Contents"):
        assert expected in text, expected
    links = page.locator(".bqlab-toc a")
    assert links.count() >= 5
    for i in range(links.count()):
        target = links.nth(i).get_attribute("href")
        assert page.locator(f"[id='{target[1:]}']").count() == 1, f"contents link {target} has no target"
    context.close()
