"""`benchbridge analyze` on a grid of sources and targets: Chen et al.'s T per block for every (source, target).

Per pair and seed, T compares the fine-tuned network that copied ALL blocks (AnB+ at n = the number of cut points)
with the source network it copied (trained here, or a checkpoint) and theta_r, the source's own initialisation
(`init.pt` in the source's folder; `init_origin` says whether benchbridge trained it from there, or it is a
checkpoint's given init file, or a fresh draw from the model's initialiser). Only conv and linear weights count.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from benchbridge.results import store
from benchbridge.analyze.metrics import Undefined, t_metric
from benchbridge.analyze.weights import state_weights, weight_keys
from benchbridge.execute.job import Job
from benchbridge.execute.pair_setup import source_initialisation
from benchbridge.pairs import MIN_CLASSES, Pair, pairs_of
from benchbridge.plan import Run
from benchbridge.results import Result

FINETUNED = "AnB+"
WEIGHTS_COMPARED = ("the weight of every Conv and Linear module of each block (no biases, no normalisation "
                    "parameters); per tensor the mean absolute difference, averaged over the block's tensors")
NOT_AVAILABLE = ("probes, CKA, LogME, H-score, LEEP, NCE, the four questions and --proxy are not available for "
                 "sources/targets grids yet: only Chen et al.'s T-metric is computed")


def labels(run: Run) -> list[tuple[str, str]]:
    """Every (split or pair label, condition) a planned network stands for."""
    return [(run.split, run.condition)] + [(a["split"], a["condition"]) for a in run.also]


def analyze_pairs(run_dir: Path, job: Job, results: list[Result]) -> dict[str, Any]:
    """T per block and its mean over blocks, per (source, target) and seed: the `t_metric` part of analysis.json."""
    m = job.manifest
    entry, opts = m.model
    cut_points = list(entry.obj.cut_points(m.raw.model.name, opts))
    with torch.device("meta"):  # only the module structure: which state-dict keys are conv/linear weights
        keys = weight_keys(entry.obj.create(m.raw.model.name, opts, MIN_CLASSES))
    n_all = len(cut_points)
    by_id = {r.run.id: r for r in results}
    seeds = sorted({r.seed for r in job.plan})
    rows = [pair_row(run_dir, job.plan, by_id, p, seed, keys)
            for p in pairs_of(m.raw.model_dump()) for seed in seeds]
    return {"model": m.raw.model.name, "cut_points": cut_points, "n": n_all, "weights_compared": WEIGHTS_COMPARED,
            "rows": rows}


def pair_row(run_dir: Path, plan: list[Run], by_id: dict[str, Result], pair: Pair, seed: int,
             keys: list[list[str]]) -> dict[str, Any]:
    """One pair and seed: T per block ("1".."N") and the mean, or the reason there is none."""
    n_all = len(keys)
    row: dict[str, Any] = {"pair": pair.label, "source": pair.source, "target": pair.target, "seed": seed,
                           "n": n_all, "run_id": None, "source_run_id": None, "init_origin": None,
                           "t_per_block": None, "nulls": {}, "t_mean": None, "reason": None, "health": None}
    run = next((r for r in plan if r.seed == seed and r.n == n_all and (pair.label, FINETUNED) in labels(r)), None)
    if run is None:
        row["reason"] = (f"the grid's layers do not include n = {n_all} (every block copied): T compares the "
                         f"fine-tuned network ({FINETUNED}) that copied all blocks; add {n_all} to layers")
        return row
    row.update(run_id=run.id, source_run_id=run.source)
    done = by_id.get(run.id)
    if done is None or done.record is None:
        row["reason"] = f"{FINETUNED} n={n_all} ({run.id}) is not finished"
        return row
    found = source_initialisation(run_dir, run.source or "")
    files = {"fine-tuned": store.run_dir(run_dir, run.id) / store.WEIGHTS_FILE,
             "source": store.run_dir(run_dir, run.source or "") / store.WEIGHTS_FILE}
    absent = [f"the {k} network's {p.name} ({p.parent.name})" for k, p in files.items() if not p.is_file()]
    if found is None or absent:
        row["reason"] = "no " + ", ".join(absent or [f"init.pt in the source's folder ({run.source})"])
        return row
    row["init_origin"] = found[1]
    random, pretrained, finetuned = (state_weights(p, keys) for p in (found[0], files["source"], files["fine-tuned"]))
    values: dict[str, float | None] = {}
    for i in range(n_all):
        try:
            values[str(i + 1)] = t_metric(random[i], pretrained[i], finetuned[i])
        except Undefined as exc:
            values[str(i + 1)], row["nulls"][str(i + 1)] = None, exc.reason
    row["t_per_block"] = values
    defined = [v for v in values.values() if v is not None]
    if len(defined) == len(values):
        row["t_mean"] = sum(defined) / len(defined)
    else:
        row["reason"] = "no mean: a block has no T value (see nulls)"
    row["health"] = done.health  # a network that did not learn still has weights: T is reported, flagged
    return row
