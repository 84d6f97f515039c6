"""Bundled reporters: a self-contained HTML page and Markdown beside the figures.

A reporter has `name`, `Options` and `report(report, out, options) -> Path`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchbridge import api
from benchbridge.api import NoOptions, hookimpl, write_text

if TYPE_CHECKING:  # the report modules import matplotlib: load them only when a report is written
    from benchbridge.api import Report


class HtmlReporter:
    """One self-contained HTML page (figures embedded as base64 PNG)."""

    name = "html"
    Options = NoOptions
    description = "report.html: one self-contained page"

    def report(self, report: Report, out: Path, options: NoOptions) -> Path:
        path = out / "report.html"
        write_text(path, api.render_html(report))
        return path


class MarkdownReporter:
    """A Markdown file linking the PNG/SVG figures written beside it."""

    name = "markdown"
    Options = NoOptions
    description = "report.md: Markdown with the figures beside it"

    def report(self, report: Report, out: Path, options: NoOptions) -> Path:
        path = out / "report.md"
        write_text(path, api.render_markdown(report, out))
        return path


@hookimpl
def register_reporters(register: Any) -> None:
    register(HtmlReporter())
    register(MarkdownReporter())
