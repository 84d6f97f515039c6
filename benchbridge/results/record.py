"""What one finished run produced: a typed, schema-versioned record, written as metrics.json and validated on read.

The fields fall in three groups (`IDENTITY`, `OUTCOME`, `COST`); `export` writes them in that order. Fields that
a newer benchbridge fills in and an older file lacks are optional. Version 1 files (no `schema_version`, written
before the record was typed) are read by filling what the plan knows and leaving the rest empty; version 1 and 2
files' `split` and `split_kind` are read as `pair` and `family`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from benchbridge.errors import UserError
from benchbridge.results import store
from benchbridge.results.store import parse_json_bytes, strict

SCHEMA_VERSION = 3
"""Bumped when a field is renamed, removed or changes meaning (adding an optional field does not bump it)."""


class CurvePoint(BaseModel):
    """One evaluation during training."""

    model_config = ConfigDict(extra="forbid")

    iteration: int
    epoch: int
    train_loss: float | None = Field(None, description="Mean training loss of the last batch before this evaluation "
                                     "(null when not finite: `train_loss_nonfinite` says nan or inf).")
    train_loss_nonfinite: str | None = None
    lr: float = Field(description="Base learning rate at the last step (before per-group multipliers).")
    top1: float
    top5: float
    val_loss: float | None = None
    val_loss_nonfinite: str | None = None
    val_images: int
    holdout_top1: float | None = Field(None, description="Top-1 on the held-out training images "
                                       "(evaluation.holdout), which the plateau schedule decides on.")
    holdout_top5: float | None = None
    holdout_loss: float | None = None
    holdout_loss_nonfinite: str | None = None
    holdout_images: int | None = None


class RunRecord(BaseModel):
    """metrics.json: identity, outcome and cost of one trained network."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = SCHEMA_VERSION
    # identity
    run_id: str
    condition: str
    n: int = Field(description="Blocks copied or frozen; 0 for base networks.")
    cut_point: str | None = Field(None, description="Name of block n (the last one copied); None for n=0.")
    cut_points: int | None = Field(None, description="How many cut points the model has.")
    pair: str = Field(description="The label of the (source -> target) pair it belongs to: a split's label, e.g. "
                      "random-s0 or manmade->natural, or source->target.")
    family: str | None = Field(None, description="What the split plugin declared its halves to be: random, "
                               "dissimilar or other (other: sources and targets).")
    seed: int
    source: str | None = Field(None, description="Run id of the network the first n blocks come from.")
    init_origin: Literal["trained", "file", "fresh_draw"] | None = Field(
        None, description="A source network's initialisation (init.pt beside weights.pt): trained (benchbridge "
        "trained it from that init.pt), file (a checkpoint source's init file), fresh_draw (drawn from the model's "
        "own initialiser: the checkpoint's true one is unknown).")
    # outcome
    top1: float
    top5: float
    top1_best_k: float
    best_k: int
    iterations: int
    images_seen: int
    trainable_params: int | None = None
    skipped_samples: int = 0
    images_decoded: int | None = Field(None, description="Images the loader decoded (all epochs, all ranks, and "
                                       "every attempt of a resumed run: a cost, not a result).")
    health: Literal["ok", "diverged", "no_learning"] | None = None
    health_reason: str | None = None
    stop_reason: str | None = Field(None, description="budget (planned iterations done), plateau, diverged or "
                                    "no_learning.")
    stopped_at: int | None = Field(None, description="Iteration the run stopped at.")
    planned_iterations: int | None = Field(None, description="The iteration budget (the cap, with plateau).")
    lr_drops: int | None = Field(None, description="Learning-rate drops made by the plateau schedule.")
    holdout_top1: float | None = None
    holdout_top5: float | None = None
    holdout_images: int | None = None
    curve: list[CurvePoint] = Field(default_factory=list)
    # cost
    wall_time_s: float
    data_s: float | None = None
    compute_s: float | None = None
    eval_s: float | None = None
    images_per_s: float | None = None
    devices: int | None = None
    device_hours: float | None = Field(None, description="Wall time x devices, in hours.")
    peak_memory_bytes: int | None = None
    device: str | None = None
    device_name: str | None = None
    precision: str | None = None
    torch: str | None = None

    def hours(self) -> float:
        """Device-hours as recorded, or wall time in hours (one device) when the run did not record them."""
        return self.device_hours if self.device_hours is not None else self.wall_time_s / 3600

    def to_json(self) -> dict[str, Any]:
        """Strict JSON values: a non-finite loss becomes null with `<key>_nonfinite` beside it."""
        return strict(self.model_dump(exclude_none=True))


IDENTITY = ("run_id", "condition", "n", "cut_point", "cut_points", "pair", "family", "seed", "source",
            "init_origin")
OUTCOME = ("top1", "top5", "top1_best_k", "best_k", "iterations", "images_seen", "trainable_params",
           "skipped_samples", "health", "health_reason", "stop_reason", "stopped_at", "planned_iterations", "lr_drops",
           "holdout_top1", "holdout_top5", "holdout_images")
COST = ("wall_time_s", "data_s", "compute_s", "eval_s", "images_per_s", "images_decoded", "devices", "device_hours",
        "peak_memory_bytes", "device", "device_name", "precision", "torch")
assert set(IDENTITY + OUTCOME + COST + ("schema_version", "curve")) == set(RunRecord.model_fields)


RENAMED = {"split": "pair", "split_kind": "family"}
"""Record fields renamed by schema version 3: old name -> new name."""


def parse_record(data: dict[str, Any], file: str | Path, defaults: dict[str, Any] | None = None) -> RunRecord:
    """Validate a record; a version 1 dict gets `defaults` (what the plan knows) for the fields it lacks."""
    version = data.get("schema_version", 1)
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise UserError(f"this run's record has schema version {version}; this benchbridge reads versions 1 to "
                        f"{SCHEMA_VERSION}.", file=str(file), hint="Upgrade benchbridge to read it.")
    stated = f"of schema version {version}" if "schema_version" in data else (
        f"(it has no schema_version, so it was read as version 1; this benchbridge writes version {SCHEMA_VERSION})")
    if version == 1:
        data = {**(defaults or {}), **data, "schema_version": SCHEMA_VERSION}
    if version < 3:  # version 3 renamed split -> pair and split_kind -> family (issue 28's one vocabulary)
        data = {RENAMED.get(k, k): v for k, v in data.items()} | {"schema_version": SCHEMA_VERSION}
    try:
        return RunRecord.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
        raise UserError(f"not a valid run record {stated}: {problems}.", file=str(file),
                        hint="Was it written by another tool, or edited? Delete it to train the run again.") from None


def write_record(folder: Path, record: RunRecord) -> None:
    """Write the run's metrics.json into its folder, atomically (the last file a finished run writes)."""
    store.write_json(folder / store.METRICS_FILE, record.to_json())


DAMAGED_SUFFIX = ".damaged"
"""`benchbridge run` keeps a damaged metrics.json beside its run as metrics.json.damaged and trains the run again."""
RETRAIN_HINT = ("`benchbridge run` with the same manifest trains this run again (keeping the damaged file as "
                f"metrics.json{DAMAGED_SUFFIX}).")


class BrokenRecord(UserError):
    """A metrics.json that cannot be read as a run record. `damaged`: its bytes are not a JSON object (a disk error,
    a bad copy) or not a valid record of a schema version this benchbridge reads (edited, another tool), so
    `benchbridge run` sets it aside and trains the run again; otherwise it is a record of a newer schema version,
    left for a newer benchbridge."""

    def __init__(self, message: str, *, file: str, damaged: bool, hint: str | None = None) -> None:
        super().__init__(message, file=file, hint=hint)
        self.damaged = damaged

    def __reduce__(self) -> Any:  # keyword-only arguments: pickle it by its parts (worker processes)
        return _rebuild, (self.detail, self.file, self.damaged, self.hint)


def _rebuild(message: str, file: str, damaged: bool, hint: str | None) -> "BrokenRecord":
    return BrokenRecord(message, file=file, damaged=damaged, hint=hint)


def read_record(path: Path, defaults: dict[str, Any] | None = None) -> RunRecord:
    """Read and validate metrics.json (see `parse_record`); any bytes give a record or a BrokenRecord."""
    try:
        data = parse_json_bytes(path.read_bytes(), "metrics.json")
    except ValueError as exc:
        raise BrokenRecord(f"{exc}.", file=str(path), damaged=True, hint=RETRAIN_HINT) from None
    if not isinstance(data, dict):
        raise BrokenRecord("metrics.json does not hold a run record (not a JSON object).", file=str(path),
                           damaged=True, hint=RETRAIN_HINT)
    try:
        return parse_record(data, path, defaults)
    except UserError as exc:
        version = data.get("schema_version", 1)
        readable = not (isinstance(version, int) and version > SCHEMA_VERSION)
        # a version this benchbridge reads, of the wrong shape: damaged like any other (set aside, trained again);
        # a newer version is left for a newer benchbridge
        raise BrokenRecord(exc.detail, file=str(path), damaged=readable,
                           hint=RETRAIN_HINT if readable else exc.hint) from None

