"""The report as neutral blocks (headings, paragraphs, tables, figures) that the HTML and Markdown writers render."""

from __future__ import annotations

from dataclasses import dataclass

from benchbridge.report import analysis, strategy_comparison
from benchbridge.report.build import GridReport, Report
from benchbridge.report.convergence import PITFALL, RISE
from benchbridge.report.figures import Figure
from benchbridge.report.many_targets import COLUMNS, PairRow
from benchbridge.report.reference import LABEL
from benchbridge.report.stats import Stat, t975
from benchbridge.report.tables import Boost


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Para:
    text: str
    warning: bool = False


@dataclass(frozen=True)
class Table:
    header: list[str]
    rows: list[list[str]]
    caption: str = ""


Block = Heading | Para | Table | Figure


def _stat(stat: Stat | None, digits: int = 3, signed: bool = False) -> str:
    if stat is None:
        return ""
    fmt = f"{{:+.{digits}f}}" if signed else f"{{:.{digits}f}}"
    text = fmt.format(stat.mean)
    return text if stat.half_width is None else f"{text} ± {stat.half_width:.{digits}f}"


def _boost(boost: Boost | None) -> str:
    return _stat(boost.stat, signed=True) if boost is not None else ""


def verdict_table(g: GridReport) -> Table:
    rows = [[str(f.number), f.claim, f.verdict.upper() if f.verdict in ("holds", "does not hold") else f.verdict,
             f.rule, "; ".join(f.evidence) + (" ⚠ small-budget pitfall applies" if f.caveat else "")]
            for f in g.findings]
    return Table(["#", "finding", "verdict", "rule", "numbers"], rows)


def grid_table(g: GridReport, relative: bool = False) -> list[Table]:
    out = []
    for family in g.grid.families:
        rows = [c for c in g.table if c.family == family]
        ns = sorted({c.n for c in rows})
        conds = list(dict.fromkeys(c.condition for c in rows))
        cells = {(c.condition, c.n): _stat(c.stat(relative)) + (f" {UNHEALTHY_MARK}" if c.unhealthy else "")
                 for c in rows}
        body = [[c] + [cells.get((c, n), "") for n in ns] for c in conds]
        count = max((c.top1.count for c in rows if c.top1), default=0)
        ci = "mean ± 95% CI half-width" if count > 1 else "single split/seed: no confidence interval"
        what = ("top-1 relative to the target's base network (baseB); baseA, on the source's own task, has none"
                if relative else "top-1 on the validation images of each network's own task")
        mark = (f"; {UNHEALTHY_MARK}: built on an unhealthy network (see Run health), not a result"
                if any(c.unhealthy for c in rows) else "")
        out.append(Table(["condition"] + [f"n={n}" for n in ns], body, f"{family}: {what} ({ci}){mark}"))
    return out


def table1(g: GridReport, reference: bool) -> Table:
    rows = [[r.layers, _boost(r.over_baseB), _boost(r.over_BnBplus)] for r in g.table1]
    header = ["layers", "AnB+ − baseB", "AnB+ − BnB+"]
    if reference and g.grid.n_cuts == 7:
        published = {"1-7": ("+0.016", "+0.014"), "3-7": ("+0.018", "+0.014"), "5-7": ("+0.021", "+0.017")}
        header += [f"{LABEL}: − baseB", "− BnB+"]
        rows = [r + list(published.get(r[0], ("", ""))) for r in rows]
    return Table(header, rows, "Table 1 style: boost of AnB+ (top-1 difference), mean over n in each range "
                               "(per split/seed, then over splits/seeds)")


def gap_table(reports: list[GridReport]) -> Table:
    rows = [[r.grid, r.family, str(r.n), f"{r.depth:.2f}", _stat(r.gap, signed=True)] for g in reports for r in g.gap]
    return Table(["grid", "split family", "n", "n / cut points", "AnB / baseB − 1"], rows,
                 "Transfer gap: AnB relative to baseB, minus 1 (negative: accuracy lost by frozen transfer)")


def cost_table(g: GridReport) -> Table:
    c = g.cost
    rows = [[cond, str(v.runs), f"{v.wall_time_s:.0f}", f"{v.device_hours:.4f}"] for cond, v in c.by_condition.items()]
    rows.append(["grid", str(c.done), f"{c.wall_time_s:.0f}", f"{c.device_hours:.4f}"])
    return Table(["condition", "runs done", "wall time (s)", "device-hours"], rows,
                 f"Cost on {', '.join(c.devices) or 'no device yet'}: {c.done} of {c.runs} runs done")


UNHEALTHY_MARK = "⚠"


def health_blocks(g: GridReport) -> list[Block]:
    """Each run's health: a warning and a table of the runs that diverged, did not learn or were blocked."""
    total = len(g.grid.results)
    if not g.health:
        return [Para(f"All {total} runs are healthy (no non-finite loss; top-1 significantly above chance).")]
    counts = {h: sum(r.health == h for r in g.health) for h in dict.fromkeys(r.health for r in g.health)}
    summary = ", ".join(f"{v} {k}" for k, v in counts.items())
    rows = [[r.health.upper(), r.condition, str(r.n), r.pair, str(r.seed), r.id, r.reason] for r in g.health]
    return [Para(f"{len(g.health)} of {total} runs are not healthy ({summary}): their numbers, and those of networks "
                 f"built on them ({UNHEALTHY_MARK}), are not results; findings that read them are not measured.",
                 warning=True),
            Table(["health", "condition", "n", "pair", "seed", "id", "reason"], rows,
                  "diverged: non-finite training loss; no_learning: top-1 not significantly above chance (binomial, "
                  "1%), training loss at ln C (unless top-1 is far above chance, p < 1e-3) or more than 15% above "
                  "it, or the same predictions as its starting point on 99% of the validation images (README, "
                  "Reliability); blocked: not trained because the run it copies from is unhealthy")]


def convergence_blocks(g: GridReport) -> list[Block]:
    rising = [c for c in g.convergence if c.still_rising]
    rows = [[" / ".join(c.labels), "" if c.rise.gained is None else f"{c.rise.gained:+.3f}", c.on,
             {True: "STILL RISING", False: "converged", None: "unknown"}[c.still_rising]] for c in g.convergence]
    blocks: list[Block] = [Table(["base network", "top-1 gained over the last quarter", "curve", "status"], rows,
                                 f"still rising if the gain is more than +{RISE:.2f}; curve: holdout (held-out "
                                 "training images) when recorded, else the validation images")]
    if rising:
        blocks.insert(0, Para(f"{len(rising)} of {len(g.convergence)} base networks were still rising over the last "
                              f"quarter of training. {PITFALL}", warning=True))
    return blocks


def analysis_blocks(g: GridReport) -> list[Block]:
    """`benchbridge analyze` output: the figure, each measurement's verdict against its baseline, and costs."""
    if g.analysis is None:
        return []
    header, rows = analysis.correlation_rows(g.analysis)
    return [Heading("Per-layer analytics", 3), Para(analysis.INTRO), analysis.figure(g.grid.path),
            Table(header, rows, analysis.CAPTION), Para(analysis.cost_text(g.analysis))]


def _num(v: float | None, signed: bool = False) -> str:
    return "" if v is None else (f"{v:+.3f}" if signed else f"{v:.3f}")


def _flag(row: PairRow, condition: str) -> str:
    return f" {UNHEALTHY_MARK}" if condition in row.unhealthy else ""


def pair_tables(g: GridReport) -> list[Table]:
    """Per (source, target): each transfer condition's top-1 against n, then frozen and fine-tuned relative to the
    target's own base network (n = 0)."""
    assert g.pairs is not None
    out = []
    for p in g.pairs.pairs:
        rows = [r for r in g.pairs.rows if r.pair == p.label]
        conds = [(c, name) for c, name in COLUMNS if any(r.top1[c] is not None for r in rows)]
        rel = [(c, name) for c, name in conds if c in ("AnB", "AnB+")]
        base = rows[0].base if rows else None
        body = [["0 (target's base)"] + [_num(base)] * len(conds) + ["1.000"] * len(rel)]
        body += [[str(r.n)] + [_num(r.top1[c]) + _flag(r, c) for c, _ in conds]
                 + [_num(r.relative[c]) + _flag(r, c) for c, _ in rel] for r in rows]
        header = ["n"] + [name for _, name in conds] + [f"{name} / base" for _, name in rel]
        mark = f"; {UNHEALTHY_MARK}: unhealthy (see Run health), not a result" if any(r.unhealthy for r in rows) \
            else ""
        out.append(Table(header, body, f"source {p.source} → target {p.target}: top-1 on the target's "
                                       f"validation images; n = 0 is the target's own base network ({_num(base)})"
                                       + mark))
    return out


def gains_tables(g: GridReport) -> list[Table]:
    """Which target gains most at which depth: gain over its own base network, per pair and n (★: the most)."""
    assert g.pairs is not None
    labels = [p.label for p in g.pairs.pairs]
    out = []
    for kind, rows in g.pairs.gains.items():
        if not rows:
            continue
        body = [[str(r.n)] + [_num(r.gains.get(k), signed=True) + (" ★" if k == r.best else "")
                              for k in labels] + [r.best or ""] for r in rows]
        out.append(Table(["n"] + labels + ["gains most"], body, f"{kind} transfer: top-1 relative to the target's "
                         "own base network, minus 1 (★ the pair that gains most at this n)"))
    return out


def t_blocks(g: GridReport) -> list[Block]:
    """Chen et al.'s T per block and the mean per (source, target) and seed, as `benchbridge analyze` wrote it."""
    assert g.pairs is not None
    t = g.pairs.t_metric
    if t is None:
        return [Para("Chen et al.'s T per block: not computed for this grid yet. `benchbridge analyze "
                     f"{g.grid.path}` computes it from the networks' weights; the report then shows it here and "
                     "in the many-target figure.")]
    n = max((r.n or 0 for r in t.rows), default=0)
    blocks = [str(i) for i in range(1, n + 1)]
    body = [[r.source, r.target, str(r.seed), f"{r.condition} n={r.n}" if r.n else "–", r.init_origin or "–",
             *[_num((r.t_per_block or {}).get(b)) for b in blocks], _num(r.t_mean),
             "; ".join(x for x in (r.reason, r.health if r.health not in (None, "ok") else None) if x)]
            for r in t.rows]
    return [Table(["source", "target", "seed", "network", "θ_r", *[f"block {b}" for b in blocks], "mean", "note"],
                  body, "T = D(θ_r, fine-tuned) / D(source, fine-tuned) per copied block of the fine-tuned network "
                  f"at its deepest n (AnB+; n = {n}: every block copied, where the grid has it); D over "
                  f"{t.weights_compared}. θ_r is the source's own initialisation: trained (the "
                  "init.pt benchbridge trained the source from), file (a checkpoint's given init file) or "
                  "fresh_draw (a draw from the model's initialiser: the checkpoint's true one is unknown). As of "
                  "the last `benchbridge analyze`: rerun it when more runs have finished")]


def pair_blocks(g: GridReport) -> list[Block]:
    """The sources-and-targets section: the many-target figure's numbers, per target and per depth."""
    return [Heading("Sources and targets", 3),
            Para("Every source is transferred to every target; frozen = the source's first n blocks kept fixed "
                 "(AnB), fine-tuned = trained on (AnB+), selffer = the target's own base network's blocks (BnB, "
                 "BnB+). Relative values divide by the target's own base network."),
            *pair_tables(g), Heading("Which target gains most at which depth", 3), *gains_tables(g),
            Heading("Chen et al.'s transferability T per block", 3), *t_blocks(g)]


def grid_blocks(g: GridReport, report: Report) -> list[Block]:
    grid = g.grid
    blocks: list[Block] = [Heading(f"{grid.name}", 2),
                           Para(f"{grid.describe()}; {grid.n_cuts} cut points; results in {grid.path}; "
                                f"families (splits, or source->target pairs): {', '.join(grid.families)}.")]
    blocks += [Heading("Verdicts on the paper's findings", 3), verdict_table(g)]
    blocks += [b for b in health_blocks(g) if isinstance(b, Para) and b.warning]
    blocks += [b for b in convergence_blocks(g) if isinstance(b, Para)]
    counts = {c.top1.count for c in g.table if c.condition == "baseB" and c.top1}
    if counts and 1 < min(counts) < 4:
        k = min(counts)
        blocks.append(Para(f"Only {k} splits/seeds: 95% t-intervals are wide (t = {t975(k - 1):.2f}), "
                           "so most differences are within them and verdicts come out inconclusive; add seeds.",
                           warning=True))
    if report.tolerance and any("tolerance" in f.rule for f in g.findings):
        blocks.append(Para(f"Single split/seed: verdicts use a stated tolerance of ±{report.tolerance:.0%} of baseB "
                           "instead of a confidence interval (`--tolerance` changes it)."))
    blocks += [Heading("Figures", 3), *g.figures]
    blocks += [Heading("Top-1 per condition and n", 3), *grid_table(g), *grid_table(g, relative=True)]
    if any(r.over_baseB or r.over_BnBplus for r in g.table1):  # Table 1 needs AnB+ on random splits
        blocks += [Heading("Table 1: boost of AnB+", 3), table1(g, report.reference is not None)]
    blocks += [Heading("Transfer gap", 3), gap_table([g])]
    if g.pairs is not None:
        blocks += pair_blocks(g)
    if g.strategies is not None:
        blocks += [Heading("Strategies relative to fine-tuning", 3),
                   *[Table(*t) for t in strategy_comparison.tables(g.strategies)]]
    blocks += [Heading("Convergence of the base networks", 3), *[b for b in convergence_blocks(g)
                                                                 if isinstance(b, Table)]]
    blocks += analysis_blocks(g)
    blocks += [Heading("Run health", 3), *health_blocks(g)]
    blocks += [Heading("Cost", 3), cost_table(g)]
    if g.cost.missing:
        rows = [[m.condition, str(m.n), m.pair, str(m.seed), m.id] for m in g.cost.missing]
        blocks += [Heading("Missing runs", 3), Para("This grid is partial: figures and verdicts use what is there. "
                                                    "Runs blocked by an unhealthy source are under Run health."),
                   Table(["condition", "n", "pair", "seed", "id"], rows)]
    if g.cost.broken:
        rows = [[m.condition, str(m.n), m.pair, str(m.seed), m.id, m.reason] for m in g.cost.broken]
        blocks += [Heading("Runs with an unreadable record", 3),
                   Para("Left out of every figure and table here; `benchbridge run` trains a damaged one again.",
                        warning=True),
                   Table(["condition", "n", "pair", "seed", "id", "why"], rows)]
    return blocks


def compare_blocks(report: Report) -> list[Block]:
    rows = [[g.grid.name, g.grid.describe(), str(g.grid.n_cuts)] + [f.verdict for f in g.findings]
            for g in report.grids]
    return [Heading("Comparison", 2),
            Table(["grid", "model and data", "cut points"] + [f"finding {i}" for i in range(1, 7)], rows,
                  "Verdicts side by side (details in each grid's section)"),
            *report.figures, gap_table(report.grids)]


def blocks(report: Report) -> list[Block]:
    """The whole report, top to bottom."""
    out: list[Block] = [Heading(report.title, 1)]
    if report.reference is not None:
        source = " ".join(report.reference.source[:1])
        out.append(Para(f"Dotted lines and the extra Table 1 columns are {LABEL}: {source}"))
    if report.compare:
        out += compare_blocks(report)
    for g in report.grids:
        out += grid_blocks(g, report)
    return out
