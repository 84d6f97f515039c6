"""A plan: every network the manifest asks for, as pure data with deterministic ids, in dependency order."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from pydantic import BaseModel

from benchbridge import pairs
from benchbridge.errors import UserError, within
from benchbridge.manifest import BASE_CONDITIONS, Condition, Data, Evaluation, ResolvedManifest, Schedule, Training
from benchbridge.transfer.halves import Split


@dataclass(frozen=True)
class Run:
    """One network to train. `id` is a hash of everything that defines it, so equal networks share it."""

    id: str
    condition: str  # baseA, baseB, BnB, BnB+, AnB, AnB+, random_frozen, or a custom condition
    n: int  # blocks copied or frozen; 0 for base networks
    split: str
    seed: int
    strategy: str
    strategy_options: dict[str, Any]
    target: str  # "A" or "B": the half this network trains and is evaluated on
    classes: dict[str, list[int]]  # {"A": [...], "B": [...]}
    source: str | None  # id of the run whose first n blocks are copied
    depends_on: list[str]
    also: list[dict[str, str]] = field(default_factory=list)  # other (split, condition, split_kind) labels
    split_kind: str = "other"  # random, dissimilar or other: what the split plugin declared
    data_from: str | None = None  # sources and targets: the source or target whose dataset it trains on

    @property
    def train_classes(self) -> list[int]:
        return self.classes[self.target]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Run":
        return cls(**data)


def run_id(definition: dict[str, Any]) -> str:
    blob = json.dumps(definition, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


# --- what a run id hashes: the one place that says it ---------------------------------------------------------

ID_SECTIONS = ("dataset", "data", "model", "training", "evaluation")
"""The manifest sections that define every network of a grid; each run adds its own classes (from `splits`),
seed (`seeds`), strategy and strategy options (`conditions`), n (`layers`) and source run. `execution` (executor,
devices, threads, workers, loggers, ...), `name`, `description` and `output_dir` never enter an id."""
NOT_IN_ID = {"training": ("checkpoint_every", "compile", "cudnn_benchmark", "channels_last", "abort_if_no_learning"),
             "evaluation": ("batch_size",)}
"""Keys of those sections that do not define the network: how it is computed (checkpoints, compilation, cuDNN's
algorithm search, memory layout), a safety net (abort_if_no_learning) and an evaluation-only setting (the evaluation
batch size). They are hashed at their default value, whatever the manifest says, so changing them keeps every id,
and ids made before a key moved here are unchanged for manifests that left it at its default."""
LATER_DEFAULTS = ("precision", "accumulation", *NOT_IN_ID["training"])
"""Training keys left out of the hashed dict while at their default (added after the first ids were made)."""
LATER_OPTIONAL = ("factor", "patience", "min_delta", "drops", "holdout",  # left out of the id while unset (None)
                  "small_kernels", "head_init")
PER_RUN_ID_KEYS = ("splits: the classes of the half the run trains on", "seeds", "conditions: strategy",
                   "conditions: strategy options", "layers: n", "conditions: source run id")


def _default(section: str, key: str) -> Any:
    model = {"training": Training, "evaluation": Evaluation}[section]
    return model.model_fields[key].get_default(call_default_factory=True)


def _common(m: ResolvedManifest) -> dict[str, Any]:
    """What every network of the manifest shares: data, architecture, training recipe."""
    d = m.to_dict()
    for section, keys in NOT_IN_ID.items():
        d[section].update({k: _default(section, k) for k in keys})
    training = {k: v for k, v in d["training"].items()
                if not (k in LATER_DEFAULTS and v == _default("training", k))}
    training["schedule"] = _set_only(training["schedule"])
    model = {**d["model"], "options": _set_only(d["model"]["options"])}
    return {"dataset": d["dataset"], "data": d["data"], "model": model, "training": training,
            "evaluation": _set_only(d["evaluation"])}


def _set_only(section: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in section.items() if not (k in LATER_OPTIONAL and v is None)}


def id_keys() -> list[str]:
    """The manifest keys that enter a run id (`dataset.options.*`: every option of the plugin), then the per-run
    parts."""
    sections: dict[str, type[BaseModel]] = {"data": Data, "training": Training, "evaluation": Evaluation}
    keys = ["dataset.name", "dataset.options.*", "model.name", "model.options.*"]
    for section, model in sections.items():
        for name in model.model_fields:
            if name in NOT_IN_ID.get(section, ()):
                continue
            if name == "schedule":
                keys += [f"training.schedule.{k}" for k in Schedule.model_fields]
            else:
                keys.append(f"{section}.{name}")
    return keys + list(PER_RUN_ID_KEYS)


def make_plan(m: ResolvedManifest) -> list[Run]:
    """Base networks first, then the transfer runs that copy from them; duplicates merged by id."""
    if m.raw.targets is not None:
        return make_pair_plan(m)
    classes = _describe(m)
    common = _common(m)
    n_cuts = _num_cut_points(m)
    layers = _layers(m, n_cuts)
    runs: dict[str, Run] = {}
    transfers: list[Run] = []
    for i, (entry, opts) in enumerate(m.splits):
        try:
            split = entry.obj.split(opts, classes)
        except UserError as exc:
            raise within(exc, f"splits.{i}", m.file) from None
        conditions = m.conditions[i] if m.conditions[i] is not None else m.default_conditions
        for seed in m.raw.seeds:
            bases = {half: _base(common, split, half, seed) for half in ("A", "B")}
            needed = {"B"} | m.listed_bases[i] | {c.source for c, _ in conditions if c.source}
            for half in sorted(needed):
                _add(runs, bases[half])
            for n in layers:
                for cond, copts in conditions:
                    transfers.append(_transfer(common, split, seed, n, cond, copts.model_dump(mode="json"), bases))
    for run in transfers:
        _add(runs, run)
    return list(runs.values())


def _describe(m: ResolvedManifest) -> list[Any]:
    entry, opts = m.dataset
    try:
        return entry.obj.describe(opts)
    except UserError as exc:
        raise within(exc, "dataset.options", m.file) from None


def _num_cut_points(m: ResolvedManifest) -> int:
    entry, opts = m.model
    return len(entry.obj.cut_points(m.raw.model.name, opts))


def _layers(m: ResolvedManifest, n_cuts: int) -> list[int]:
    layers = m.raw.layers if m.raw.layers is not None else list(range(1, n_cuts + 1))
    bad = [n for n in layers if not 1 <= n <= n_cuts]
    if bad:
        raise UserError(f"layers {bad} are out of range: model '{m.raw.model.name}' has {n_cuts} cut points, "
                        f"so n must be 1..{n_cuts}.", file=m.file, key="layers")
    return sorted(set(layers))


def _classes(split: Split) -> dict[str, list[int]]:
    return {"A": list(split.A), "B": list(split.B)}


def _base(common: dict[str, Any], split: Split, half: str, seed: int) -> Run:
    trained_on = _classes(split)[half]
    rid = run_id({**common, "classes": trained_on, "seed": seed, "strategy": "scratch"})
    return Run(rid, f"base{half}", 0, split.label, seed, "scratch", {}, half, _classes(split), None, [],
               split_kind=split.kind)


def _transfer(common: dict[str, Any], split: Split, seed: int, n: int, cond: Condition,
              options: dict[str, Any], bases: dict[str, Run]) -> Run:
    source = bases[cond.source].id if cond.source else None
    rid = run_id({**common, "classes": list(split.B), "seed": seed, "strategy": cond.strategy,
                  "strategy_options": options, "n": n, "source": source})
    return Run(rid, cond.name, n, split.label, seed, cond.strategy, options, "B", _classes(split), source,
               [source] if source else [], split_kind=split.kind)


def _add(runs: dict[str, Run], run: Run) -> None:
    if run.id in runs:
        runs[run.id].also.append({"split": run.split, "condition": run.condition, "split_kind": run.split_kind})
    else:
        runs[run.id] = run


def plan_to_json(plan: list[Run]) -> list[dict[str, Any]]:
    return [r.to_dict() for r in plan]


# --- sources and targets: every source to every target --------------------------------------------------------


@dataclass(frozen=True)
class PairRuns:
    """What every run of one (source, target) pair and seed shares."""

    label: str
    seed: int
    classes: dict[str, list[int]]  # {"A": the source's classes ([] for a checkpoint), "B": the target's}
    source_ids: dict[str, str]  # "A": the source's run id (or checkpoint id), "B": the target's base network
    from_checkpoint: bool
    target: str
    common: dict[str, Any]  # the target's _common


def make_pair_plan(m: ResolvedManifest) -> list[Run]:
    """Per seed: each trained source once, each target's base network once, then every (source, target) pair's
    transfer runs; a network that several pairs share is one run with several labels."""
    tasks = pairs.tasks(m)
    ckpts = pairs.checkpoints(m)
    layers = _layers(m, _num_cut_points(m))
    conditions = m.default_conditions
    listed = {r[-1] for r in m.raw.conditions if isinstance(r, str) and r in BASE_CONDITIONS}
    wants_source = "A" in listed or any(c.source == "A" for c, _ in conditions)
    common = {name: _common(pairs.task_view(m, name)) for name in tasks}
    ckpt_ids = {name: checkpoint_id(m, c) for name, c in ckpts.items()}
    runs: dict[str, Run] = {}
    transfers: list[Run] = []
    for seed in m.raw.seeds:
        for pair in pairs.pairs_of(m.raw.model_dump()):
            target, source = tasks[pair.target], tasks.get(pair.source)  # source None: a checkpoint
            classes = {"A": list(source.classes) if source else [], "B": list(target.classes)}
            base_b = _pair_base(common[target.name], pair.label, seed, "B", classes, target.name)
            source_id = ckpt_ids.get(pair.source, "")
            if source is not None:
                base_a = _pair_base(common[source.name], pair.label, seed, "A", classes, source.name)
                source_id = base_a.id
                if wants_source:
                    _add(runs, base_a)
            _add(runs, base_b)
            spec = PairRuns(pair.label, seed, classes, {"A": source_id, "B": base_b.id}, source is None,
                            target.name, common[target.name])
            transfers += [_pair_transfer(spec, n, cond, copts.model_dump(mode="json"))
                          for n in layers for cond, copts in conditions]
    for run in transfers:
        _add(runs, run)
    return list(runs.values())


def checkpoint_id(m: ResolvedManifest, ckpt: pairs.Checkpoint) -> str:
    """A checkpoint source's id: its content (and its initialisation's), never its path, and the model it fits."""
    return run_id({"checkpoint": ckpt.sha256, "format": ckpt.format, "init": ckpt.init_sha256 or "fresh_draw",
                   "model": _common(m)["model"]})


def _pair_base(common: dict[str, Any], label: str, seed: int, half: str, classes: dict[str, list[int]],
               task: str) -> Run:
    """A trained source (half A) or a target's own base network (half B): defined like the paper's bases."""
    rid = run_id({**common, "classes": classes[half], "seed": seed, "strategy": "scratch"})
    return Run(rid, f"base{half}", 0, label, seed, "scratch", {}, half, classes, None, [], data_from=task)


def _pair_transfer(p: PairRuns, n: int, cond: Condition, options: dict[str, Any]) -> Run:
    """A run on the target whose first n blocks come from the source (A), the target's base (B) or nowhere."""
    source = p.source_ids[cond.source] if cond.source else None
    rid = run_id({**p.common, "classes": p.classes["B"], "seed": p.seed, "strategy": cond.strategy,
                  "strategy_options": options, "n": n, "source": source})
    planned = source is not None and not (cond.source == "A" and p.from_checkpoint)  # a checkpoint is no run
    return Run(rid, cond.name, n, p.label, p.seed, cond.strategy, options, "B", p.classes, source,
               [source] if planned and source else [], data_from=p.target)
