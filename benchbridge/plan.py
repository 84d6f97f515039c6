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


@dataclass(frozen=True)
class Run:
    """One network to train. `id` is a hash of everything that defines it, so equal networks share it."""

    id: str
    condition: str  # baseA, baseB, BnB, BnB+, AnB, AnB+, random_frozen, or a custom condition
    n: int  # blocks copied or frozen; 0 for base networks
    pair: str  # the label of its (source -> target) pair: a split's label, or "source->target"
    seed: int
    strategy: str
    strategy_options: dict[str, Any]
    role: str  # "A": it trains on the pair's source task (a source's base network); "B": on its target task
    classes: dict[str, list[int]]  # {"A": the source task's classes ([] for a checkpoint), "B": the target's}
    source: str | None  # id of the run (or checkpoint) whose first n blocks are copied
    depends_on: list[str]
    also: list[dict[str, str]] = field(default_factory=list)  # other (pair, condition, family) labels
    family: str = "other"  # random, dissimilar or other: what the split plugin declared ("other": sources/targets)
    task: str | None = None  # the named source or target it trains on (its dataset, recipe); None: a split's half

    @property
    def train_classes(self) -> list[int]:
        return self.classes[self.role]

    @property
    def labels(self) -> list[tuple[str, str]]:
        """Every (pair label, condition) this network stands for."""
        return [(self.pair, self.condition)] + [(a["pair"], a["condition"]) for a in self.also]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Run":
        """A run as plan.json or run.json holds it (files written before issue 28 with the old field names)."""
        data = {RENAMED.get(k, k): v for k, v in data.items()}
        data["also"] = [{RENAMED.get(k, k): v for k, v in a.items()} for a in data.get("also", [])]
        return cls(**data)


RENAMED = {"split": "pair", "target": "role", "split_kind": "family", "data_from": "task"}
"""Run fields as plan.json and run.json named them before one vocabulary (issue 28): old name -> new name."""


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


def _common(m: ResolvedManifest, task: str | None = None) -> dict[str, Any]:
    """What every network of a task shares: its dataset, data and training recipe, the model, the evaluation."""
    recipe = m.recipe(task)
    d = {"training": recipe.training.model_dump(mode="json"), "evaluation": recipe.evaluation.model_dump(mode="json")}
    for section, keys in NOT_IN_ID.items():
        d[section].update({k: _default(section, k) for k in keys})
    training = {k: v for k, v in d["training"].items()
                if not (k in LATER_DEFAULTS and v == _default("training", k))}
    training["schedule"] = _set_only(training["schedule"])
    dataset = {"name": recipe.dataset_name, "options": recipe.dataset[1].model_dump(mode="json")}
    return {"dataset": dataset, "data": recipe.data.model_dump(mode="json"), "model": _model_section(m),
            "training": training, "evaluation": _set_only(d["evaluation"])}


def _model_section(m: ResolvedManifest) -> dict[str, Any]:
    """The model as ids hash it: its name and its validated options (those added later only while set)."""
    return {**m.raw.model.model_dump(mode="json"), "options": _set_only(m.model[1].model_dump(mode="json"))}


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


# --- one planner: tasks, the (source, target) pairs between them, conditions by role ----------------------------


@dataclass(frozen=True)
class Task:
    """What a network trains on: a dataset's classes, with the recipe its networks share (`common`, hashed)."""

    name: str  # a source's or target's name; "A" or "B" for a split's halves
    classes: tuple[int, ...]
    common: dict[str, Any]  # the dataset, data, model, training and evaluation sections every id hashes
    data_from: str | None = None  # the source or target whose dataset it reads (None: the manifest's dataset)


@dataclass(frozen=True)
class Pair:
    """A source task transferred to a target task, with the conditions planned on it.

    A split yields one pair (its half A -> its half B); a sources/targets manifest yields every source -> every
    target. `source` is None for a checkpoint source, which enters ids as `checkpoint` (its content hash)."""

    label: str  # the split's label, or "source->target"
    kind: str  # random, dissimilar or other: what the split plugin declared ("other" for sources and targets)
    source: Task | None
    target: Task
    conditions: list[tuple[Condition, Any]]
    bases: frozenset[str]  # the roles whose base network is trained: "B" always, "A" where listed or copied from
    checkpoint: str | None = None  # a checkpoint source's id


def make_plan(m: ResolvedManifest) -> list[Run]:
    """Per seed and pair: the base networks it needs, then every pair's transfer runs at every cut point; a network
    that several pairs share (same definition, same id) is one run with several labels."""
    layers = _layers(m, _num_cut_points(m))
    runs: dict[str, Run] = {}
    transfers: list[Run] = []
    for seed, pair in grid(m):
        ids = {role: _add_base(runs, pair, role, seed) for role in ("A", "B")}
        transfers += [_transfer(pair, seed, n, cond, opts.model_dump(mode="json"), ids)
                      for n in layers for cond, opts in pair.conditions]
    for run in transfers:
        _add(runs, run)
    return list(runs.values())


def grid(m: ResolvedManifest) -> list[tuple[int, Pair]]:
    """Every (seed, pair) of the manifest, seeds outer. The one place that knows the two ways a manifest states
    its tasks: splits of one dataset, or sources and targets."""
    pairs_ = _split_pairs(m) if m.raw.splits is not None else _source_target_pairs(m)
    return [(seed, pair) for seed in m.raw.seeds for pair in pairs_]


REVERSED = "reversed"
"""A split's B -> A pair is labelled "<split label> reversed"."""


def _split_pairs(m: ResolvedManifest) -> list[Pair]:
    """A split yields two tasks, its halves of the manifest's dataset, and the pair A -> B (and B -> A where the
    manifest asks for both directions: the reverse's source is half B, its target half A)."""
    classes = _describe(m)
    common = _common(m)
    out = []
    for i, (entry, opts) in enumerate(m.splits):
        try:
            split = entry.obj.split(opts, classes)
        except UserError as exc:
            raise within(exc, f"splits.{i}", m.file) from None
        conditions = m.conditions[i] if m.conditions[i] is not None else m.default_conditions
        a, b = (Task(half, tuple(getattr(split, half)), common) for half in ("A", "B"))
        bases = _bases(m.listed_bases[i], conditions)
        ways = {"A->B": Pair(split.label, split.kind, a, b, conditions, bases),
                "B->A": Pair(f"{split.label} {REVERSED}", split.kind, b, a, conditions, bases)}
        out += [ways[d] for d in dict.fromkeys(m.raw.splits[i].directions)]  # type: ignore[index]
    return out


def _source_target_pairs(m: ResolvedManifest) -> list[Pair]:
    """Sources and targets are tasks (a checkpoint source is not trained); every source goes to every target."""
    found = pairs.tasks(m)
    tasks = {name: Task(name, t.classes, _common(m, name), name) for name, t in found.items()}
    ckpt_ids = {name: checkpoint_id(m, c) for name, c in pairs.checkpoints(m).items()}
    listed = {r[-1] for r in m.raw.conditions if isinstance(r, str) and r in BASE_CONDITIONS}
    bases = _bases(listed, m.default_conditions)
    return [Pair(p.label, "other", tasks.get(p.source), tasks[p.target], m.default_conditions,
                 bases, ckpt_ids.get(p.source)) for p in pairs.pairs_of(m.raw.model_dump())]


def _bases(listed: set[str], conditions: list[tuple[Condition, Any]]) -> frozenset[str]:
    return frozenset({"B"} | listed | {c.source for c, _ in conditions if c.source})


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


def _add(runs: dict[str, Run], run: Run) -> None:
    if run.id in runs:
        runs[run.id].also.append({"pair": run.pair, "condition": run.condition, "family": run.family})
    else:
        runs[run.id] = run


def plan_to_json(plan: list[Run]) -> list[dict[str, Any]]:
    return [r.to_dict() for r in plan]


def _pair_classes(pair: Pair) -> dict[str, list[int]]:
    """{"A": the source's classes ([] for a checkpoint), "B": the target's}: what a run records."""
    return {"A": list(pair.source.classes) if pair.source else [], "B": list(pair.target.classes)}


def _add_base(runs: dict[str, Run], pair: Pair, role: str, seed: int) -> str:
    """The id of the pair's base network in `role` (A: the source's, B: the target's own), planned if trained."""
    task = pair.source if role == "A" else pair.target
    if task is None:  # a checkpoint source: no run, its id is its content's
        assert pair.checkpoint is not None
        return pair.checkpoint
    classes = _pair_classes(pair)
    rid = run_id({**task.common, "classes": list(task.classes), "seed": seed, "strategy": "scratch"})
    if role in pair.bases:
        _add(runs, Run(rid, f"base{role}", 0, pair.label, seed, "scratch", {}, role, classes, None, [],
                       family=pair.kind, task=task.data_from))
    return rid


def _transfer(pair: Pair, seed: int, n: int, cond: Condition, options: dict[str, Any], ids: dict[str, str]) -> Run:
    """A run on the target whose first n blocks come from the source (A), the target's base (B) or nowhere."""
    source = ids[cond.source] if cond.source else None
    rid = run_id({**pair.target.common, "classes": list(pair.target.classes), "seed": seed,
                  "strategy": cond.strategy, "strategy_options": options, "n": n, "source": source})
    planned = source is not None and not (cond.source == "A" and pair.source is None)  # a checkpoint is no run
    return Run(rid, cond.name, n, pair.label, seed, cond.strategy, options, "B", _pair_classes(pair), source,
               [source] if planned and source else [], family=pair.kind, task=pair.target.data_from)


def checkpoint_id(m: ResolvedManifest, ckpt: pairs.Checkpoint) -> str:
    """A checkpoint source's id: its content (and its initialisation's), never its path, and the model it fits."""
    return run_id({"checkpoint": ckpt.sha256, "format": ckpt.format, "init": ckpt.init_sha256 or "fresh_draw",
                   "model": _model_section(m)})
