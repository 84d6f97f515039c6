"""The report's section on `benchbridge analyze` output, when a results directory has one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchbridge import store
from benchbridge.analyze import ANALYSIS_DIR, ANALYSIS_FILE, FIGURE_NAME
from benchbridge.report.figures import Figure


def load(run_dir: Path) -> dict[str, Any] | None:
    """RUN_DIR/analysis/analysis.json, or None when `benchbridge analyze` was not run on it."""
    path = Path(run_dir) / ANALYSIS_DIR / ANALYSIS_FILE
    return store.read_json(path) if path.is_file() else None


def figure(run_dir: Path) -> Figure:
    """The figure `benchbridge analyze` drew beside its json."""
    base = Path(run_dir) / ANALYSIS_DIR / FIGURE_NAME
    return Figure("analysis", "Per-layer measurements against the measured curve",
                  "Measured AnB / baseB (black) and every per-layer measurement, each rescaled to [0, 1] over n, per "
                  "split and seed (top-layer scores, one point each, are in the table only).",
                  f"{base}.png", f"{base}.svg")


def _rho(cell: dict[str, Any]) -> str:
    return f"{cell['rho']:+.2f} ({cell['points']})" if cell["rho"] is not None else f"– ({cell['points']})"


def correlation_rows(analysis: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows: per measurement, rho (points) per split/seed and pooled, and its wall time."""
    groups = analysis["groups"]
    header = ["measurement", *[f"{g['split']} seed {g['seed']}" for g in groups], "pooled", "wall time (s)"]
    rows = []
    for row in analysis["correlations"]:
        seconds = analysis["cost"]["analysis_s"].get(row["analysis"], 0.0)
        rows.append([row["series"], *[_rho(c) for c in row["per_group"]], _rho(row["pooled"]),
                     f"{seconds:.2f} ({row['analysis']})"])
    return header, rows


def cost_text(analysis: dict[str, Any]) -> str:
    cost = analysis["cost"]
    spent = cost["features_s"] + sum(cost["analysis_s"].values())
    train = cost["train_s"]
    return (f"All measurements took {spent:.1f} s (of which {cost['features_s']:.1f} s extracting features of net A, "
            f"net B and a random network at every cut point); the AnB runs they stand in for trained in "
            f"{train['AnB']:.0f} s, and the base networks they need in {train['baseA'] + train['baseB']:.0f} s.")
