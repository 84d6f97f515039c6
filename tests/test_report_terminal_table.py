"""The table `benchbridge run` prints shows the report's top-1 means (one averaging, in report.tables)."""

from __future__ import annotations

from statistics import mean

from benchbridge.cli import _console
from benchbridge.cli.report import print_table
from test_report import FIXTURE, top1


def test_the_terminal_table_shows_the_report_means_per_split_family(capsys, monkeypatch):
    monkeypatch.setattr(_console.out_console, "width", 300)
    print_table(FIXTURE, "tiny")
    text = capsys.readouterr().out
    random = text[text.index("split random"):]
    row = next(line for line in random.splitlines() if line.strip("│ ").startswith("AnB "))
    cells = [c.strip() for c in row.strip("│").split("│")]
    header = next(line for line in random.splitlines() if "n=4" in line)
    column = [c.strip() for c in header.strip("┃").split("┃")].index("n=4")
    assert cells[column] == f"{mean(top1(FIXTURE, 'random', 'AnB', 4).values()):.3f}"
    assert len(top1(FIXTURE, "random", "AnB", 4)) == 2  # two seeds pooled into one cell
