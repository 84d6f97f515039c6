"""The report as Markdown, with the figures beside it (linked by relative path)."""

from __future__ import annotations

import os
from pathlib import Path

from benchbridge.report.document import Block, Heading, Para, Table, blocks
from benchbridge.report.figures import Figure
from benchbridge.report.build import Report


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table_md(t: Table) -> str:
    lines = [f"*{t.caption}*", ""] if t.caption else []
    lines += ["| " + " | ".join(map(_cell, t.header)) + " |", "|" + "---|" * len(t.header)]
    lines += ["| " + " | ".join(map(_cell, row)) + " |" for row in t.rows]
    return "\n".join(lines)


def block_md(b: Block, base: Path) -> str:
    if isinstance(b, Heading):
        return "#" * b.level + " " + b.text
    if isinstance(b, Para):
        return f"> **Warning:** {b.text}" if b.warning else b.text
    if isinstance(b, Table):
        return table_md(b)
    if isinstance(b, Figure):
        rel = os.path.relpath(b.png, base)
        svg = os.path.relpath(b.svg, base)
        return f"![{b.title}]({rel})\n\n*{b.caption}* ([SVG]({svg}))"
    raise TypeError(type(b))


def render(report: Report, base: Path) -> str:
    """The report as Markdown; figures are linked relative to `base`, the folder it is written to."""
    return "\n\n".join(block_md(b, base) for b in blocks(report)) + "\n"
