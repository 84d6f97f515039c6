"""A third-party plugin written against `benchbridge.api` alone: one object of every plugin kind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from benchbridge.api import (ClassInfo, DatasetSource, Job, Network, NoOptions, ParamGroups, Report, Run, RunRecord,
                             Split, UserError, hookimpl, open_shards, prepare_synthetic, read_index, rest_params,
                             synthetic_classes, write_text)

BENCHBRIDGE_HOOK_API = 1


class TinyOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    width: int = Field(4, ge=1, description="Channels of each convolution.")


class TinyModel:
    """Two conv blocks and a linear head, for 16x16 images."""

    name = "ex_tiny"
    Options = TinyOptions

    def create(self, name: str, options: TinyOptions, num_classes: int) -> Network:
        w = options.width
        blocks = [("c1", nn.Sequential(nn.Conv2d(3, w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))),
                  ("c2", nn.Sequential(nn.Conv2d(w, w, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                                       nn.Flatten()))]
        return Network(blocks, nn.Linear(w, num_classes))

    def cut_points(self, name: str, options: TinyOptions) -> list[str]:
        return ["c1", "c2"]

    def data_config(self, name: str, options: TinyOptions) -> dict[str, Any]:
        return {"input_size": 16, "mean": (0.5, 0.5, 0.5), "std": (0.25, 0.25, 0.25), "augmentation": "none"}


class GeneratedOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    root: Path = Field(description="Where the generated shards go.")


class Generated:
    """Four generated classes of 16x16 images."""

    name = "ex_generated"
    Options = GeneratedOptions

    def describe(self, options: GeneratedOptions) -> list[ClassInfo]:
        return synthetic_classes(4)

    def open(self, options: GeneratedOptions) -> DatasetSource:
        if read_index(options.root) is None:
            prepare_synthetic(options.root, num_classes=4, image_size=16, train_per_class=8, val_per_class=4,
                              seed=3, shard_size=64)
        return open_shards(options.root, self.name)


class EvenOdd:
    """Even classes in A, odd classes in B."""

    name = "ex_even_odd"
    Options = NoOptions

    def split(self, options: NoOptions, classes: list[ClassInfo]) -> Split:
        if len(classes) < 2:
            raise UserError("needs two classes at least.", key="options")
        idx = [c.index for c in classes]
        return Split("even->odd", tuple(i for i in idx if i % 2 == 0), tuple(i for i in idx if i % 2),
                     kind="dissimilar")


class ReinitFrozen:
    """Freeze the first n blocks at their random initialisation."""

    name = "ex_random_frozen"
    Options = NoOptions
    copies = False

    def prepare(self, net: Network, n: int, source: Any, options: NoOptions) -> ParamGroups:
        net.freeze_prefix(n)
        return [{"params": rest_params(net, n), "lr_mult": 1.0}]


class Backwards:
    """Runs the plan here, and records which runs it trained and what their contexts said."""

    name = "ex_backwards"
    Options = NoOptions
    seen: list[tuple[str, int, int]] = []

    def execute(self, job: Job, options: NoOptions) -> None:
        for run in job.pending():
            context = job.context(run)
            job.run_one(run, context)
            assert context.checkpoint_now() is False  # the run is over: nothing to save
            Backwards.seen.append((run.id, context.rank, context.world_size))


class CountReporter:
    """A text file with the number of finished runs per grid."""

    name = "ex_count"
    Options = NoOptions

    def report(self, report: Report, out: Path, options: NoOptions) -> Path:
        path = out / "count.txt"
        write_text(path, "".join(f"{g.grid.name} {g.cost.done}\n" for g in report.grids))
        return path


class MemoryLogger:
    """An experiment tracker that keeps what it was given in memory: (run id, event, payload)."""

    name = "ex_memory"
    Options = NoOptions
    events: list[tuple[str, str, Any]] = []

    def start(self, run: Run, run_dir: Path, manifest: dict[str, Any], options: NoOptions) -> MemoryRunLogger:
        MemoryLogger.events.append((run.id, "manifest", manifest["name"]))
        return MemoryRunLogger(run.id)


class MemoryRunLogger:
    def __init__(self, run_id: str) -> None:
        self.run_id = run_id

    def log_step(self, iteration: int, values: dict[str, float]) -> None:
        MemoryLogger.events.append((self.run_id, "step", iteration))

    def log_evaluation(self, point: dict[str, Any]) -> None:
        MemoryLogger.events.append((self.run_id, "evaluation", point["top1"]))

    def log_record(self, record: RunRecord) -> None:
        MemoryLogger.events.append((self.run_id, "record", record.top1))

    def close(self) -> None:
        MemoryLogger.events.append((self.run_id, "close", None))


@hookimpl
def register_models(register: Any) -> None:
    register(TinyModel())


@hookimpl
def register_datasets(register: Any) -> None:
    register(Generated())


@hookimpl
def register_splits(register: Any) -> None:
    register(EvenOdd())


@hookimpl
def register_strategies(register: Any) -> None:
    register(ReinitFrozen())


@hookimpl
def register_executors(register: Any) -> None:
    register(Backwards())


@hookimpl
def register_reporters(register: Any) -> None:
    register(CountReporter())


@hookimpl
def register_loggers(register: Any) -> None:
    register(MemoryLogger())
