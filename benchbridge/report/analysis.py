"""The report's section on `benchbridge analyze` output, when a results directory has one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchbridge.results import store
from benchbridge.analyze import ANALYSIS_DIR, ANALYSIS_FILE, FIGURE_NAME, FORMAT_VERSION
from benchbridge.report.figures import Figure


INTRO = ("Cheap per-layer measurements (`benchbridge analyze`, see docs/analytics.md), each scored on four questions "
         "against its own baseline: the depth order -n for ranking cut points, a constant depth (shallowest or "
         "deepest) for the best n to fine-tune from, chance for ranking splits. A measurement is called predictive "
         "only where it beats that baseline under the stated test; with too few groups or splits there is no "
         "verdict.")
CAPTION = ("Beats its baseline? yes / no with the one-sided p, or – with the reason there is no verdict (e.g. not "
           "enough groups)")


def load(run_dir: Path) -> dict[str, Any] | None:
    """RUN_DIR/analysis/analysis.json, or None when `benchbridge analyze` was not run on it (or by an older
    benchbridge, whose file has no verdicts: rerun `benchbridge analyze`)."""
    return read(run_dir)


def read(run_dir: Path) -> dict[str, Any] | None:
    """RUN_DIR/analysis/analysis.json as this benchbridge writes it (None when absent or of an older format)."""
    path = Path(run_dir) / ANALYSIS_DIR / ANALYSIS_FILE
    data = store.read_json(path) if path.is_file() else None
    current = data is not None and data.get("version") == FORMAT_VERSION and "groups" in data  # older: T only
    return data if current else None


def figure(run_dir: Path) -> Figure:
    """The figure `benchbridge analyze` drew beside its json."""
    base = Path(run_dir) / ANALYSIS_DIR / FIGURE_NAME
    return Figure("analysis", "Per-layer measurements against the measured curve",
                  "Measured AnB / baseB (black), the depth baseline -n (grey, dashed) and every per-layer "
                  "measurement, each rescaled to [0, 1] over n, per split and seed (top-layer scores, one point "
                  "each, are in the table only).",
                  f"{base}.png", f"{base}.svg")


def verdict_text(row: dict[str, Any]) -> str:
    """yes (p) / no (p) / the reason there is no verdict."""
    if row["beats_baseline"] is None:
        return f"– ({row['reason']})"
    return f"{'yes' if row['beats_baseline'] else 'no'} (p = {row['p_value']:.3f})"


def correlation_rows(analysis: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows: per measurement, whether it beats its baseline on each question, and its own time."""
    qs = analysis["questions"]
    names = list(dict.fromkeys(r["measurement"] for q in qs.values() for r in q["measurements"]))
    own = {c["measurement"]: c["own_s"] for c in analysis["cost"]["per_measurement"]}
    rows = []
    for name in names:
        cells = [next((verdict_text(r) for r in q["measurements"] if r["measurement"] == name), "–")
                 for q in qs.values()]
        rows.append([name, *cells, f"{own.get(name, 0.0):.1f}"])
    return ["measurement", *qs, "own time (s)"], rows


def cost_text(analysis: dict[str, Any]) -> str:
    cost = analysis["cost"]
    spent = cost["features_s"] + sum(cost["analysis_s"].values())
    train = ", ".join(f"{c} {s:.0f} s ({cost['train_runs'][c]} runs)" for c, s in cost["train_s"].items())
    load = analysis.get("load_average", {}).get("before")
    at = f" at load average {load[0]:.1f}" if load else ""
    return (f"All measurements took {spent:.1f} s{at} (of which {cost['features_s']:.1f} s extracting features of "
            f"net A, net B and a random network at every cut point); the grid's networks trained in {train} (each "
            "run once, from its record). Tests: " + "; ".join(f"{k}: {q['test']}" for k, q in
                                                              analysis["questions"].items()) + ".")
