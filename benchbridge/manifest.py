"""Manifests: YAML files validated by pydantic (extra keys forbidden everywhere), plus key=value overrides."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError, model_validator

from benchbridge import registry
from benchbridge.errors import UserError, within
from benchbridge.manifest_file import apply_overrides, read_yaml
from benchbridge.sources import SourceSpec, TargetSpec, check_layout


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Component(Strict):
    """A plugin by name, with the options that plugin validates itself."""

    name: str
    options: dict[str, Any] = Field(default_factory=dict)


class Condition(Strict):
    """A transfer condition: where the first n blocks come from and how they are treated."""

    name: str
    source: Literal["A", "B"] | None = Field(description="Whose base network gives the blocks: A, the pair's "
                                             "source; B, the target's own; null: none (random blocks).")
    strategy: str
    options: dict[str, Any] = Field(default_factory=dict)


BUILTIN_CONDITIONS: dict[str, Condition] = {
    c.name: c
    for c in (
        Condition(name="BnB", source="B", strategy="frozen"),
        Condition(name="BnB+", source="B", strategy="finetune"),
        Condition(name="AnB", source="A", strategy="frozen"),
        Condition(name="AnB+", source="A", strategy="finetune"),
        Condition(name="random_frozen", source=None, strategy="random_frozen"),
    )
}
BASE_CONDITIONS = ("baseA", "baseB")
CONDITION_ORDER = (*BASE_CONDITIONS, *BUILTIN_CONDITIONS)
"""The conditions in the paper's order: every table, figure and listing sorts by it (custom ones last)."""


def condition_key(condition: str) -> tuple[int, str]:
    """Sort key: the paper's conditions in CONDITION_ORDER, then custom conditions by name."""
    if condition in CONDITION_ORDER:
        return CONDITION_ORDER.index(condition), ""
    return len(CONDITION_ORDER), condition

ConditionRef = str | Condition


class SplitSpec(Component):
    conditions: list[ConditionRef] | None = Field(
        None, description="Conditions for this split only (default: the manifest's conditions).")
    directions: list[Literal["A->B", "B->A"]] = Field(
        ["A->B"], min_length=1, description="Which way to transfer between the halves: A->B (the source half A to "
        "the target half B), and B->A for the reverse too (the paper reports both, AnB and BnA). A reversed pair is "
        "labelled '<split> reversed'; its base networks are the forward pair's, with their roles swapped.")


PLATEAU_DEFAULTS = {"factor": 0.1, "patience": 3, "min_delta": 0.0, "drops": 2}


class Schedule(Strict):
    name: Literal["step", "constant", "cosine", "plateau"] = "step"
    step_size: int | None = Field(None, ge=1, description="Step schedule: decay every this many epochs "
                                  "(or iterations, when training.iterations is set).")
    gamma: float = Field(0.1, gt=0, le=1)
    factor: float | None = Field(None, gt=0, lt=1, description="Plateau: multiply the learning rate by this when "
                                 "the holdout top-1 has stopped improving (default 0.1).")
    patience: int | None = Field(None, ge=1, description="Plateau: evaluations without an improvement of "
                                 "min_delta before the rate drops (default 3).")
    min_delta: float | None = Field(None, ge=0, description="Plateau: holdout top-1 gain that counts as an "
                                    "improvement (default 0).")
    drops: int | None = Field(None, ge=0, description="Plateau: rate drops before training stops at the next "
                              "plateau (default 2); training.epochs/iterations stays the cap.")

    @model_validator(mode="after")
    def _plateau_keys(self) -> "Schedule":
        given = [k for k in PLATEAU_DEFAULTS if getattr(self, k) is not None]
        if self.name != "plateau" and given:
            raise ValueError(f"{', '.join(given)} apply to the plateau schedule only")
        if self.name == "plateau":
            for k, v in PLATEAU_DEFAULTS.items():
                if getattr(self, k) is None:
                    setattr(self, k, v)
        return self


class Training(Strict):
    optimizer: Literal["sgd", "adamw"] = "sgd"
    lr: float = Field(0.01, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(0.0005, ge=0)
    batch_size: int = Field(256, ge=1)
    epochs: int | None = Field(None, ge=1)
    iterations: int | None = Field(None, ge=1)
    schedule: Schedule = Field(default_factory=Schedule)
    precision: Literal["fp32", "bf16"] = Field("fp32", description="bf16: forward and loss under bf16 autocast.")
    channels_last: bool = Field(False, description="Keep the network and its inputs in channels-last layout.")
    compile: bool = Field(False, description="Compile the network with torch.compile.")
    cudnn_benchmark: bool = Field(False, description="Let cuDNN pick the fastest convolution algorithms.")
    accumulation: int = Field(1, ge=1, description="Split each batch into this many micro-batches (same "
                              "images per optimizer step, less memory).")
    checkpoint_every: int | None = Field(None, ge=1, description="Save a resumable checkpoint every this many "
                                         "iterations (it is also saved on SIGTERM/SIGUSR1/SIGUSR2).")
    abort_if_no_learning: float | None = Field(
        None, gt=0, le=1, description="After this fraction of its iterations, stop a run that shows no learning "
        "(the health rules of README's Reliability section, on the evaluation then): its health is no_learning.")

    @model_validator(mode="after")
    def _one_length(self) -> "Training":
        if (self.epochs is None) == (self.iterations is None):
            raise ValueError("set exactly one of 'epochs' or 'iterations'")
        return self


class Evaluation(Strict):
    every: int | None = Field(None, ge=1, description="Evaluate every this many iterations "
                              "(default: after each epoch).")
    best_k: int = Field(1, ge=1, description="Also report the mean of the best k evaluations (the paper: 10).")
    batch_size: int | None = Field(None, ge=1)
    holdout: float | None = Field(
        None, gt=0, lt=1, description="Hold out about this fraction of each class's training images (chosen by a "
        "hash of the sample key), never trained on: the plateau schedule and the convergence check use it.")


class Execution(Strict):
    executor: Component = Field(default_factory=lambda: Component(name="local"))
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int | None = Field(None, ge=1, description="torch CPU threads per run (default: torch's choice; "
                                "1 when several workers run at once).")
    workers: PositiveInt | Literal["auto"] = Field(
        1, description="CPU runs trained at the same time, each in its own worker process (the local executor, "
        "device cpu). 'auto': one per CPU core. Results do not depend on it (for a fixed `threads`).")
    num_workers: int = Field(0, ge=0, description="Data-loading worker processes per run.")
    cache_data: bool = Field(False, description="Keep decoded images in memory after a run's first pass "
                             "(small datasets trained many times over).")
    save_weights: Literal["sources", "all"] = Field(
        "sources", description="sources: weights of the base networks and of the AnB+ (or BnB+) network that "
        "`benchbridge analyze` compares (with its initialisation, init.pt); all: every run.")
    on_unhealthy: Literal["block", "train"] = Field(
        "block", description="block: runs that copy from a diverged or non-learning run are not trained (shown as "
        "blocked); train: train them anyway (smoke tests). Either way `run` exits with status 3.")
    nproc_per_node: int = Field(1, ge=1, description="Processes (GPUs) per run: >1 trains each run with DDP "
                                "launched by torchrun; training.batch_size stays the images per optimizer step.")
    loggers: list[Component] = Field(default_factory=list, description="Experiment trackers (logger plugins, "
                                     "e.g. tensorboard) that receive each run's losses, evaluations and record.")


class Data(Strict):
    """How the training data is read: augmentation preset, decode device, corrupt samples, reduced data."""

    augmentation: Literal["auto", "paper", "timm", "none"] = Field(
        "auto", description="auto: the model plugin's default (paper for CaffeNet); paper: random crop of the "
        "stored image + mirror; timm: RandomResizedCrop + flip; none: centre crop only.")
    decode: Literal["auto", "cpu", "gpu"] = Field(
        "auto", description="Where JPEGs are decoded: gpu = torchvision.io.decode_jpeg on CUDA, batched; "
        "auto: gpu when training on CUDA.")
    pipeline: Literal["auto", "torch", "dali"] = Field(
        "auto", description="The input pipeline: torch (the shard loader, CPU workers; see decode), dali (NVIDIA "
        "DALI, nvJPEG on the GPU; pip install 'benchbridge[dali]'); auto: dali when installed and training on CUDA.")
    skip_corrupt: bool = Field(False, description="Skip undecodable samples (counted in metrics.json as "
                               "skipped_samples) instead of stopping with an error naming shard and key.")
    images_per_class: int | None = Field(
        None, ge=1, description="Train on the first k images of each class (a fixed subset; the paper's "
        "1300/1000/750/500/250 control).")


class Manifest(Strict):
    name: str
    description: str = ""
    output_dir: str
    dataset: Component | None = Field(None, description="The dataset (required with splits; with targets, the "
                                      "default of every source and target that names none).")
    model: Component
    splits: list[SplitSpec] | None = Field(None, min_length=1, description="The paper's A/B halves of the "
                                           "dataset (or give sources and targets instead).")
    sources: list[SourceSpec] | None = Field(None, min_length=1, description="Source networks (with targets).")
    targets: list[TargetSpec] | None = Field(None, min_length=1, description="Target tasks: every source is "
                                             "transferred to every target (instead of splits).")
    conditions: list[ConditionRef] = Field(default_factory=lambda: list(BUILTIN_CONDITIONS))
    layers: list[int] | None = Field(None, description="Values of n (default: every cut point).")
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    training: Training
    evaluation: Evaluation = Field(default_factory=Evaluation)
    execution: Execution = Field(default_factory=Execution)
    data: Data = Field(default_factory=Data)


def load_manifest(path: str | Path, overrides: list[str] | None = None) -> "ResolvedManifest":
    """Read, override, validate (the manifest and every plugin's options) and resolve defaults."""
    path = Path(path)
    data = apply_overrides(read_yaml(path), overrides or [], str(path))
    return resolve(data, str(path))


def resolve(data: dict[str, Any], file: str | None = None) -> "ResolvedManifest":
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        raise UserError(registry.format_validation_error(exc), file=file,
                        hint="See `benchbridge schema` for every key.") from None
    return ResolvedManifest(manifest, file)


@dataclass(frozen=True)
class Recipe:
    """What one task's networks train with, merged once when the manifest is resolved: its dataset (validated
    options), data (its images_per_class), training (its own keys over the manifest's) and evaluation."""

    dataset_name: str
    dataset: tuple[registry.Entry, BaseModel]
    data: Data
    training: Training
    evaluation: Evaluation
    key: str  # where the manifest states the task's dataset, for error messages ("dataset", "targets.2.dataset")
    label: str = "the dataset"  # the task in messages: "the dataset" (a split's halves), "target 'x'", "source 'x'"
    per_class_key: str = "data.images_per_class"  # where its images_per_class is stated


class ResolvedManifest:
    """A validated manifest whose plugin options are validated too, with every default filled in."""

    def __init__(self, manifest: Manifest, file: str | None) -> None:
        self.file = file
        self.raw = manifest
        check_layout(manifest, file)
        self.dataset = (self._component("dataset", manifest.dataset, "dataset")
                        if manifest.dataset is not None else None)
        self.model = self._component("model", manifest.model, "model")
        self.executor = self._component("executor", manifest.execution.executor, "execution.executor")
        self.loggers = [self._component("logger", c, f"execution.loggers.{i}")
                        for i, c in enumerate(manifest.execution.loggers)]
        self.splits = [self._component("split", s, f"splits.{i}") for i, s in enumerate(manifest.splits or [])]
        self.conditions = [self._conditions(s.conditions, f"splits.{i}.conditions")
                           if s.conditions is not None else None for i, s in enumerate(manifest.splits or [])]
        self.default_conditions = self._conditions(manifest.conditions, "conditions")
        # the halves whose base network is listed as a condition (trained even when nothing copies from it)
        self.listed_bases = [{r[-1] for r in (s.conditions if s.conditions is not None else manifest.conditions)
                              if isinstance(r, str) and r in BASE_CONDITIONS} for s in manifest.splits or []]
        self.task_datasets = self._task_datasets()  # source/target name -> its dataset (sources and targets)
        self.task_training = self._task_training()  # source/target name -> its training recipe
        self.recipes = self._recipes()  # None: the manifest's own (splits); a source's or target's name: its own
        if manifest.training.schedule.name == "plateau" and manifest.evaluation.holdout is None:
            raise UserError("the plateau schedule decides on held-out training images, and evaluation.holdout "
                            "is not set.", file=file, key="evaluation.holdout",
                            hint="Set evaluation.holdout (e.g. 0.1): never the validation images top-1 is "
                                 "reported on.")

    def _component(self, kind: str, comp: Component, key: str) -> tuple[registry.Entry, BaseModel]:
        entry = registry.get(kind, comp.name, key=f"{key}.name", file=self.file)
        return entry, registry.validate_options(entry, comp.options, key=f"{key}.options", file=self.file)

    def _conditions(self, refs: list[ConditionRef], key: str) -> list[tuple[Condition, BaseModel]]:
        out = []
        self._check_names(refs, key)
        for i, ref in enumerate(refs):
            if isinstance(ref, str):
                if ref in BASE_CONDITIONS:
                    continue  # see listed_bases (baseB is always trained)
                if ref not in BUILTIN_CONDITIONS:
                    choices = ", ".join([*BASE_CONDITIONS, *BUILTIN_CONDITIONS])
                    raise UserError(f"unknown condition '{ref}'. Valid choices: {choices}, or a mapping with "
                                    "name, source and strategy.", file=self.file, key=f"{key}.{i}")
                ref = BUILTIN_CONDITIONS[ref]
            entry = registry.get("strategy", ref.strategy, key=f"{key}.{i}.strategy", file=self.file)
            if ref.source is None and entry.obj.copies:
                raise UserError(f"strategy '{ref.strategy}' copies blocks, so the condition needs a source "
                                "(A or B).", file=self.file, key=f"{key}.{i}.source")
            opts = registry.validate_options(entry, ref.options, key=f"{key}.{i}.options", file=self.file)
            self._check_against_model(entry.obj, opts, f"{key}.{i}")
            out.append((ref, opts))
        return out

    def _check_against_model(self, strategy: Any, options: BaseModel, key: str) -> None:
        """A strategy's optional `check(options, blocks)`: options that depend on the model's number of blocks."""
        check = getattr(strategy, "check", None)
        if check is None:
            return
        entry, opts = self.model
        try:
            check(options, len(entry.obj.cut_points(self.raw.model.name, opts)))
        except UserError as exc:
            raise within(exc, key, self.file) from None

    def _check_names(self, refs: list[ConditionRef], key: str) -> None:
        """A condition's name labels its runs in tables and figures: one name, one definition."""
        seen: dict[str, int] = {}
        for i, ref in enumerate(refs):
            name = ref if isinstance(ref, str) else ref.name
            builtin = BUILTIN_CONDITIONS.get(name)
            if isinstance(ref, Condition) and (name in BASE_CONDITIONS or (builtin is not None and ref != builtin)):
                raise UserError(f"condition '{name}' is a built-in condition's name with another definition: its runs "
                                "would be labelled as the paper's.", file=self.file, key=f"{key}.{i}.name",
                                hint="Give it a name of its own (e.g. surgical-3), or write the built-in by name.")
            if name in seen:
                raise UserError(f"condition '{name}' is listed twice ({key}.{seen[name]} and {key}.{i}); a name labels "
                                "one condition in tables and figures.", file=self.file, key=f"{key}.{i}.name",
                                hint="Give each condition its own name, e.g. surgical-3 and surgical-5.")
            seen[name] = i

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickles (for worker processes and cluster jobs) as its resolved dict, validated again once on load."""
        return resolve, (self.to_dict(), self.file)

    def _tasks(self) -> list[tuple[str, SourceSpec | TargetSpec]]:
        """Every trained source and every target, with its manifest key (e.g. "targets.2")."""
        return [(f"{kind}.{i}", spec) for kind in ("sources", "targets")
                for i, spec in enumerate(getattr(self.raw, kind) or []) if getattr(spec, "trained", True)]

    def _task_datasets(self) -> dict[str, tuple[registry.Entry, BaseModel]]:
        """Each trained source's and each target's dataset, its options validated (its own, else the manifest's)."""
        out = {}
        for key, spec in self._tasks():
            if spec.dataset is not None:
                out[spec.name] = self._component("dataset", spec.dataset, f"{key}.dataset")
            elif self.dataset is not None:
                out[spec.name] = self.dataset
            else:
                raise UserError(f"{key.split('.')[0][:-1]} '{spec.name}' names no dataset and the manifest has none.",
                                file=self.file, key=f"{key}.dataset",
                                hint="Give it a dataset (name and options), or set the manifest's dataset.")
        return out

    def _task_training(self) -> dict[str, Training]:
        """Each trained source's and target's training: the manifest's, with the keys it sets replaced."""
        out = {}
        for key, spec in self._tasks():
            out[spec.name] = self.raw.training
            if not spec.training:
                continue
            base = self.raw.training.model_dump(exclude_unset=True)
            if {"epochs", "iterations"} & set(spec.training):
                base.pop("epochs", None), base.pop("iterations", None)
            try:
                out[spec.name] = Training.model_validate({**base, **spec.training})
            except ValidationError as exc:
                raise UserError(registry.format_validation_error(exc, f"{key}.training"), file=self.file,
                                hint="Its keys are those of training.") from None
            if out[spec.name].schedule.name == "plateau" and self.raw.evaluation.holdout is None:
                raise UserError("the plateau schedule needs evaluation.holdout, which is not set.", file=self.file,
                                key=f"{key}.training.schedule", hint="Set evaluation.holdout (e.g. 0.1).")
        return out

    def _recipes(self) -> dict[str | None, Recipe]:
        out: dict[str | None, Recipe] = {}
        if self.raw.dataset is not None and self.dataset is not None:
            out[None] = Recipe(self.raw.dataset.name, self.dataset, self.raw.data, self.raw.training,
                               self.raw.evaluation, "dataset")
        for key, spec in self._tasks():
            given = spec.dataset if spec.dataset is not None else self.raw.dataset
            assert given is not None  # _task_datasets refused a task without one
            per_class = spec.images_per_class or self.raw.data.images_per_class
            data = self.raw.data.model_copy(update={"images_per_class": per_class})
            out[spec.name] = Recipe(given.name, self.task_datasets[spec.name], data, self.task_training[spec.name],
                                    self.raw.evaluation, f"{key}.dataset", f"{key.split('.')[0][:-1]} '{spec.name}'",
                                    f"{key}.images_per_class" if spec.images_per_class is not None
                                    else "data.images_per_class")
        return out

    def recipe(self, task: str | None) -> Recipe:
        """The recipe of a run's task (`Run.task`: None for a split's halves, else a source's or target's)."""
        return self.recipes[task]

    def to_dict(self) -> dict[str, Any]:
        """The manifest with every default and every plugin option filled in (saved with the results)."""
        data = self.raw.model_dump(mode="json")
        if self.dataset is not None:
            data["dataset"]["options"] = self.dataset[1].model_dump(mode="json")
        data["model"]["options"] = self.model[1].model_dump(mode="json")
        data["execution"]["executor"]["options"] = self.executor[1].model_dump(mode="json")
        for i, (_, opts) in enumerate(self.loggers):
            data["execution"]["loggers"][i]["options"] = opts.model_dump(mode="json")
        for i, (_, opts) in enumerate(self.splits):
            data["splits"][i]["options"] = opts.model_dump(mode="json")
        for kind in ("sources", "targets"):
            for spec in data.get(kind) or []:
                if spec.get("dataset") is not None:
                    spec["dataset"]["options"] = self.task_datasets[spec["name"]][1].model_dump(mode="json")
        return data

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


def json_schema() -> dict[str, Any]:
    """JSON schema of the manifest (plugin options are described by each plugin: see `benchbridge plugins`)."""
    return Manifest.model_json_schema()
