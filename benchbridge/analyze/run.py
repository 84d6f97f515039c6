"""`benchbridge analyze`: every registered analysis at every cut point, per split and seed, against the grid."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from threadpoolctl import threadpool_limits

from benchbridge import registry, store
from benchbridge.analyze import ANALYSIS_DIR, ANALYSIS_FILE, FORMAT_VERSION, PER_CLASS, correlate, figure
from benchbridge.analyze.base import Context, FinetunedWeights
from benchbridge.analyze.features import extract, take_per_class
from benchbridge.data.loader import LoaderSpec, make_loader
from benchbridge.errors import UserError
from benchbridge.execute.job import Job, finetuned_runs
from benchbridge.execute.train import RunSetup
from benchbridge.models.construct import initial_network
from benchbridge.models.base import Network
from benchbridge.plan import Run
from benchbridge.results import Result, load_results

Say = Callable[[str], None]


@dataclass
class Group:
    """One split and seed of the grid, with its finished runs by (condition, n)."""

    split: str
    seed: int
    runs: dict[tuple[str, int], Result]

    def base(self, half: str) -> Result | None:
        return self.runs.get((f"base{half}", 0))


def groups(results: list[Result]) -> list[Group]:
    """Finished runs grouped by (split, seed) in plan order; a network with several labels is in each group."""
    found: dict[tuple[str, int], Group] = {}
    for res in results:
        if res.record is None:
            continue
        for split, condition in res.labels:
            g = found.setdefault((split, res.run.seed), Group(split, res.run.seed, {}))
            g.runs[condition, res.run.n] = res
    return list(found.values())


def analyze(run_dir: str | Path, out: str | Path | None = None, *, per_class: int | None = PER_CLASS,
            say: Say = lambda _: None) -> dict[str, Any]:
    """Measure, correlate with the grid, and write analysis.json and the figure into `out` (RUN_DIR/analysis).

    The measurements see the first `per_class` training and validation images of each of half B's classes (all of
    them when None), on the CPU with the manifest's `execution.threads`.
    """
    start = time.perf_counter()
    run_dir = Path(run_dir)
    out_dir = Path(out) if out is not None else run_dir / ANALYSIS_DIR
    results = load_results(run_dir)  # a UserError here if RUN_DIR is not a results directory
    job = Job.load(run_dir)
    threads = job.manifest.raw.execution.threads
    if threads:
        torch.set_num_threads(threads)
    with threadpool_limits(limits=threads):  # numpy's BLAS too: extra threads spin on a shared machine
        return _analyze(run_dir, out_dir, job, results, per_class, say, start)


def _analyze(run_dir: Path, out_dir: Path, job: Job, results: list[Result], per_class: int | None, say: Say,
             start: float) -> dict[str, Any]:
    setup = RunSetup(job.manifest, job.dataset(), run_dir, torch.device("cpu"))
    entry, opts = job.manifest.model
    cut_points = list(entry.obj.cut_points(job.manifest.raw.model.name, opts))
    analyses = list(registry.entries("analysis").values())
    finetuned = finetuned_runs(job.plan)
    records, skipped = [], []
    for g in groups(results):
        if g.base("A") is None or g.base("B") is None:
            skipped.append({"split": g.split, "seed": g.seed, "reason": "net A or net B is not finished"})
            continue
        say(f"split {g.split}, seed {g.seed}: features at {len(cut_points)} cut points")
        records.append(_measure(g, setup, run_dir, cut_points, analyses, finetuned.get((g.split, g.seed)),
                                per_class))
    if not records:
        raise UserError("no split and seed has both base networks (baseA and baseB) finished: nothing to analyze.",
                        file=str(run_dir), hint="Run the manifest until its base networks are done.")
    result = {"version": FORMAT_VERSION, "run_dir": str(run_dir), "model": job.manifest.raw.model.name,
              "cut_points": cut_points, "per_class": per_class,
              "analyses": {a.name: a.plugin for a in analyses}, "groups": records, "skipped": skipped,
              "correlations": correlate.correlations(records), "cost": correlate.costs(records)}
    result["figure"] = figure.draw(records, out_dir)
    result["wall_s"] = time.perf_counter() - start
    store.write_json(out_dir / ANALYSIS_FILE, result)
    return result


def _measure(g: Group, setup: RunSetup, run_dir: Path, cut_points: list[str], analyses: list[registry.Entry],
             finetuned: Run | None, per_class: int | None) -> dict[str, Any]:
    tick = time.perf_counter()
    base_a, base_b = g.base("A"), g.base("B")
    assert base_a is not None and base_b is not None
    nets = {"A": _trained(base_a.run, setup, run_dir), "B": _trained(base_b.run, setup, run_dir),
            "random": initial_network(base_b.run, setup.manifest)}
    classes = base_b.run.classes["B"]
    train, train_labels = extract(nets, _images(setup, classes, "train", per_class), setup.device)
    val, val_labels = extract(nets, _images(setup, classes, "val", per_class), setup.device)
    weights = _weights(finetuned, g, setup, run_dir) if finetuned is not None else None
    features_s = time.perf_counter() - tick  # loading the networks and weights, and extracting features
    ctx = Context(g.split, g.seed, cut_points, train, val, train_labels, val_labels, weights)
    series: dict[str, dict[str, float | None]] = {}  # None: not finite (e.g. CKA of a constant feature)
    wall: dict[str, float] = {}
    owner: dict[str, str] = {}
    for entry in analyses:
        tick = time.perf_counter()
        options = registry.validate_options(entry, {}, key=f"analysis.{entry.name}")
        for name, values in entry.obj.measure(ctx, options).items():
            series[name] = {str(n): float(v) if math.isfinite(v) else None for n, v in sorted(values.items())}
            owner[name] = entry.name
        wall[entry.name] = time.perf_counter() - tick
    return {"split": g.split, "seed": g.seed, "train_images": int(len(train_labels)),
            "val_images": int(len(val_labels)), "features_s": features_s, "analysis_s": wall,
            "series": series, "series_analysis": owner, "measured": _measured(g),
            "t_metric_network": None if weights is None else {"condition": weights.condition, "n": weights.n,
                                                              "run_id": finetuned.id if finetuned else None},
            "train_s": {c: sum(r.record.wall_time_s for (cc, _), r in g.runs.items() if cc == c)
                        for c in ("AnB", "baseA", "baseB")}}


def _measured(g: Group) -> dict[str, Any]:
    """The grid's AnB curve, baseB, and AnB / baseB at each n."""
    base_b = g.base("B")
    anb = {n: r.record.top1 for (c, n), r in sorted(g.runs.items(), key=lambda kv: kv[0][1]) if c == "AnB"}
    b = base_b.record.top1 if base_b is not None and base_b.record else None
    return {"baseB": b, "AnB": {str(n): v for n, v in anb.items()},
            "AnB/baseB": {str(n): v / b for n, v in anb.items()} if b else {}}


def _trained(run: Run, setup: RunSetup, run_dir: Path, file: str = store.WEIGHTS_FILE) -> Network:
    path = store.run_dir(run_dir, run.id) / file
    if not path.is_file():
        raise UserError(f"run {run.id} ({run.condition}, split {run.split}) has no {file}: its weights were not "
                        "kept.", file=str(run_dir), hint="Rerun the manifest with this version of benchbridge, or "
                        "set execution.save_weights: all.")
    net = initial_network(run, setup.manifest)
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return net.to(setup.device)


def _images(setup: RunSetup, classes: list[int], subset: str, per_class: int | None) -> Any:
    """The first `per_class` images of each class of `subset`, in file order, evaluation preprocessing."""
    m = setup.manifest
    entry, opts = m.model
    dc = entry.obj.data_config(m.raw.model.name, opts)
    batches = make_loader(setup.dataset, LoaderSpec(
        split=subset, classes=tuple(classes), batch_size=m.raw.evaluation.batch_size or 256, train=False, seed=0,
        epoch=0, input_size=dc["input_size"], mean=dc["mean"], std=dc["std"]))
    return take_per_class(batches, len(classes), per_class)


def _weights(run: Run, g: Group, setup: RunSetup, run_dir: Path) -> FinetunedWeights | None:
    """Per-block parameters of the fine-tuned run, its random initialisation and the network it copied from."""
    done = {r.run.id for r in g.runs.values()}
    source = next((r.run for r in g.runs.values() if r.run.id == run.source), None)
    init_file = store.run_dir(run_dir, run.id) / store.INIT_FILE
    if run.id not in done or source is None or not init_file.is_file():
        return None
    condition = "AnB+" if source.target == "A" else "BnB+"
    nets = [_trained(run, setup, run_dir, store.INIT_FILE), _trained(source, setup, run_dir),
            _trained(run, setup, run_dir)]
    per_block = [[[p.detach().cpu().numpy() for p in block.parameters()] for block in net.blocks] for net in nets]
    return FinetunedWeights(condition, run.n, *per_block)
