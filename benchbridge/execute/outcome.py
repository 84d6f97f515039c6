"""A finished run's record: what the trainer measured, assembled into the typed `RunRecord`, with its cost."""

from __future__ import annotations

import platform
import resource
import sys
from dataclasses import dataclass
from typing import Any

import torch

from benchbridge.execute.checkpoint import LoopState, TrainLog
from benchbridge.plan import Run
from benchbridge.results.record import SCHEMA_VERSION, RunRecord


@dataclass
class Outcome:
    """Everything the record says about one trained network, as the trainer hands it over."""

    run: Run
    cut_points: list[str]
    best_k: int
    loop: LoopState
    log: TrainLog
    decoded: int  # over every rank
    trainable_params: int
    wall_s: float
    health: tuple[str, str | None]  # (state, reason)
    stop_reason: str
    planned_iterations: int
    lr_drops: int
    device: torch.device
    world: int
    precision: str


def to_record(o: Outcome) -> RunRecord:
    """The run's record (a key the record does not declare is a bug: it fails here, before anything is written)."""
    return RunRecord.model_validate({**_identity(o), **_result(o), **_cost(o)})


def _identity(o: Outcome) -> dict[str, Any]:
    run, cuts = o.run, o.cut_points
    return {"schema_version": SCHEMA_VERSION, "run_id": run.id, "condition": run.condition, "n": run.n,
            "cut_point": cuts[run.n - 1] if 0 < run.n <= len(cuts) else None, "cut_points": len(cuts),
            "pair": run.pair, "family": run.family, "seed": run.seed, "source": run.source}


def _result(o: Outcome) -> dict[str, Any]:
    curve, final = o.log.curve, o.log.curve[-1]
    k = min(o.best_k, len(curve))
    best = sorted((p.top1 for p in curve), reverse=True)[:k]
    held = {key: getattr(final, key) for key in ("holdout_top1", "holdout_top5", "holdout_images")
            if getattr(final, key) is not None}
    return {"top1": final.top1, "top5": final.top5, "top1_best_k": sum(best) / k, "best_k": k,
            "iterations": o.loop.it, "images_seen": o.loop.images, "trainable_params": o.trainable_params,
            "skipped_samples": o.log.skipped, "health": o.health[0], "health_reason": o.health[1],
            "stop_reason": o.stop_reason, "stopped_at": o.loop.it, "planned_iterations": o.planned_iterations,
            "lr_drops": o.lr_drops, **held, "curve": curve}


def _cost(o: Outcome) -> dict[str, Any]:
    timing = o.log.timing
    train_s = timing["data_s"] + timing["compute_s"]
    return {"wall_time_s": o.wall_s, **timing, "images_per_s": o.loop.images / train_s if train_s else 0.0,
            "images_decoded": o.decoded, **cost(o.device, o.wall_s, o.world), "device": str(o.device),
            "precision": o.precision, "torch": torch.__version__}


def cost(device: torch.device, wall_s: float, world: int) -> dict[str, Any]:
    """Device-hours (wall time x devices), peak memory (GPU: max allocated; CPU: process peak RSS), device name."""
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device)
        name = torch.cuda.get_device_name(device)
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)
        name = platform.processor() or platform.machine() or "cpu"
    return {"devices": world, "device_hours": wall_s * world / 3600, "peak_memory_bytes": int(peak),
            "device_name": name}
