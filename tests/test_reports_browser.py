"""The reports in a real browser: headless Chromium with the network off loads every report, the
index and the comparison of two runs, and fails on any request that leaves the file, any failed
request and any console error. A full-page screenshot of each page is saved under
``test-artifacts/screenshots/``, and what the first screen shows is checked.
"""

import pytest

from .conftest import ROOT

SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"


VIEWPORT = {"width": 1366, "height": 900}


def pages(compared):
    project, _, run_dir, _ = compared
    reports = sorted(p for p in run_dir.glob("*.html") if p.name != "compare.html")
    assert len(reports) == 6, [p.name for p in reports]  # three notebooks, two versions each
    return [project / "reports" / "index.html", *reports, run_dir / "compare.html"]


@pytest.mark.slow
def test_every_report_and_the_index_open_offline_with_no_request_and_no_error(browser, compared):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    problems, shots = [], []
    for path in pages(compared):
        context = browser.new_context(offline=True, viewport=VIEWPORT)
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
        page.screenshot(path=str(shot), full_page=True)
        shots.append(shot)
        context.close()
    print("\nscreenshots:\n" + "\n".join(f"  {s}" for s in shots))
    assert not problems, "\n".join(problems)
    assert all(s.stat().st_size > 10_000 for s in shots), "a screenshot is blank"


@pytest.mark.slow
@pytest.mark.parametrize("stem", ["01-eda", "02-train", "03-evaluate"])
def test_the_first_screen_shows_the_summary_and_the_run_details_open_on_request(browser, finished, stem):
    _, _, run_dir = finished
    context = browser.new_context(offline=True, viewport=VIEWPORT)
    page = context.new_page()
    page.goto((run_dir / f"{stem}.findings.html").as_uri())
    summary = page.locator(".bqlab-header ul")
    assert summary.is_visible() and summary.bounding_box()["y"] + summary.bounding_box()["height"] < VIEWPORT["height"]
    first_section = page.locator("h2[id]").first.bounding_box()["y"]
    assert first_section < VIEWPORT["height"], f"{stem}: the first result section starts below the first screen"
    links = page.locator(".bqlab-toc a")
    assert links.count() >= 3
    for i in range(links.count()):
        target = links.nth(i).get_attribute("href")
        assert page.locator(f"[id='{target[1:]}']").count() == 1, f"contents link {target} has no target"
    details = page.locator("details#run-details")
    assert not details.locator(".bqlab-params").is_visible(), "parameters stay folded away"
    page.locator("a[href='#run-details']").click()
    details.locator("summary").click()
    assert details.locator(".bqlab-params").is_visible() and "seed" in details.inner_text()
    context.close()
