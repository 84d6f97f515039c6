"""The report as one self-contained HTML page: figures embedded as base64 PNG, no external files."""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path

from benchbridge.report.build import Report
from benchbridge.report.document import Block, Heading, Para, Table, blocks
from benchbridge.report.figures import Figure

CSS = """
body { font-family: system-ui, sans-serif; max-width: 1150px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
caption { caption-side: top; text-align: left; font-style: italic; padding-bottom: 0.3em; }
figure { margin: 1em 0 2em; } figure img { max-width: 100%; border: 1px solid #eee; }
.warning { background: #fff4e0; border-left: 4px solid #e69500; padding: 0.6em 1em; }
.holds { color: #1b7a1b; font-weight: bold; } .does-not-hold { color: #b22222; font-weight: bold; }
.inconclusive { color: #b8860b; font-weight: bold; } .not-measured { color: #777; }
"""
VERDICTS = {"HOLDS": "holds", "DOES NOT HOLD": "does-not-hold", "inconclusive": "inconclusive",
            "not measured": "not-measured"}


def _td(text: str) -> str:
    cls = VERDICTS.get(text)
    return f'<td class="{cls}">{escape(text)}</td>' if cls else f"<td>{escape(text)}</td>"


def table_html(t: Table) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in t.header)
    body = "".join("<tr>" + "".join(_td(c) for c in row) + "</tr>" for row in t.rows)
    cap = f"<caption>{escape(t.caption)}</caption>" if t.caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def figure_html(f: Figure) -> str:
    data = base64.b64encode(Path(f.png).read_bytes()).decode()
    return (f'<figure><img alt="{escape(f.title)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{escape(f.caption)}</figcaption></figure>")


def block_html(b: Block) -> str:
    if isinstance(b, Heading):
        return f"<h{b.level}>{escape(b.text)}</h{b.level}>"
    if isinstance(b, Para):
        return f'<p class="warning">{escape(b.text)}</p>' if b.warning else f"<p>{escape(b.text)}</p>"
    if isinstance(b, Table):
        return table_html(b)
    if isinstance(b, Figure):
        return figure_html(b)
    raise TypeError(type(b))


def render(report: Report) -> str:
    """The report as one self-contained HTML page (figures embedded)."""
    body = "\n".join(block_html(b) for b in blocks(report))
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(report.title)}</title>'
            f"<style>{CSS}</style></head><body>\n{body}\n</body></html>\n")
