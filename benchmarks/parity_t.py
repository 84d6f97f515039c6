"""Parity of Chen et al.'s T (issue 25, item 5): `python benchmarks/parity.py DATA --t [...]`.

Source: half A of the random 5/5 split (seed 0), trained from scratch on --images-per-class images per class with
parity_loop.RECIPE. Target: half B at --target-images-per-class (default 100, as the issue), every block copied from
the source and fine-tuned, a new head (AnB+ at the deepest cut point: Chen et al.'s setup), the same recipe
(--target-epochs epochs, default --epochs). Both sides, per seed:

- benchbridge: one `benchbridge run` of a sources/targets manifest (one source, one target, AnB+ at n = the number
  of blocks, every seed); T from the run folders by `analyze.weights.finetuned_weights`, the path
  `benchbridge analyze`'s t_metric analysis reads (theta_r: the source's init.pt; theta_p: its weights.pt).
- the loop: source and target trained by parity_loop.fit; theta_r, theta_p and the fine-tuned weights kept in
  memory.

Per block, both sides use benchbridge's own functions on the same tensors (the conv/linear weights that
`analyze.weights.weight_keys` names): T = `analyze.metrics.t_metric` = D(theta_r, theta_f) / D(theta_p, theta_f),
and the two travels it relates, D(theta_r, theta_p) (pre-training) and D(theta_p, theta_f) (fine-tuning), D being
`analyze.metrics.mean_abs_distance`. Only the training differs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

import parity as base  # benchmarks/ is on sys.path when run as a script
from benchbridge.analyze.metrics import mean_abs_distance, t_metric
from benchbridge.analyze.weights import finetuned_weights, weight_keys
from benchbridge.execute.construct import initial_network
from benchbridge.execute.job import Job, finetuned_runs
from benchbridge.execute.train import RunSetup
from benchbridge.manifest import load_manifest
from benchbridge.plan import make_plan
from benchbridge.results import load_results
from parity_loop import build, fit, loop_recipe, read_half, snapshot, top1

TARGET_SEED = 1000  # the loop's target network is drawn (its head) and trained with seed + this
Blocks = list[list[np.ndarray]]


def block_lists(state: dict[str, torch.Tensor], keys: list[list[str]]) -> Blocks:
    """Per block, the weights `keys` names, from a state dict in memory (as `analyze.weights.state_weights` reads a
    weights file)."""
    return [[state[k].detach().float().numpy() for k in block] for block in keys]


def measures(random: Blocks, pretrained: Blocks, finetuned: Blocks) -> dict[str, list[float]]:
    """Per block: T, the source's travel from its initialisation, and fine-tuning's travel from the source."""
    return {"t": [t_metric(r, p, f) for r, p, f in zip(random, pretrained, finetuned)],
            "source_travel": [mean_abs_distance(r, p) for r, p in zip(random, pretrained)],
            "finetune_travel": [mean_abs_distance(p, f) for p, f in zip(pretrained, finetuned)]}


def n_blocks(overrides: list[str]) -> int:
    opts, _ = loop_recipe(overrides)
    return len(build(opts, 2, 0).blocks)  # type: ignore[arg-type]


def manifest_t(data: Path, out: Path, halves: dict[str, list[int]], args: argparse.Namespace) -> dict[str, Any]:
    """The benchbridge side: one source (half A), one target (half B, few images), AnB+ at the deepest cut point."""
    doc = base.manifest(data, out, args.seeds[0], args.images_per_class, args.epochs)
    del doc["splits"]
    target: dict[str, Any] = {"name": "half-b", "classes": halves["B"],
                              "images_per_class": args.target_images_per_class}
    if args.target_epochs is not None:
        target["training"] = {"epochs": args.target_epochs}
    source: dict[str, Any] = {"name": "half-a", "classes": halves["A"], "images_per_class": args.images_per_class}
    if args.source_dir is not None:  # a source trained before: both sides fine-tune the same weights
        source = {"name": "half-a", "checkpoint": str(args.source_dir.resolve() / "weights.pt"),
                  "init": str(args.source_dir.resolve() / "init.pt")}
    doc.update(name="parity-t", seeds=list(args.seeds), conditions=["AnB+"], layers=[n_blocks(args.overrides)],
               sources=[source], targets=[target])
    doc["execution"]["save_weights"] = "sources"  # the source's init.pt and weights.pt, AnB+'s weights.pt
    doc["data"].pop("images_per_class")
    for item in args.overrides:
        base.set_key(doc, *item.split("=", 1))
    return doc


def run_benchbridge_t(path: Path) -> list[dict[str, Any]]:
    """`benchbridge run` of the manifest, then per seed the target's top-1 and T as benchbridge's analysis reads it."""
    start = time.perf_counter()
    base.benchbridge("run", str(path))
    wall = time.perf_counter() - start
    out = Path(yaml.safe_load(path.read_text())["output_dir"])
    job = Job.load(out)
    by_id = {res.run.id: res for res in load_results(out)}
    rows = []
    for (_, seed), run in sorted(finetuned_runs(job.plan).items(), key=lambda kv: kv[0][1]):
        setup = RunSetup(job.manifest, job.dataset(run.task), out, torch.device("cpu"), run.task)
        w = finetuned_weights(run, by_id, setup, out)
        if w is None:
            health = {rid: by_id[rid].health if rid in by_id else "not run" for rid in (run.source or "", run.id)}
            sys.exit(f"benchbridge seed {seed}: the AnB+ run or its source is not finished ({health}; a blocked run "
                     "copies from an unhealthy source: execution.on_unhealthy=train trains it anyway)")
        target, found = by_id[run.id].record, by_id.get(run.source or "")
        source = found.record if found is not None else None  # None: a checkpoint source
        assert target is not None  # finetuned_weights checked it
        rows.append({"side": "benchbridge", "seed": seed, "top1": target.top1,
                     "source_top1": source.top1 if source is not None else None,
                     "health": [source.health if source is not None else None, target.health],
                     "theta_r": w.random_origin, "n": w.n,
                     "wall_s": wall, **measures(w.random, w.pretrained, w.finetuned)})
    return rows


def source_draws(path: Path) -> dict[int, dict[str, torch.Tensor]]:
    """Per seed, the initialisation benchbridge draws for the manifest's source (its init.pt), from the plan alone."""
    m = load_manifest(path)
    return {r.seed: initial_network(r, m).state_dict() for r in make_plan(m) if r.strategy == "scratch"}


State = dict[str, torch.Tensor]
LoopJob = tuple[Path, dict[str, list[int]], int, argparse.Namespace, "State | None"]


def train_source(data: Path, classes: list[int], seed: int, args: argparse.Namespace,
                 draw: State | None) -> tuple[State, State, float]:
    """The loop's source from scratch (from `draw` when given): its initialisation, trained weights and top-1."""
    opts, t = loop_recipe(args.overrides)
    x, y = read_half(data, "train", classes, args.images_per_class)
    source = build(opts, len(classes), seed)
    if draw is not None:  # benchbridge's draw of the same seed: only the training differs
        source.load_state_dict(draw)
    init = snapshot(source)
    fit(source, x, y, t, args.epochs, seed)
    return init, snapshot(source), top1(source, *read_half(data, "val", classes, None))


def loop_transfer(job: LoopJob) -> dict[str, Any]:
    """The plain loop: the source from scratch (from `draw` when given) or from --source-dir's files, then every
    block copied into a fresh network and fine-tuned."""
    data, halves, seed, args, draw = job
    torch.set_num_threads(1)
    start = time.perf_counter()
    opts, t = loop_recipe(args.overrides)
    if args.source_dir is not None:  # the source benchbridge fine-tunes too
        init, pretrained = (torch.load(args.source_dir / f, weights_only=True) for f in ("init.pt", "weights.pt"))
        source_top1 = None
    else:
        init, pretrained, source_top1 = train_source(data, halves["A"], seed, args, draw)
    x, y = read_half(data, "train", halves["B"], args.target_images_per_class)
    target = build(opts, len(halves["B"]), seed + TARGET_SEED)  # its own head
    missing, _ = target.load_state_dict({k: v for k, v in pretrained.items() if k.startswith("blocks.")},
                                        strict=False)
    assert all(not k.startswith("blocks.") for k in missing), missing  # every block copied
    fit(target, x, y, t, args.target_epochs or args.epochs, seed + TARGET_SEED)
    keys = weight_keys(target)  # type: ignore[arg-type]
    return {"side": "loop", "seed": seed, "top1": top1(target, *read_half(data, "val", halves["B"], None)),
            "source_top1": source_top1, "draw": "benchbridge" if draw is not None else "loop",
            "wall_s": time.perf_counter() - start, "n": len(keys),
            **measures(block_lists(init, keys), block_lists(pretrained, keys), block_lists(snapshot(target), keys))}


def compare(name: str, loop: list[float], bb: list[float]) -> dict[str, Any]:
    """Print and return means, standard errors, the difference and whether it lies within 2 SE."""
    lm, lse, bm, bse, se, agree = base.compared(loop, bb)
    print(f"{name:>26}: loop {lm:.5f} ± {lse:.5f}; benchbridge {bm:.5f} ± {bse:.5f}; difference {bm - lm:+.5f}, "
          f"2 SE {2 * se:.5f}: {base.said(agree)}")
    return {"name": name, "loop": loop, "benchbridge": bb, "difference": bm - lm, "two_se": 2 * se, "agree": agree}


def report_t(rows: list[dict[str, Any]], mid: tuple[int, int] = (2, 5)) -> list[dict[str, Any]]:
    """Per side and seed: top-1s, T and both travels per block; then the two sides compared."""
    print(f"{base.cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__}")
    for r in sorted(rows, key=lambda r: (r["side"], r["seed"])):
        src = f"{r['source_top1']:.3f}" if r["source_top1"] is not None else "–"
        print(f"{r['side']:>11} seed {r['seed']}: target top-1 {r['top1']:.3f}, source top-1 {src}, "
              f"T mean {statistics.fmean(r['t']):.3f}")
        for key in ("t", "source_travel", "finetune_travel"):
            print(f"{'':>13}{key:>16} per block: " + " ".join(f"{v:.5f}" for v in r[key]))
    sides = {s: [r for r in rows if r["side"] == s] for s in ("loop", "benchbridge")}
    if not all(sides.values()):
        return []
    lo, hi = mid

    def values(side: str, fn: Any) -> list[float]:
        return [float(v) for v in map(fn, sides[side]) if v is not None]

    checks = [("target top-1", lambda r: r["top1"]), ("source top-1", lambda r: r["source_top1"]),
              ("T mean", lambda r: statistics.fmean(r["t"])),
              *[(f"T block {i + 1}", lambda r, i=i: r["t"][i]) for i in range(len(rows[0]["t"]))],
              (f"source travel blocks {lo + 1}-{hi}", lambda r: statistics.fmean(r["source_travel"][lo:hi])),
              (f"finetune travel blocks {lo + 1}-{hi}", lambda r: statistics.fmean(r["finetune_travel"][lo:hi]))]
    verdicts = [compare(name, values("loop", fn), values("benchbridge", fn)) for name, fn in checks
                if values("loop", fn) and values("benchbridge", fn)]
    medians = {side: statistics.median(values(side, checks[2][1])) for side in sides}
    print(f"{'T mean, median':>26}: loop {medians['loop']:.3f}; benchbridge {medians['benchbridge']:.3f} "
          f"({len(sides['loop'])} and {len(sides['benchbridge'])} seeds)")
    return verdicts


def main_t(args: argparse.Namespace, halves: dict[str, list[int]], tmp: Path) -> list[dict[str, Any]]:
    """Both sides (or one), every seed: the rows for report_t."""
    rows: list[dict[str, Any]] = []
    path = tmp / "parity-t.yaml"
    path.write_text(yaml.safe_dump(manifest_t(args.data, tmp / "bb-t", halves, args)))
    draws = source_draws(path) if args.same_draw else {}
    if not args.loop_only:
        rows += run_benchbridge_t(path)
        for r in rows:
            print(f"benchbridge seed {r['seed']}: target top-1 {r['top1']:.3f}, T mean {statistics.fmean(r['t']):.3f}",
                  file=sys.stderr)
    if not args.benchbridge_only:
        with ProcessPoolExecutor(max_workers=min(len(args.seeds), os.cpu_count() or 1)) as pool:
            jobs = [(args.data, halves, seed, args, draws.get(seed)) for seed in args.seeds]
            for row in pool.map(loop_transfer, jobs):
                rows.append(row)
                print(f"loop seed {row['seed']}: target top-1 {row['top1']:.3f}, T mean "
                      f"{statistics.fmean(row['t']):.3f} ({row['wall_s']:.0f} s)", file=sys.stderr)
    return rows
