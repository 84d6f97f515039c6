"""Reports: figures, Table 1, the transfer gap, cost and a verdict on each of the paper's findings."""

from benchbridge.report.build import GridReport, Report, build_report, write_reports
from benchbridge.report.grid import Grid, load_grid

__all__ = ["Grid", "GridReport", "Report", "build_report", "load_grid", "write_reports"]
