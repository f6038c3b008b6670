"""The HTML report: one self-contained file, plotly.js once, every user string escaped, and every
chart drawn when Chromium opens it (screenshot in test-artifacts/reports)."""

import re

from engine.reports import html
from engine.reports.pdf import CHROMIUM_ARGS, chromium_path

from .conftest import SCRIPT


def test_self_contained_with_plotly_once(two_run_report):
    page = html.render(two_run_report)
    assert page.count("* plotly.js v") == 1  # the bundle, inlined with the first figure only
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=[\"']?(https?:)?//", page)  # nothing fetched
    assert "@media print" in page
    assert page.index('<div class="callout ') < page.index(">Size, speed and cost</h3>")


def test_user_text_is_escaped(two_run_report):
    page = html.render(two_run_report)
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "report <test> prompts" not in page and "report &lt;test&gt; prompts" in page


def test_opens_in_chromium_with_every_chart_drawn(two_run_report, tmp_path, artifacts):
    from playwright.sync_api import sync_playwright

    path = tmp_path / "report.html"
    path.write_text(html.render(two_run_report), encoding="utf-8")
    expected = len(html.figures_of(two_run_report))
    assert expected >= 8  # comparison charts plus each run's
    requests, dialogs, errors = [], [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("request", lambda r: requests.append(r.url))
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.on("pageerror", lambda err: errors.append(str(err)))
            page.goto(path.as_uri())
            page.wait_for_function(
                "n => [...document.querySelectorAll('.js-plotly-plot')]"
                ".filter(el => el.querySelector('svg.main-svg')).length >= n", arg=expected, timeout=60_000)
            drawn = page.evaluate("[...document.querySelectorAll('.js-plotly-plot')]"
                                  ".filter(el => el.querySelector('svg.main-svg')).length")
            visible_prompt = page.locator(".sample .prompt", has_text="alert(1)").first.inner_text()
            page.screenshot(path=str(artifacts / "report.png"), full_page=True)
        finally:
            browser.close()
    assert drawn == expected
    assert dialogs == [] and errors == []
    assert all(url.startswith(("file:", "data:", "about:")) for url in requests), requests
    assert visible_prompt == SCRIPT  # shown as text, not run
