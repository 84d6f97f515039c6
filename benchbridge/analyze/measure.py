"""`benchbridge analyze`: every registered analysis at every cut point, per split and seed, against the grid."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from benchbridge import registry
from benchbridge.analyze import ANALYSIS_DIR, ANALYSIS_FILE, FORMAT_VERSION, PER_CLASS, choice, cost, figure, questions
from benchbridge.results import store
from benchbridge.analyze.base import Context, FinetunedWeights
from benchbridge.analyze.features import extract, take_per_class
from benchbridge.analyze.groups import Group, groups, measured, proxy_curves, runs
from benchbridge.analyze.metrics import Undefined
from benchbridge.analyze.weights import finetuned_weights, source_network, trained
from benchbridge.data.loader import LoaderSpec, make_loader
from benchbridge.errors import UserError
from benchbridge.execute.job import Job, finetuned_runs
from benchbridge.execute.train import RunSetup
from benchbridge.execute.construct import initial_network
from benchbridge.models.network import Network
from benchbridge.pairs import pairs_of
from benchbridge.plan import Run
from benchbridge.results import Result, load_results

Say = Callable[[str], None]

CAUGHT = (Undefined, np.linalg.LinAlgError, FloatingPointError)
"""What an analysis may raise that makes its series null (with the reason) instead of stopping the others."""


def analyze(run_dir: str | Path, out: str | Path | None = None, *, per_class: int | None = PER_CLASS,
            say: Say = lambda _: None, proxy: str | Path | None = None) -> dict[str, Any]:
    """Measure, answer each question against its baseline, and write analysis.json and the figure into `out`.

    The measurements see the first `per_class` training and validation images of each of half B's classes (all of
    them when None), on the CPU with the manifest's `execution.threads`. `proxy`: the results of the same grid
    trained at a smaller budget, scored on every question beside the measurements.
    """
    start = time.perf_counter()
    load_before = os.getloadavg()
    run_dir = Path(run_dir)
    out_dir = Path(out) if out is not None else run_dir / ANALYSIS_DIR
    results = load_results(run_dir)  # a UserError here if RUN_DIR is not a results directory
    job = Job.load(run_dir)
    threads = job.manifest.raw.execution.threads
    if threads:
        torch.set_num_threads(threads)
    with threadpool_limits(limits=threads):  # numpy's BLAS too: extra threads spin on a shared machine
        result = _analyze(run_dir, job, results, per_class, say, proxy)
        result["figure"] = figure.draw(result["groups"], out_dir)
    result["wall_s"] = time.perf_counter() - start
    result["load_average"] = {"before": list(load_before), "after": list(os.getloadavg()), "cpus": os.cpu_count()}
    store.write_json(out_dir / ANALYSIS_FILE, result)
    return result


def _analyze(run_dir: Path, job: Job, results: list[Result], per_class: int | None, say: Say,
             proxy: str | Path | None) -> dict[str, Any]:
    entry, opts = job.manifest.model
    cut_points = list(entry.obj.cut_points(job.manifest.raw.model.name, opts))
    analyses = list(registry.entries("analysis").values())
    finetuned = finetuned_runs(job.plan)
    by_id = {r.run.id: r for r in results}
    records, skipped = [], []
    for g in groups(results):
        setup = _setup(job, g, run_dir)
        source = _source_id(job.plan, g)
        nets = _networks(g, setup, run_dir, source)
        if isinstance(nets, str):
            skipped.append({"split": g.split, "seed": g.seed, "reason": nets})
            continue
        say(f"{g.split}, seed {g.seed}: features at {len(cut_points)} cut points")
        record = _measure(g, setup, cut_points, analyses, finetuned.get((g.split, g.seed)), per_class, by_id, nets)
        records.append({**record, **_roles(job, g, source, by_id)})
    if not records:
        raise UserError("no pair of tasks and seed has both its source network and its target's base network "
                        "finished: nothing to analyze.", file=str(run_dir),
                        hint="Run the manifest until its base networks are done.")
    owners = {name: a for g in records for name, a in g["series_analysis"].items()}
    predictors = [questions.series_predictor(name, a) for name, a in owners.items()]
    features_s = sum(g["features_s"] for g in records)
    analysis_s = {a.name: sum(g["analysis_s"].get(a.name, 0.0) for g in records) for a in analyses}
    needs = {name: tuple(getattr(a.obj, "needs", {}).get(name, cost.DEFAULT_NEEDS))
             for a in analyses for name in owners if owners[name] == a.name}
    costs = cost.measurement_costs(records, owners, needs, analysis_s, features_s)
    proxy_info = None
    if proxy is not None:
        curves, seconds = proxy_curves(proxy, [(g["split"], g["seed"]) for g in records])
        for g in records:
            g["proxy"] = curves.get((g["split"], g["seed"]))
        predictors.append(questions.proxy_predictor())
        costs.append(cost.proxy_cost(records, seconds))
        proxy_info = {"run_dir": str(proxy), "groups": [{"split": s, "seed": d} for s, d in curves],
                      "train_s": sum(seconds.values()), "runs": len(seconds)}
    scores = [p for p in predictors if p.name in choice.before_finetuning(needs) or p.source == "proxy"]
    return {"version": FORMAT_VERSION, "run_dir": str(run_dir), "model": job.manifest.raw.model.name,
            "cut_points": cut_points, "per_class": per_class,
            "analyses": {a.name: a.plugin for a in analyses}, "groups": records, "skipped": skipped,
            "baseline": {"name": questions.DEPTH_BASELINE, "meaning": "deeper transfers worse: minus the cut "
                         "point's index, reported beside every series in each group's `baseline`"},
            "questions": {**questions.answer(records, predictors), **choice.answer(records, scores)},
            "t_metric": t_view(records), "proxy": proxy_info,
            "cost": {**cost.summary(records, features_s, analysis_s), "per_measurement": costs}}


def _setup(job: Job, g: Group, run_dir: Path) -> RunSetup:
    """The measurements see the target's images (the task its base network trained on), with its recipe."""
    base_b = g.base("B")
    task = base_b.run.task if base_b is not None else None
    return RunSetup(job.manifest, job.dataset(task), run_dir, torch.device("cpu"), task)


def _source_id(plan: list[Run], g: Group) -> str | None:
    """The network the pair's transfer runs copy from in the source's role: its base network A, or a checkpoint."""
    base_a = g.base("A")
    if base_a is not None:
        return base_a.run.id
    target_base = {r.id for r in plan if r.n == 0 and (g.split, "baseB") in r.labels and r.seed == g.seed}
    found = {r.source for r in plan if r.seed == g.seed and r.source and r.source not in target_base
             and any(split == g.split for split, _ in r.labels)}
    return found.pop() if len(found) == 1 else None


def _networks(g: Group, setup: RunSetup, run_dir: Path, source: str | None) -> dict[str, Network] | str:
    """Net A (the source), net B (the target's base network) and a random one, or why the group has none."""
    base_b = g.base("B")
    net_a = source_network(source, setup, run_dir) if source is not None else None
    if base_b is None or net_a is None:
        return "the source network (net A) or the target's base network (net B) is not finished"
    return {"A": net_a, "B": trained(base_b.run, setup, run_dir), "random": initial_network(base_b.run, setup.manifest)}


def _roles(job: Job, g: Group, source: str | None, by_id: dict[str, Result]) -> dict[str, Any]:
    """Which source and which target the group is (their names in the manifest; a split's halves by label), and the
    source network's own top-1 on its task (None for a checkpoint)."""
    names = {p.label: (p.source, p.target) for p in pairs_of(job.manifest.raw.model_dump())}
    src, tgt = names.get(g.split, (f"{g.split}: half A", f"{g.split}: half B"))
    found = by_id.get(source or "")
    top1 = found.record.top1 if found is not None and found.record is not None else None
    return {"source": src, "target": tgt, "source_run_id": source, "source_top1": top1}


def t_view(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Chen et al.'s T per block and its mean, per pair and seed, as the report and `analyze` print it."""
    rows = []
    for g in records:
        t = g["t_metric_network"]
        per_block = g["series"].get("t_metric")
        mean = g["series"].get("t_metric_mean") or {}
        reason = None if t is not None else "no finished fine-tuned network (AnB+ or BnB+) with its source's weights"
        rows.append({"pair": g["split"], "source": g["source"], "target": g["target"], "seed": g["seed"],
                     "n": t["n"] if t else None, "condition": t["condition"] if t else None,
                     "run_id": t["run_id"] if t else None, "source_run_id": t["source_run_id"] if t else None,
                     "init_origin": (t["init_origin"] or t["theta_r"]) if t else None,
                     "theta_r": t["theta_r"] if t else None, "t_per_block": per_block,
                     "t_mean": next(iter(mean.values()), None), "nulls": g["nulls"].get("t_metric", {}),
                     "reason": reason, "health": t.get("health") if t else None})
    return {"weights_compared": WEIGHTS_COMPARED, "rows": rows}


WEIGHTS_COMPARED = ("the weight of every Conv and Linear module of each copied block (no biases, no normalisation "
                    "parameters); per tensor the mean absolute difference, averaged over the block's tensors")


def _measure(g: Group, setup: RunSetup, cut_points: list[str], analyses: list[registry.Entry],
             finetuned: Run | None, per_class: int | None, by_id: dict[str, Result],
             nets: dict[str, Network]) -> dict[str, Any]:
    """Every analysis on one group's networks (`setup.output_dir`: the results directory)."""
    tick = time.perf_counter()
    base_b = g.base("B")
    assert base_b is not None
    classes = base_b.run.train_classes
    train, train_labels = extract(nets, _images(setup, classes, "train", per_class), setup.device)
    val, val_labels = extract(nets, _images(setup, classes, "val", per_class), setup.device)
    weights = finetuned_weights(finetuned, by_id, setup, setup.output_dir) if finetuned is not None else None
    features_s = time.perf_counter() - tick  # loading the networks and weights, and extracting features
    ctx = Context(g.split, g.seed, cut_points, train, val, train_labels, val_labels, weights, len(classes))
    series: dict[str, dict[str, float | None]] = {}
    nulls: dict[str, dict[str, str]] = {}
    failed: dict[str, str] = {}
    wall: dict[str, float] = {}
    owner: dict[str, str] = {}
    for entry in analyses:
        tick = time.perf_counter()
        options = registry.validate_options(entry, {}, key=f"analysis.{entry.name}")
        try:
            measured_series = entry.obj.measure(ctx, options)
        except CAUGHT as exc:  # the whole analysis has no value here; the others still run
            failed[entry.name] = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
            measured_series = {}
        for name, values in measured_series.items():
            series[name], reasons = _strict(values)
            if reasons:
                nulls[name] = reasons
            owner[name] = entry.name
        wall[entry.name] = time.perf_counter() - tick
    return {"split": g.split, "seed": g.seed, "train_images": int(len(train_labels)),
            "val_images": int(len(val_labels)), "features_s": features_s, "analysis_s": wall,
            "series": series, "nulls": nulls, "failed": failed, "series_analysis": owner,
            "baseline": {questions.DEPTH_BASELINE: {str(n): -float(n) for n in range(1, len(cut_points) + 1)}},
            "measured": measured(g), "runs": runs(g),
            "t_metric_network": _t_network(weights, finetuned, by_id)}


def _strict(values: dict[int, Any]) -> tuple[dict[str, float | None], dict[str, str]]:
    """A series as JSON: finite floats, and None with a reason for Undefined or non-finite points."""
    out: dict[str, float | None] = {}
    reasons: dict[str, str] = {}
    for n, v in sorted(values.items()):
        if isinstance(v, Undefined):
            out[str(n)], reasons[str(n)] = None, v.reason
        elif not math.isfinite(float(v)):
            out[str(n)], reasons[str(n)] = None, f"not finite ({float(v)})"
        else:
            out[str(n)] = float(v)
    return out, reasons


def _t_network(weights: FinetunedWeights | None, finetuned: Run | None,
               by_id: dict[str, Result]) -> dict[str, Any] | None:
    if weights is None or finetuned is None:
        return None
    done = by_id.get(finetuned.id)
    return {"condition": weights.condition, "n": weights.n, "run_id": finetuned.id, "source_run_id": finetuned.source,
            "health": done.health if done is not None else None,
            "theta_r": weights.random_origin, "init_origin": weights.init_origin,
            "weights_compared": "the weight of every Conv and Linear module of each copied block (no biases, no "
                                "normalisation parameters)"}


def _images(setup: RunSetup, classes: list[int], subset: str, per_class: int | None) -> Any:
    """The first `per_class` images of each class of `subset`, in file order, evaluation preprocessing; of the
    training images, never more than the task trains on (its images_per_class: the first k in file order too)."""
    m = setup.manifest
    entry, opts = m.model
    dc = entry.obj.data_config(m.raw.model.name, opts)
    recipe = m.recipe(setup.task)
    caps = [k for k in (per_class, recipe.data.images_per_class if subset == "train" else None) if k is not None]
    per_class = min(caps) if caps else None
    batch = recipe.evaluation.batch_size or 256
    batches = make_loader(setup.dataset, LoaderSpec(
        split=subset, classes=tuple(classes), batch_size=batch, train=False, seed=0, epoch=0,
        input_size=dc["input_size"], mean=dc["mean"], std=dc["std"]))
    return take_per_class(batches, len(classes), per_class)
