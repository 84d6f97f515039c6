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
from benchbridge.analyze import (ANALYSIS_DIR, ANALYSIS_FILE, FORMAT_VERSION, PAIRS, PER_CLASS, cost, figure,
                                  pair_transferability, questions)
from benchbridge.results import store
from benchbridge.analyze.base import Context, FinetunedWeights
from benchbridge.analyze.features import extract, take_per_class
from benchbridge.analyze.groups import Group, groups, measured, proxy_curves, runs
from benchbridge.analyze.metrics import Undefined
from benchbridge.analyze.weights import finetuned_weights, trained
from benchbridge.data.loader import LoaderSpec, make_loader
from benchbridge.errors import UserError
from benchbridge.execute.job import Job, finetuned_runs
from benchbridge.execute.train import RunSetup
from benchbridge.execute.construct import initial_network
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
        if job.manifest.raw.targets is not None:  # sources and targets: the T-metric only, for now
            result = _analyze_pairs(run_dir, job, results, say, proxy)
        else:
            result = _analyze(run_dir, job, results, per_class, say, proxy)
            result["figure"] = figure.draw(result["groups"], out_dir)
    result["wall_s"] = time.perf_counter() - start
    result["load_average"] = {"before": list(load_before), "after": list(os.getloadavg()), "cpus": os.cpu_count()}
    store.write_json(out_dir / ANALYSIS_FILE, result)
    return result


def _analyze(run_dir: Path, job: Job, results: list[Result], per_class: int | None, say: Say,
             proxy: str | Path | None) -> dict[str, Any]:
    setup = RunSetup(job.manifest, job.dataset(), run_dir, torch.device("cpu"))  # split grids: the manifest's
    entry, opts = job.manifest.model
    cut_points = list(entry.obj.cut_points(job.manifest.raw.model.name, opts))
    analyses = list(registry.entries("analysis").values())
    finetuned = finetuned_runs(job.plan)
    by_id = {r.run.id: r for r in results}
    records, skipped = [], []
    for g in groups(results):
        if g.base("A") is None or g.base("B") is None:
            skipped.append({"split": g.split, "seed": g.seed, "reason": "net A or net B is not finished"})
            continue
        say(f"split {g.split}, seed {g.seed}: features at {len(cut_points)} cut points")
        records.append(_measure(g, setup, run_dir, cut_points, analyses, finetuned.get((g.split, g.seed)),
                                per_class, by_id))
    if not records:
        raise UserError("no split and seed has both base networks (baseA and baseB) finished: nothing to analyze.",
                        file=str(run_dir), hint="Run the manifest until its base networks are done.")
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
    return {"version": FORMAT_VERSION, "run_dir": str(run_dir), "model": job.manifest.raw.model.name,
            "cut_points": cut_points, "per_class": per_class,
            "analyses": {a.name: a.plugin for a in analyses}, "groups": records, "skipped": skipped,
            "baseline": {"name": questions.DEPTH_BASELINE, "meaning": "deeper transfers worse: minus the cut "
                         "point's index, reported beside every series in each group's `baseline`"},
            "questions": questions.answer(records, predictors), "proxy": proxy_info,
            "cost": {**cost.summary(records, features_s, analysis_s), "per_measurement": costs}}


def _analyze_pairs(run_dir: Path, job: Job, results: list[Result], say: Say,
                   proxy: str | Path | None) -> dict[str, Any]:
    if proxy is not None:
        raise UserError(f"--proxy is not available for sources/targets grids yet ({run_dir} has sources and "
                        "targets): only Chen et al.'s T-metric is computed for them.", file=str(run_dir),
                        hint="Run `benchbridge analyze` without --proxy.")
    say("sources and targets: Chen et al.'s T per block of each fine-tuned network that copied every block; "
        f"{pair_transferability.NOT_AVAILABLE}")
    return {"version": FORMAT_VERSION, "kind": PAIRS, "run_dir": str(run_dir), "model": job.manifest.raw.model.name,
            "t_metric": pair_transferability.analyze_pairs(run_dir, job, results),
            "not_available": pair_transferability.NOT_AVAILABLE, "figure": None}


def _measure(g: Group, setup: RunSetup, run_dir: Path, cut_points: list[str], analyses: list[registry.Entry],
             finetuned: Run | None, per_class: int | None, by_id: dict[str, Result]) -> dict[str, Any]:
    tick = time.perf_counter()
    base_a, base_b = g.base("A"), g.base("B")
    assert base_a is not None and base_b is not None
    nets = {"A": trained(base_a.run, setup, run_dir), "B": trained(base_b.run, setup, run_dir),
            "random": initial_network(base_b.run, setup.manifest)}
    classes = base_b.run.classes["B"]
    train, train_labels = extract(nets, _images(setup, classes, "train", per_class), setup.device)
    val, val_labels = extract(nets, _images(setup, classes, "val", per_class), setup.device)
    weights = finetuned_weights(finetuned, by_id, setup, run_dir) if finetuned is not None else None
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
            "measured": measured(g), "runs": runs(g), "t_metric_network": _t_network(weights, finetuned)}


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


def _t_network(weights: FinetunedWeights | None, finetuned: Run | None) -> dict[str, Any] | None:
    if weights is None or finetuned is None:
        return None
    return {"condition": weights.condition, "n": weights.n, "run_id": finetuned.id, "source_run_id": finetuned.source,
            "theta_r": weights.random_origin, "init_origin": weights.init_origin,
            "weights_compared": "the weight of every Conv and Linear module of each copied block (no biases, no "
                                "normalisation parameters)"}


def _images(setup: RunSetup, classes: list[int], subset: str, per_class: int | None) -> Any:
    """The first `per_class` images of each class of `subset`, in file order, evaluation preprocessing."""
    m = setup.manifest
    entry, opts = m.model
    dc = entry.obj.data_config(m.raw.model.name, opts)
    batches = make_loader(setup.dataset, LoaderSpec(
        split=subset, classes=tuple(classes), batch_size=m.raw.evaluation.batch_size or 256, train=False, seed=0,
        epoch=0, input_size=dc["input_size"], mean=dc["mean"], std=dc["std"]))
    return take_per_class(batches, len(classes), per_class)
