"""`analyze`: per-layer measurements at every cut point, each scored on the questions a user asks of the grid."""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from benchbridge.analyze import PER_CLASS
from benchbridge.cli._console import err_console, out_console, print_json
from benchbridge.report.analysis import verdict_text


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--out", type=click.Path(file_okay=False), help="Output folder (default: RUN_DIR/analysis).")
@click.option("--images-per-class", type=click.IntRange(min=1), default=PER_CLASS, show_default=True,
              help="Half B's training and validation images per class that the measurements see.")
@click.option("--proxy", type=click.Path(file_okay=False),
              help="Results of the same grid trained at a smaller budget (e.g. `training.epochs=1 "
                   "data.images_per_class=200 output_dir=...`): scored on every question, with its cost.")
@click.option("--json", "as_json", is_flag=True, help="Print every number as JSON to stdout.")
def analyze(run_dir: str, out: str | None, images_per_class: int, proxy: str | None, as_json: bool) -> None:
    """Per-layer measurements (analysis plugins) at every cut point, each tested against its baseline."""
    from benchbridge.analyze.measure import analyze as run_analysis

    result = run_analysis(run_dir, out, per_class=images_per_class, proxy=proxy,
                          say=lambda text: err_console.print(text, highlight=False))
    if as_json:
        print_json(result)
    else:
        _print(result)


def _print(result: dict[str, Any]) -> None:
    for name, q in result["questions"].items():
        if not q.get("applies", True):
            out_console.print(f"{name}: {q['question']} Not asked of this grid: needs {q['needs']}.", highlight=False)
            continue
        table = Table("measurement", "statistic", "beats baseline", title=f"{name}: {q['question']}\n"
                      f"target: {q['target']}\nbaseline: {q['baseline']}\ntest: {q['test']}", title_justify="left")
        for row in q["measurements"]:
            table.add_row(row["measurement"], _statistic(row), verdict_text(row))
        out_console.print(table)
    _print_t(result["t_metric"])
    cost = result["cost"]
    spent = cost["features_s"] + sum(cost["analysis_s"].values())
    out_console.print(f"measurements: {spent:.1f} s (features {cost['features_s']:.1f} s); training of the grid by "
                      f"condition (each run once): " + ", ".join(f"{c} {s:.0f} s" for c, s in cost["train_s"].items())
                      + f". Figure: {result['figure']['png']}", highlight=False)


def _statistic(row: dict[str, Any]) -> str:
    if "pooled_rho" in row:
        mine, base = row["pooled_rho"], row["pooled_baseline_rho"]
        ci = row.get("ci95")
        interval = f", mean difference {_num(row['mean_difference'])} [{_num(ci[0])}, {_num(ci[1])}]" if ci else ""
        return f"pooled rho {_num(mine)} vs baseline {_num(base)}, {row['groups']} groups{interval}"
    if "rho" in row:
        return f"rho across splits {_num(row['rho'])}, {len(row['splits'])} splits ({len(row['groups'])} groups)"
    wins = sum(1 for c in row["per_group"] if (c["difference"] or 0) > 0)
    return f"lower regret than the baseline in {wins} of {row['groups']} groups"


def _num(x: float | None) -> str:
    return "–" if x is None else f"{x:+.2f}"


def _print_t(t: dict[str, Any]) -> None:
    """Chen et al.'s T per copied block and the mean, per pair and seed, with theta_r's origin (or why none)."""
    n = max((r["n"] or 0 for r in t["rows"]), default=0)
    if not n:
        return
    blocks = [str(i) for i in range(1, n + 1)]
    table = Table("source", "target", "seed", "network", "theta_r", *[f"T {b}" for b in blocks], "mean",
                  title=f"Chen et al.'s T per copied block: {t['weights_compared']}", title_justify="left")
    for row in t["rows"]:
        values = row["t_per_block"] or {}
        network = f"{row['condition']} n={row['n']}" if row["n"] else "–"
        table.add_row(row["source"], row["target"], str(row["seed"]), network, row["init_origin"] or "–",
                      *[_plain(values.get(b)) for b in blocks], _plain(row["t_mean"]))
    out_console.print(table)
    for row in t["rows"]:
        why = row["reason"] or f"{row['condition']} n={row['n']} ({row['run_id']}); theta_r: {row['theta_r']}"
        out_console.print(f"T-metric, {row['pair']} seed {row['seed']}: {why}", highlight=False)


def _plain(x: float | None) -> str:
    return "–" if x is None else f"{x:.3f}"
