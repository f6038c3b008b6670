"""The PDF: the print version of the HTML (a one-page cover a PM reads in 30 seconds, then the
whole report paginated), charts as vector SVG made by kaleido, printed by headless Chromium
through Playwright. Nothing is fetched from the network: the page's only resources are inline."""

from __future__ import annotations

import asyncio
import html as html_lib
import os
import shutil
import threading
from pathlib import Path

from engine.reports import html
from engine.reports.content import Report, ReportError
from engine.reports.figures import ReportFigure
from engine.reports.formatting import timestamp

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
CHART_WIDTH, WIDE_CHART_WIDTH = 760, 900  # layout pixels; SVG scales to the page width without loss
PRINT_HEIGHT = 0.85  # a little flatter than on screen: three charts to an A4 page


def chromium_path() -> str:
    path = os.environ.get("COMPECON_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).is_file():
        raise ReportError("the PDF is printed by Chromium, which was not found: install it (apt-get install chromium) "
                          "or set COMPECON_CHROMIUM to its path")
    return path


def _run(coro_factory):
    """Run a coroutine to completion, also when the caller already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro_factory())
    result: dict = {}

    def target():
        try:
            result["value"] = asyncio.run(coro_factory())
        except BaseException as error:  # re-raised in the caller's thread
            result["error"] = error

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


def chart_images(figures: list[ReportFigure], image_format: str = "svg", scale: float = 1) -> dict[str, bytes]:
    """Every figure rendered by kaleido in one browser session (plotly.js from the installed plotly
    package, MathJax off: no network)."""
    import kaleido

    async def render():
        images = {}
        async with kaleido.Kaleido(n=1, mathjax=False) as k:
            for figure in figures:
                width = WIDE_CHART_WIDTH if figure.wide else CHART_WIDTH
                height = round((figure.fig.layout.height or 340) * PRINT_HEIGHT)
                opts = {"format": image_format, "width": width, "height": height, "scale": scale}
                images[figure.key] = await k.calc_fig(figure.fig.to_dict(), opts=opts)
        return images

    return _run(render) if figures else {}


def print_html(report: Report, image_format: str = "svg") -> str:
    """The HTML the PDF is printed from (static charts, cover page)."""
    figures = html.figures_of(report)
    images = chart_images(figures, image_format, 1 if image_format == "svg" else 2)
    return html.render(report, images=images, image_format=image_format)


def _header_footer(report: Report) -> tuple[str, str]:
    style = "font-family: 'DejaVu Sans', 'Liberation Sans', sans-serif; font-size: 7.5px; color: #64748b; " \
            "width: 100%; margin: 0 13mm; display: flex; justify-content: space-between;"
    title = html_lib.escape(report.title)
    header = f'<div style="{style}"><span>{title}</span><span>Compression Economics</span></div>'
    footer = (f'<div style="{style}"><span>Generated {html_lib.escape(timestamp(report.generated))} · compecon '
              f'{html_lib.escape(report.tool_version)}</span><span>Page <span class="pageNumber"></span> of '
              f'<span class="totalPages"></span></span></div>')
    return header, footer


def html_to_pdf(page_html: str, header: str, footer: str) -> bytes:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        except PlaywrightError as error:
            raise ReportError(f"Chromium ({executable}) would not start to print the PDF: {error}") from None
        try:
            page = browser.new_page()
            # Everything the page needs is inline; refuse any request that would leave the machine.
            page.route("**/*", lambda route: route.continue_() if route.request.url.startswith("data:")
                       else route.abort())
            page.set_content(page_html, wait_until="load")
            page.emulate_media(media="print")
            return page.pdf(format="A4", print_background=True, display_header_footer=True,
                            header_template=header, footer_template=footer,
                            margin={"top": "16mm", "bottom": "16mm", "left": "13mm", "right": "13mm"})
        finally:
            browser.close()


def to_pdf(report: Report, image_format: str = "svg") -> bytes:
    header, footer = _header_footer(report)
    return html_to_pdf(print_html(report, image_format), header, footer)
