"""Are two results folders of one manifest bit-identical? Every run's top-1, top-5, curve and health, compared.

    python benchmarks/same_results.py RESULTS_A RESULTS_B

Used to check that a refactoring changed no number: run the same manifest before and after into two folders.
Costs (wall time, memory, device) are not compared. A run not trained in one folder (blocked by an unhealthy source)
must be untrained in the other too. Exit status 0 when every run of both plans is equal.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from benchbridge.results import load_results

COMPARED = ("top1", "top5", "top1_best_k", "iterations", "images_seen", "health", "stop_reason", "trainable_params")
CURVE = ("iteration", "epoch", "train_loss", "lr", "top1", "top5", "val_loss", "holdout_top1", "holdout_loss")


def outcomes(folder: Path) -> dict[str, dict[str, Any] | None]:
    """Run id -> what its record says about the network (not its cost); None for a run not trained (blocked by an
    unhealthy source, or not run yet), which equals only another None."""
    found: dict[str, dict[str, Any] | None] = {}
    for res in load_results(folder):
        if res.record is None:
            found[res.run.id] = None
            continue
        rec = res.record
        found[res.run.id] = {**{k: getattr(rec, k) for k in COMPARED},
                             "curve": [{k: getattr(p, k) for k in CURVE} for p in rec.curve]}
    return found


def main(a: Path, b: Path) -> int:
    left, right = outcomes(a), outcomes(b)
    if set(left) != set(right):
        only_a, only_b = len(set(left) - set(right)), len(set(right) - set(left))
        print(f"different run ids: {only_a} only in {a}, {only_b} only in {b}")
        return 1
    differ = [rid for rid in sorted(left) if left[rid] != right[rid]]
    for rid in differ:
        a_, b_ = left[rid], right[rid]
        if a_ is None or b_ is None:
            print(f"{rid}: finished in {a if a_ else b} only")
            continue
        keys = [k for k in a_ if a_[k] != b_[k]]
        print(f"{rid}: {', '.join(keys)} differ (top-1 {a_['top1']} vs {b_['top1']})")
    untrained = sum(left[rid] is None and right[rid] is None for rid in left)
    print(f"{len(left)} runs with the same ids; {len(left) - len(differ)} identical, {len(differ)} different "
          f"(compared: {', '.join(COMPARED)}, and every curve point's {', '.join(CURVE)}; "
          f"{untrained} of the identical not trained in either folder)")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
