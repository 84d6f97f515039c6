"""The report's section on `benchbridge analyze` output, when a results directory has one."""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class MeasurementVerdict:
    """One measurement's verdict on one question: beats its baseline or not (None: no verdict), p and why none."""

    question: str
    measurement: str
    beats_baseline: bool | None
    p_value: float | None
    reason: str | None

    def text(self) -> str:
        """yes (p) / no (p) / the reason there is no verdict."""
        if self.beats_baseline is None:
            return f"– ({self.reason})"
        return f"{'yes' if self.beats_baseline else 'no'} (p = {self.p_value:.3f})"


@dataclass(frozen=True)
class Analysis:
    """`benchbridge analyze` output as the report shows it: each measurement's verdicts, the tests, the costs. The
    file's questions, cost and figure are kept as analysis.json has them: the JSON report carries them unchanged."""

    tests: dict[str, str]  # question -> its test, in the file's order
    verdicts: list[MeasurementVerdict]
    own_s: dict[str, float]  # measurement -> its own time
    features_s: float
    analysis_s: dict[str, float]
    train_s: dict[str, float]  # condition -> training time of the grid's runs
    train_runs: dict[str, int]
    load_before: list[float] | None  # the load average before the measurements
    written: dict[str, Any]  # analysis.json's questions, cost and figure, as the file has them

    @property
    def questions(self) -> list[str]:
        return list(self.tests)

    def to_dict(self) -> dict[str, Any]:
        return self.written


def _verdict(question: str, row: dict[str, Any]) -> MeasurementVerdict:
    return MeasurementVerdict(question, row["measurement"], row["beats_baseline"], row.get("p_value"),
                              row.get("reason"))


def load(run_dir: Path) -> Analysis | None:
    """RUN_DIR/analysis/analysis.json as the report shows it, or None when `benchbridge analyze` was not run on it (or
    by an older benchbridge, whose file has no verdicts: rerun `benchbridge analyze`)."""
    data = read(run_dir)
    if data is None:
        return None
    qs, cost = data["questions"], data["cost"]
    return Analysis({k: q["test"] for k, q in qs.items()},
                    [_verdict(k, r) for k, q in qs.items() for r in q["measurements"]],
                    {c["measurement"]: c["own_s"] for c in cost["per_measurement"]}, cost["features_s"],
                    cost["analysis_s"], cost["train_s"], cost["train_runs"],
                    data.get("load_average", {}).get("before"), {k: data[k] for k in ("questions", "cost", "figure")})


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
    """yes (p) / no (p) / the reason there is no verdict, for a measurement's row of analysis.json."""
    return _verdict("", row).text()


def correlation_rows(analysis: Analysis) -> tuple[list[str], list[list[str]]]:
    """Header and rows: per measurement, whether it beats its baseline on each question, and its own time."""
    names = list(dict.fromkeys(v.measurement for v in analysis.verdicts))
    rows = []
    for name in names:
        cells = [next((v.text() for v in analysis.verdicts if v.question == q and v.measurement == name), "–")
                 for q in analysis.tests]
        rows.append([name, *cells, f"{analysis.own_s.get(name, 0.0):.1f}"])
    return ["measurement", *analysis.tests, "own time (s)"], rows


def cost_text(analysis: Analysis) -> str:
    spent = analysis.features_s + sum(analysis.analysis_s.values())
    train = ", ".join(f"{c} {s:.0f} s ({analysis.train_runs[c]} runs)" for c, s in analysis.train_s.items())
    load = analysis.load_before
    at = f" at load average {load[0]:.1f}" if load else ""
    return (f"All measurements took {spent:.1f} s{at} (of which {analysis.features_s:.1f} s extracting features of "
            f"net A, net B and a random network at every cut point); the grid's networks trained in {train} (each "
            "run once, from its record). Tests: " + "; ".join(f"{k}: {t}" for k, t in analysis.tests.items()) + ".")
