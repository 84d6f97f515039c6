"""The paper's six findings, each judged on a grid by an explicit numeric rule printed with its numbers."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from statistics import mean
from typing import Any

from benchbridge.report.convergence import PITFALL, unconverged
from benchbridge.report.grid import RANDOM, Grid

HOLDS, FAILS, INCONCLUSIVE, NOT_MEASURED = "holds", "does not hold", "inconclusive", "not measured"
TOLERANCE = 0.02
"""With a single split/seed (no CI), differences within this fraction of baseB count as 'at baseB'."""

CLAIMS = {
    1: "AnB stays near baseB for the lowest layers and falls as n grows (higher layers are task-specific)",
    2: "BnB dips for middle n and recovers at the top (fragile co-adaptation)",
    3: "BnB+ stays at baseB (fine-tuning repairs co-adaptation)",
    4: "AnB+ is above baseB at every n (transfer + fine-tuning improves generalisation)",
    5: "transfer between dissimilar halves falls off faster with n than between random halves",
    6: "random frozen layers are much worse than transferred ones beyond the lowest layers",
}
AFFECTED_BY_PITFALL = {2, 3, 4}
NEEDS = {1: ("baseB", "AnB"), 2: ("baseB", "BnB"), 3: ("baseB", "BnB+"), 4: ("baseB", "AnB+", "BnB+"),
         5: ("baseB", "AnB"), 6: ("AnB", "random_frozen")}
"""The conditions each finding's numbers come from (finding 5 on every split family, the others on the
non-dissimilar ones)."""


@dataclass(frozen=True)
class Finding:
    """One of the paper's findings judged on a grid: the verdict, the rule it follows, its numbers and any caveat."""

    number: int
    claim: str
    verdict: str
    rule: str
    evidence: list[str] = field(default_factory=list)
    caveat: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Margin:
    """How far from baseB still counts as 'at baseB', and why."""

    value: float
    how: str


def margin(grid: Grid, family: str, tolerance: float = TOLERANCE) -> Margin | None:
    b = grid.base_stat(family)
    if b is None:
        return None
    if b.half_width is not None:
        return Margin(b.half_width, f"baseB's 95% CI (±{b.half_width:.3f}, {b.count} splits/seeds)")
    return Margin(tolerance * b.mean, f"a stated tolerance of ±{tolerance:.0%} of baseB (±{tolerance * b.mean:.3f}; "
                                      "single split/seed, so no CI)")


def depth_ranges(n_cuts: int) -> dict[str, list[int]]:
    """The paper's n = 1-2 (low), 3-5 (middle) and 6-7 (high), scaled to `n_cuts` cut points."""
    def r(k: float) -> int:
        return max(1, min(n_cuts, round(k * n_cuts / 7)))
    return {"low": list(range(1, r(2) + 1)), "middle": list(range(r(3), r(5) + 1)),
            "high": list(range(r(6), n_cuts + 1))}


def side(diff: float, m: float) -> str:
    return "above" if diff > m else "below" if diff < -m else "within"


def _family(grid: Grid, *conditions: str) -> str | None:
    """The random family when it has the conditions, else the first non-dissimilar family that does."""
    fams = [RANDOM] + [f for f in grid.families if f != RANDOM and not grid.is_dissimilar(f)]
    for fam in fams:
        if fam in grid.families and grid.base_stat(fam) and all(grid.ns(fam, c) for c in conditions):
            return fam
    return None


def _combine(parts: list[str]) -> str:
    return FAILS if FAILS in parts else INCONCLUSIVE if INCONCLUSIVE in parts else HOLDS


def _vs(label: str, x: float, ref: float, ref_label: str, m: float) -> str:
    d = x - ref
    return f"{label} {x:.3f} vs {ref_label} {ref:.3f}: {d:+.3f} ({side(d, m)} ±{m:.3f})"


def _means(grid: Grid, fam: str, condition: str, ns: list[int]) -> dict[int, float]:
    out = {}
    for n in ns:
        s = grid.stat(fam, condition, n)
        if s is not None:
            out[n] = s.mean
    return out


def _not_measured(num: int, why: str) -> Finding:
    return Finding(num, CLAIMS[num], NOT_MEASURED, why)


def finding1(grid: Grid, tol: float) -> Finding:
    fam = _family(grid, "AnB")
    if fam is None:
        return _not_measured(1, "needs baseB and AnB on one split family")
    m, b, r = margin(grid, fam, tol), grid.base_stat(fam).mean, depth_ranges(grid.n_cuts)
    low = _means(grid, fam, "AnB", r["low"])
    deep = max(grid.ns(fam, "AnB"))
    if not low or deep <= max(r["low"]):
        return _not_measured(1, f"needs AnB at n in {r['low']} and at a deeper n")
    rule = (f"AnB at n={','.join(map(str, low))} within {m.how}, and AnB at the deepest n={deep} "
            f"below baseB by more than that")
    ev = [_vs(f"AnB n={n}", v, b, "baseB", m.value) for n, v in low.items()]
    d = grid.stat(fam, "AnB", deep).mean
    ev.append(_vs(f"AnB n={deep}", d, b, "baseB", m.value))
    parts = [FAILS if side(v - b, m.value) == "below" else HOLDS for v in low.values()]
    parts.append({"below": HOLDS, "within": INCONCLUSIVE, "above": FAILS}[side(d - b, m.value)])
    return Finding(1, CLAIMS[1], _combine(parts), rule, ev)


def finding2(grid: Grid, tol: float) -> Finding:
    fam = _family(grid, "BnB")
    r = depth_ranges(grid.n_cuts)
    if fam is None:
        return _not_measured(2, "needs baseB and BnB on one split family")
    mid, high = _means(grid, fam, "BnB", r["middle"]), _means(grid, fam, "BnB", r["high"])
    if not mid or not high:
        return _not_measured(2, f"needs BnB at middle n {r['middle']} and high n {r['high']}")
    m, b = margin(grid, fam, tol), grid.base_stat(fam).mean
    n_dip = min(mid, key=mid.get)
    top = mean(high.values())
    rule = (f"the lowest BnB at n={r['middle'][0]}-{r['middle'][-1]} below baseB by more than {m.how}, and BnB "
            f"at n={','.join(map(str, high))} (mean) not below baseB by more than that")
    ev = [_vs(f"lowest BnB (n={n_dip})", mid[n_dip], b, "baseB", m.value),
          _vs(f"BnB mean n={','.join(map(str, high))}", top, b, "baseB", m.value)]
    dip = {"below": HOLDS, "within": INCONCLUSIVE, "above": FAILS}[side(mid[n_dip] - b, m.value)]
    recovered = HOLDS if side(top - b, m.value) != "below" else FAILS
    return Finding(2, CLAIMS[2], _combine([dip, recovered]), rule, ev)


def finding3(grid: Grid, tol: float) -> Finding:
    fam = _family(grid, "BnB+")
    if fam is None:
        return _not_measured(3, "needs baseB and BnB+ on one split family")
    m, b = margin(grid, fam, tol), grid.base_stat(fam).mean
    vals = _means(grid, fam, "BnB+", grid.ns(fam, "BnB+"))
    rule = f"BnB+ within {m.how} at every n"
    ev = [_vs(f"BnB+ n={n}", v, b, "baseB", m.value) for n, v in vals.items()]
    parts = [HOLDS if side(v - b, m.value) == "within" else FAILS for v in vals.values()]
    return Finding(3, CLAIMS[3], _combine(parts), rule, ev)


def finding4(grid: Grid, tol: float) -> Finding:
    fam = _family(grid, "AnB+")
    if fam is None:
        return _not_measured(4, "needs baseB and AnB+ on one split family")
    m, b = margin(grid, fam, tol), grid.base_stat(fam).mean
    vals = _means(grid, fam, "AnB+", grid.ns(fam, "AnB+"))
    ev = [_vs(f"AnB+ n={n}", v, b, "baseB", m.value) for n, v in vals.items()]
    parts = [{"above": HOLDS, "within": INCONCLUSIVE, "below": FAILS}[side(v - b, m.value)] for v in vals.values()]
    rule = f"AnB+ above baseB by more than {m.how} at every n"
    bnbp = _means(grid, fam, "BnB+", list(vals))
    if bnbp:
        rule += "; and AnB+ above BnB+ (equal total training) on average over n by more than the same margin"
        gap = mean(vals[n] - bnbp[n] for n in bnbp)
        ev.append(f"AnB+ − BnB+ mean over n={','.join(map(str, bnbp))}: {gap:+.3f} ({side(gap, m.value)} "
                  f"±{m.value:.3f})")
        if _combine(parts) == HOLDS and side(gap, m.value) != "above":
            parts.append(INCONCLUSIVE)  # the gain over baseB is matched by BnB+: extra training, not transfer
    return Finding(4, CLAIMS[4], _combine(parts), rule, ev)


def finding5(grid: Grid, tol: float) -> Finding:
    rand = _family(grid, "AnB")
    dissimilar = [f for f in grid.families if grid.is_dissimilar(f) and grid.ns(f, "AnB") and grid.base_stat(f)]
    if rand is None or not dissimilar:
        return _not_measured(5, "needs AnB and baseB on a random split and on a dissimilar split")
    common = sorted(set(grid.ns(rand, "AnB")).intersection(*[grid.ns(f, "AnB") for f in dissimilar]))
    high = [n for n in common if n in depth_ranges(grid.n_cuts)["high"]] or common[-1:]
    if not high or high[-1] <= 1:
        return _not_measured(5, "needs AnB at a common deep n on both split families")
    m = margin(grid, rand, tol)
    m_rel = m.value / grid.base_stat(rand).mean

    def rel(fam: str) -> float | None:
        stats = [grid.stat(fam, "AnB", n, relative=True) for n in high]
        return mean(s.mean for s in stats) if all(stats) else None  # type: ignore[union-attr]

    rels = [rel(f) for f in [rand, *dissimilar]]
    if any(r is None for r in rels):
        return _not_measured(5, "needs AnB and baseB of the same split and seed on both split families")
    r_rand, r_dis = rels[0], mean(rels[1:])
    d = r_rand - r_dis
    rule = (f"AnB relative to its own baseB at n={','.join(map(str, high))}: the dissimilar split below the "
            f"random split by more than {m.how} (as a fraction of baseB: ±{m_rel:.3f})")
    ev = [f"random: AnB/baseB {r_rand:.3f}", f"dissimilar ({', '.join(dissimilar)}): AnB/baseB {r_dis:.3f}",
          f"random − dissimilar: {d:+.3f} ({side(d, m_rel)} ±{m_rel:.3f})"]
    verdict = {"above": HOLDS, "within": INCONCLUSIVE, "below": FAILS}[side(d, m_rel)]
    return Finding(5, CLAIMS[5], verdict, rule, ev)


def finding6(grid: Grid, tol: float) -> Finding:
    fam = _family(grid, "random_frozen", "AnB")
    if fam is None:
        return _not_measured(6, "needs random_frozen and AnB on one split family")
    low_end = max(depth_ranges(grid.n_cuts)["low"])
    ns = [n for n in grid.ns(fam, "random_frozen") if n > low_end and n in grid.ns(fam, "AnB")]
    if not ns:
        return _not_measured(6, f"needs random_frozen and AnB at a common n > {low_end}")
    m = margin(grid, fam, tol)
    rf, anb = _means(grid, fam, "random_frozen", ns), _means(grid, fam, "AnB", ns)
    rule = f"random_frozen below AnB by more than {m.how} at every n > {low_end}"
    ev = [_vs(f"random_frozen n={n}", rf[n], anb[n], "AnB", m.value) for n in ns]
    parts = [{"below": HOLDS, "within": INCONCLUSIVE, "above": FAILS}[side(rf[n] - anb[n], m.value)] for n in ns]
    return Finding(6, CLAIMS[6], _combine(parts), rule, ev)


def unhealthy_inputs(grid: Grid, number: int) -> Finding | None:
    """'not measured' when a number the finding reads comes from (or was blocked by) an unhealthy network."""
    fams = grid.families if number == 5 else [f for f in grid.families if not grid.is_dissimilar(f)]
    problems = grid.problems(fams, NEEDS[number])
    if not problems:
        return None
    ids = sorted({p.split(": ", 1)[0] for p in problems})
    return Finding(number, CLAIMS[number], NOT_MEASURED, f"depends on unhealthy runs ({len(problems)}: "
                   f"{', '.join(ids[:4])}{', ...' if len(ids) > 4 else ''}); see Run health", problems)


def evaluate(grid: Grid, tolerance: float = TOLERANCE) -> list[Finding]:
    """All six verdicts; findings the small-budget pitfall affects carry a caveat when bases did not converge."""
    found = [unhealthy_inputs(grid, i) or f(grid, tolerance)
             for i, f in enumerate((finding1, finding2, finding3, finding4, finding5, finding6), start=1)]
    if unconverged(grid):
        found = [replace(f, caveat=PITFALL) if f.number in AFFECTED_BY_PITFALL and f.verdict != NOT_MEASURED else f
                 for f in found]
    return found
