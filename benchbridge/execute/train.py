"""Train and evaluate one network of the plan, and write its results atomically."""

from __future__ import annotations

import math
import platform
import resource
import signal
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from benchbridge import registry, store
from benchbridge.record import SCHEMA_VERSION, RunRecord
from benchbridge.data.base import DatasetSource
from benchbridge.errors import UserError
from benchbridge.data.augment import normalise, resolve_preset
from benchbridge.data.dali import available as dali_available
from benchbridge.data.dali import make_dali_loader
from benchbridge.data.loader import ShardLoader, make_loader
from benchbridge.data.loader import count_samples as count_kept
from benchbridge.data.holdout import Holdout
from benchbridge.execute import checkpoint, distributed, health
from benchbridge.execute.context import RunContext
from benchbridge.execute.devices import check_batch_split
from benchbridge.manifest import Evaluation, ResolvedManifest, Training
from benchbridge.models.base import Network
from benchbridge.plan import Run


@dataclass
class RunSetup:
    """Everything a run needs beyond its plan entry."""

    manifest: ResolvedManifest
    dataset: DatasetSource
    output_dir: Path
    device: torch.device


def seed_of(run: Run) -> int:
    """Initialisation and data-order seed: the manifest seed mixed with the run id, so reruns are identical."""
    return (run.seed * 1_000_003 + int(run.id, 16)) % (2**31 - 1)


def initial_network(run: Run, setup: RunSetup) -> Network:
    """The run's random initialisation, before a strategy copies any block into it."""
    torch.manual_seed(seed_of(run))
    entry, opts = setup.manifest.model
    return entry.obj.create(setup.manifest.raw.model.name, opts, len(run.train_classes))


def build_network(run: Run, setup: RunSetup) -> tuple[Network, list[dict[str, Any]]]:
    net = initial_network(run, setup)
    strategy = registry.get("strategy", run.strategy)
    s_opts = registry.validate_options(strategy, run.strategy_options, key="conditions.options")
    source = None
    if run.source:
        source = torch.load(store.run_dir(setup.output_dir, run.source) / store.WEIGHTS_FILE,
                            map_location="cpu", weights_only=True)
    groups = strategy.obj.prepare(net, run.n, source, s_opts)
    return net.to(setup.device), groups


def make_optimizer(groups: list[dict[str, Any]], t: Training) -> torch.optim.Optimizer:
    params = [{"params": g["params"], "lr": t.lr * g["lr_mult"], "lr_mult": g["lr_mult"]} for g in groups]
    if t.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=t.lr, weight_decay=t.weight_decay)
    return torch.optim.SGD(params, lr=t.lr, momentum=t.momentum, weight_decay=t.weight_decay)


def lr_factor(t: Training, it: int, total: int, iters_per_epoch: int) -> float:
    """The schedule's factor at iteration `it` (plateau: 1; its drops are the Trainer's `Plateau.scale`)."""
    s = t.schedule
    if s.name in ("constant", "plateau"):
        return 1.0
    if s.name == "cosine":
        return 0.5 * (1 + math.cos(math.pi * it / total))
    unit = 1 if t.iterations is not None else iters_per_epoch
    step = (s.step_size or max(1, total // (3 * unit))) * unit
    return s.gamma ** (it // step)


def evaluate(net: torch.nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], device: torch.device,
             precision: str = "fp32", channels_last: bool = False) -> dict[str, float]:
    """Top-1/top-5/loss over every image; under DDP each rank scores its own share and counts are summed."""
    net.eval()
    correct1 = correct5 = seen = 0
    loss = 0.0
    with torch.no_grad():
        for x, y in batches:
            x, y = _to(x, device, channels_last), y.to(device, non_blocking=True)
            with _autocast(device, precision):
                out = net(x)
            out = out.float()
            loss += F.cross_entropy(out, y, reduction="sum").item()
            top = out.topk(min(5, out.shape[1]), dim=1).indices
            correct1 += (top[:, 0] == y).sum().item()
            correct5 += (top == y[:, None]).any(dim=1).sum().item()
            seen += len(y)
    net.train()
    correct1, correct5, loss, seen = distributed.all_sum([correct1, correct5, loss, seen], device)
    return {"top1": correct1 / seen, "top5": correct5 / seen, "val_loss": loss / seen, "val_images": int(seen)}


def _to(x: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    x = x.to(device, non_blocking=True)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def _autocast(device: torch.device, precision: str) -> Any:
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


@dataclass
class LoopState:
    """Where the loop stands: what a checkpoint saves besides weights, optimizer, curve, timings and RNGs."""

    it: int = 0
    epoch: int = 0
    step: int = 0  # batches of `epoch` already consumed
    images: int = 0
    last_loss: float = float("nan")
    wall_s: float = 0.0  # wall time of earlier attempts (a resumed run adds it)


@dataclass
class Plateau:
    """The plateau schedule's state: best holdout top-1, evaluations since it improved, drops so far."""

    best: float = -math.inf
    since: int = 0
    drops: int = 0
    scale: float = 1.0  # learning-rate multiplier after the drops

    def update(self, top1: float, factor: float, patience: int, min_delta: float, max_drops: int) -> bool:
        """Take one holdout evaluation; True when training should stop (a plateau after the last drop)."""
        if top1 > self.best + min_delta:
            self.best, self.since = top1, 0
            return False
        self.since += 1
        if self.since < patience:
            return False
        if self.drops >= max_drops:
            return True
        self.drops, self.scale, self.since = self.drops + 1, self.scale * factor, 0
        return False


class Trainer:
    """One run's training loop: SGD over the target half's shards, evaluations on its validation images."""

    def __init__(self, run: Run, setup: RunSetup, context: RunContext | None = None) -> None:
        self.run, self.setup = run, setup
        self.context = context or RunContext(run)
        m = setup.manifest
        self.t: Training = m.raw.training
        self.e: Evaluation = m.raw.evaluation
        entry, opts = m.model
        self.data_config = entry.obj.data_config(m.raw.model.name, opts)
        self.cut_points: list[str] = list(entry.obj.cut_points(m.raw.model.name, opts))
        self.d = m.raw.data
        n_train = self.n_train = count_kept(setup.dataset, "train", run.train_classes, self.d.images_per_class)
        if self.e.holdout:
            # about: chosen by key hash, estimated as the loader does
            n_train = self.n_train = max(1, round(n_train * Holdout(self.e.holdout, False).expected_fraction))
        self.skipped = 0
        self.decoded = 0  # images decoded by this rank's loaders, over every attempt (kept in checkpoints)
        self.iters_per_epoch = max(1, math.ceil(n_train / self.t.batch_size))
        self.total = self.t.iterations or self.t.epochs * self.iters_per_epoch  # type: ignore[operator]
        self.curve: list[dict[str, Any]] = []
        self.timing = {"data_s": 0.0, "compute_s": 0.0, "eval_s": 0.0}
        self.world = distributed.world_size()
        self.ckpt_path = checkpoint.path_of(setup.output_dir, run.id)
        self.stop = checkpoint.StopFlag()
        self._boundary: tuple[Network, torch.optim.Optimizer, LoopState] | None = None
        self._start = time.perf_counter()
        self._loss_sum = torch.zeros(())
        self._loss_n = 0
        self.losses: list[float] = []  # training loss of every iteration (the no_learning check reads the end)
        self.plateau = Plateau()
        self.stop_reason = "budget"  # why training ended: budget, plateau, diverged or no_learning
        self.health_reason: str | None = None  # set when the run diverged or was aborted for no learning
        self.abort_checked = False
        self.frozen = 0  # blocks the strategy froze: chance-level top-1 is then a measurement, not a failure

    def loader(self, split: str, epoch: int, held_out: bool = False) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
        """This rank's batches of `split` (its share of each global batch), normalised on the device; with
        evaluation.holdout, training skips the held-out images and
        `held_out` reads only them (evaluation-style, from the training subset)."""
        train = split == "train" and not held_out
        keep = Holdout(self.e.holdout, held_out) if self.e.holdout and split == "train" else None
        bs = self.t.batch_size if train else (self.e.batch_size or self.t.batch_size)
        bs = bs // self.world if train else max(1, math.ceil(bs / self.world))
        decode = self.d.decode if self.d.decode != "auto" else ("gpu" if self.setup.device.type == "cuda" else "cpu")
        if self._pipeline() == "dali":
            dali_loader = make_dali_loader(
                self.setup.dataset, split, self.run.train_classes, batch_size=bs, train=train, seed=seed_of(self.run),
                epoch=epoch, input_size=self.data_config["input_size"], rank=distributed.rank(),
                world_size=self.world, augmentation=resolve_preset(self.d.augmentation, self.data_config),
                device=self.setup.device, num_threads=max(1, self.setup.manifest.raw.execution.num_workers),
                images_per_class=self.d.images_per_class)
            return self._counting(dali_loader)  # type: ignore[arg-type]
        loader = make_loader(self.setup.dataset, split, self.run.train_classes, batch_size=bs, train=train,
                             seed=seed_of(self.run), epoch=epoch, input_size=self.data_config["input_size"],
                             mean=self.data_config["mean"], std=self.data_config["std"],
                             num_workers=self.setup.manifest.raw.execution.num_workers,
                             cache=self.setup.manifest.raw.execution.cache_data,
                             augmentation=resolve_preset(self.d.augmentation, self.data_config), decode=decode,
                             device=self.setup.device, skip_corrupt=self.d.skip_corrupt,
                             images_per_class=self.d.images_per_class, rank=distributed.rank(),
                             world_size=self.world, normalise=False,
                             keep=keep)
        return self._counting(loader)

    def _pipeline(self) -> str:
        """torch or dali: the manifest's data.pipeline, auto resolved (dali when installed and on CUDA)."""
        if self.d.pipeline != "auto":
            return self.d.pipeline
        return "dali" if self.setup.device.type == "cuda" and dali_available() else "torch"

    def _counting(self, loader: ShardLoader) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
        """The loader's uint8 batches, moved to the device and normalised there; afterwards, its skipped corrupt
        samples and decoded images are added to self.skipped and self.decoded."""
        dev, mean, std = self.setup.device, self.data_config["mean"], self.data_config["std"]
        try:
            for x, y in loader:
                yield normalise(x.to(dev, non_blocking=True), mean, std), y.to(dev, non_blocking=True)
        finally:
            self.skipped += loader.skipped
            self.decoded += loader.decoded

    def fit(self) -> tuple[Network, dict[str, Any]]:
        start = self._start = time.perf_counter()
        torch.backends.cudnn.benchmark = self.t.cudnn_benchmark
        net, groups = build_network(self.run, self.setup)
        self.frozen = net.frozen_prefix
        self._check_batches(net)
        opt = make_optimizer(groups, self.t)
        ls = self._restore(net, opt)
        model = self._wrap(net)
        net.train()
        # a signal after the last step: the run finishes, then the job stops
        with self.stop.installed(), self.context.checkpointing(self.checkpoint_now):
            self._loop(net, model, opt, ls, start)
            if not self.curve or self.curve[-1]["iteration"] != ls.it:
                self._evaluate(net, ls)
        return net, self._metrics(net, ls, ls.wall_s + time.perf_counter() - start)

    def _check_batches(self, net: Network) -> None:
        """The global batch must split evenly over the ranks; BatchNorm cannot train on one image: refuse a
        recipe whose epochs end with a batch of one on a rank."""
        check_batch_split(self.t.batch_size, self.world, self.setup.manifest.file)
        per_rank, batch = math.ceil(self.n_train / self.world), self.t.batch_size // self.world
        has_bn = any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in net.modules())
        if has_bn and batch > 1 and per_rank % batch == 1:
            raise UserError(
                f"every epoch of this run would end with a batch of one image ({self.n_train} training images, "
                f"batch_size {self.t.batch_size} over {self.world} process(es)), and the model's BatchNorm layers "
                "cannot train on one image.",
                file=self.setup.manifest.file, key="training.batch_size",
                hint="Choose a batch_size that leaves more than one image over, or change data.images_per_class.")

    def _loop(self, net: Network, model: torch.nn.Module, opt: torch.optim.Optimizer, ls: LoopState,
              start: float) -> None:
        self._boundary = (net, opt, ls)
        while ls.it < self.total and self.stop_reason == "budget":
            tick = time.perf_counter()
            batches = iter(self.loader("train", ls.epoch))
            for _ in range(ls.step):  # resumed mid-epoch: the order is a function of (seed, epoch)
                next(batches, None)
            for x, y in batches:
                self._boundary = None
                now = time.perf_counter()
                self.timing["data_s"] += now - tick
                self._step(model, opt, x, y, ls.it)
                if self.setup.device.type == "cuda":
                    torch.cuda.synchronize(self.setup.device)  # compute_s counts the GPU's work, not launches
                ls.it, ls.step, ls.images = ls.it + 1, ls.step + 1, ls.images + len(y) * self.world
                tick = time.perf_counter()
                self.timing["compute_s"] += tick - now
                if not self._loss_finite(ls):
                    break
                if self.e.every and ls.it % self.e.every == 0:
                    self._evaluate(net, ls)
                self._maybe_abort(net, ls)
                if self.context.logs_steps:
                    self._log_step(ls)
                self.context.progress(ls.it, self.total)
                self._maybe_checkpoint(net, opt, ls, start)
                self._boundary = (net, opt, ls)
                tick = time.perf_counter()
                if ls.it >= self.total or self.stop_reason != "budget":
                    break
            self._boundary = None  # until the epoch's evaluation is in the curve
            if self.stop_reason != "budget":
                break
            ls.epoch, ls.step = ls.epoch + 1, 0
            if not self.e.every:
                self._evaluate(net, ls)
                self._maybe_abort(net, ls)
            self._boundary = (net, opt, ls)

    def _wrap(self, net: Network) -> torch.nn.Module:
        """The module the loop calls: channels-last, compiled and/or DDP-wrapped as the manifest asks."""
        if self.t.channels_last:
            net.to(memory_format=torch.channels_last)
        model: torch.nn.Module = torch.compile(net) if self.t.compile else net
        if self.world > 1:
            dev = self.setup.device
            model = DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None)
        return model

    def _step(self, model: torch.nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
              it: int) -> None:
        """One optimizer step on this rank's share (x, y) of the global batch, in `accumulation` micro-batches."""
        factor = self._lr_factor(it)
        for g in opt.param_groups:
            g["lr"] = self.t.lr * g["lr_mult"] * factor
        scale = 1 / len(y)  # DDP averages over ranks, whose shares are equal: the mean over the global batch
        x, y = _to(x, self.setup.device, self.t.channels_last), y.to(self.setup.device, non_blocking=True)
        opt.zero_grad(set_to_none=True)
        chunks = list(zip(x.chunk(self.t.accumulation), y.chunk(self.t.accumulation))) or [(x, y)]
        total = torch.zeros((), device=self.setup.device)
        for i, (xc, yc) in enumerate(chunks):
            sync = self.world == 1 or i == len(chunks) - 1
            with nullcontext() if sync else model.no_sync():  # type: ignore[operator]
                with _autocast(self.setup.device, self.t.precision):
                    out = model(xc)
                loss = F.cross_entropy(out.float(), yc, reduction="sum")
                (loss * scale).backward()
            total += loss.detach()
        opt.step()
        self._loss_sum, self._loss_n = total, len(y)

    def _log_step(self, ls: LoopState) -> None:
        """This step's training loss (this rank's rows) and base learning rate to the loggers."""
        loss = float(self._loss_sum) / self._loss_n if self._loss_n else float("nan")
        self.context.log_step(ls.it, {"train_loss": loss, "lr": self._base_lr(ls.it - 1)})

    def _lr_factor(self, it: int) -> float:
        """The learning-rate factor of step `it`: the schedule's, times the plateau schedule's drops."""
        return lr_factor(self.t, it, self.total, self.iters_per_epoch) * self.plateau.scale

    def _base_lr(self, it: int) -> float:
        """Base learning rate of step `it` (before per-group multipliers), as logged and kept in the curve."""
        return self.t.lr * self._lr_factor(it)

    def _train_loss(self) -> float:
        """Mean training loss of the last batch (over every rank's rows)."""
        if self._loss_n == 0 and self.world == 1:
            return float("nan")
        s, n = distributed.all_sum([float(self._loss_sum), float(self._loss_n)], self.setup.device)
        return s / n if n else float("nan")

    def _evaluate(self, net: Network, ls: LoopState) -> None:
        tick = time.perf_counter()
        ls.last_loss = self._train_loss()
        result = evaluate(net, self.loader("val", 0), self.setup.device, self.t.precision, self.t.channels_last)
        if self.e.holdout:
            held = evaluate(net, self.loader("train", 0, held_out=True), self.setup.device, self.t.precision,
                            self.t.channels_last)
            result.update({f"holdout_{k.removeprefix('val_')}": v for k, v in held.items()})
        self.timing["eval_s"] += time.perf_counter() - tick
        self.curve.append({"iteration": ls.it, "epoch": ls.epoch, "train_loss": ls.last_loss,
                           "lr": self._base_lr(max(ls.it - 1, 0)),
                           **result})
        if distributed.is_main():
            self.context.log_evaluation(self.curve[-1])
        s = self.t.schedule
        if s.name == "plateau" and self.stop_reason == "budget" and self.plateau.update(
                result["holdout_top1"], s.factor, s.patience, s.min_delta, s.drops):  # type: ignore[arg-type]
            self.stop_reason = "plateau"

    # --- health ----------------------------------------------------------------------------------------------

    def _loss_finite(self, ls: LoopState) -> bool:
        """Record this iteration's training loss; a non-finite one stops the run at once (diverged)."""
        loss = self._train_loss()
        self.losses.append(loss)
        if math.isfinite(loss):
            return True
        self.stop_reason = health.DIVERGED
        self.health_reason = f"training loss became {loss} at iteration {ls.it} of {self.total}"
        return False

    def _maybe_abort(self, net: Network, ls: LoopState) -> None:
        """training.abort_if_no_learning: once, after that fraction of the iterations, stop a run not learning."""
        frac = self.t.abort_if_no_learning
        if frac is None or self.frozen or self.abort_checked or not math.ceil(frac * self.total) <= ls.it < self.total:
            return
        self.abort_checked = True
        if not self.curve or self.curve[-1]["iteration"] != ls.it:
            self._evaluate(net, ls)
        point = self.curve[-1]
        held = "holdout_top1" in point
        top1 = point["holdout_top1"] if held else point["top1"]
        images = point["holdout_images"] if held else point["val_images"]
        why = health.no_learning(top1, images, len(self.run.train_classes), self.losses)
        if why:
            self.stop_reason = health.NO_LEARNING
            self.health_reason = (f"{why}; stopped by training.abort_if_no_learning after {ls.it} of {self.total} "
                                  f"iterations (on the {'holdout' if held else 'validation'} images)")

    def _health(self) -> tuple[str, str | None]:
        if self.stop_reason in (health.DIVERGED, health.NO_LEARNING):
            return self.stop_reason, self.health_reason
        final = self.curve[-1]
        state, why = health.judge(None, final["top1"], final["val_images"], len(self.run.train_classes), self.losses)
        if state == health.NO_LEARNING and self.frozen:  # e.g. random frozen layers: what the condition measures
            return health.OK, f"{why}; with {self.frozen} frozen blocks this is a measurement, not a failure"
        return state, why

    # --- checkpoints ------------------------------------------------------------------------------------------

    def _restore(self, net: Network, opt: torch.optim.Optimizer) -> LoopState:
        """Load the run's checkpoint, if any, into the network, the optimizer and this trainer."""
        state = checkpoint.load(self.ckpt_path)
        if state is None:
            return LoopState()
        net.load_state_dict(state["net"])
        opt.load_state_dict(state["opt"])
        self.curve, self.timing = state["curve"], state["timing"]
        self._loss_sum, self._loss_n = torch.tensor(state["loss"][0]), state["loss"][1]
        self.decoded = state.get("decoded", 0)
        h = state.get("health", {})
        self.losses, self.abort_checked = h.get("losses", []), h.get("abort_checked", False)
        self.plateau = Plateau(**h.get("plateau", {}))
        checkpoint.set_rng_state(state["rng"])
        return LoopState(**state["loop"])

    def _state(self, net: Network, opt: torch.optim.Optimizer, ls: LoopState, start: float) -> dict[str, Any]:
        loop = {**ls.__dict__, "wall_s": ls.wall_s + time.perf_counter() - start}
        return {"net": net.state_dict(), "opt": opt.state_dict(), "loop": loop, "curve": self.curve,
                "timing": dict(self.timing), "loss": (float(self._loss_sum), self._loss_n),
                "rng": checkpoint.rng_state(), "world_size": self.world, "decoded": self.decoded,
                "health": {"losses": self.losses, "abort_checked": self.abort_checked,
                           "plateau": dict(self.plateau.__dict__)}}

    def _maybe_checkpoint(self, net: Network, opt: torch.optim.Optimizer, ls: LoopState, start: float) -> None:
        """Save every `checkpoint_every` iterations, and on a preemption signal (then stop: Preempted)."""
        every = self.t.checkpoint_every
        due = bool(every and ls.it % every == 0 and ls.it < self.total)
        signum = self.stop.signum
        stop = distributed.any_rank(signum is not None, self.setup.device) if self.world > 1 else signum is not None
        if not (due or stop):
            return
        if distributed.is_main():
            checkpoint.save(self.ckpt_path, self._state(net, opt, ls, start))
        distributed.barrier()
        if stop:
            raise checkpoint.Preempted(self.run.id, signum or signal.SIGTERM)

    def checkpoint_now(self) -> bool:
        """Save a checkpoint if the loop is between steps (the context's checkpoint_now()); False otherwise."""
        if self._boundary is None or not distributed.is_main():
            return False
        net, opt, ls = self._boundary
        checkpoint.save(self.ckpt_path, self._state(net, opt, ls, self._start))
        return True

    def _metrics(self, net: Network, ls: LoopState, wall: float) -> dict[str, Any]:
        final = self.curve[-1]
        k = min(self.e.best_k, len(self.curve))
        best = sorted((p["top1"] for p in self.curve), reverse=True)[:k]
        trainable = sum(p.numel() for p in net.parameters() if p.requires_grad)
        train_s = self.timing["data_s"] + self.timing["compute_s"]
        run = self.run
        state, reason = self._health()
        held = {k: final[k] for k in ("holdout_top1", "holdout_top5", "holdout_images") if k in final}
        return {
            "schema_version": SCHEMA_VERSION, "run_id": run.id, "condition": run.condition, "n": run.n,
            "cut_point": self.cut_points[run.n - 1] if 0 < run.n <= len(self.cut_points) else None,
            "cut_points": len(self.cut_points), "split": run.split, "split_kind": run.split_kind, "seed": run.seed,
            "source": run.source, "top1": final["top1"], "top5": final["top5"],
            "top1_best_k": sum(best) / k, "best_k": k, "iterations": ls.it, "images_seen": ls.images,
            "wall_time_s": wall, **{f"{k2}": v for k2, v in self.timing.items()},
            "images_per_s": ls.images / train_s if train_s else 0.0, "trainable_params": trainable,
            "device": str(self.setup.device), "torch": torch.__version__, "skipped_samples": self.skipped,
            "images_decoded": int(distributed.all_sum([float(self.decoded)], self.setup.device)[0]),
            **cost(self.setup.device, wall, self.world), "precision": self.t.precision,
            "health": state, "health_reason": reason, "stop_reason": self.stop_reason, "stopped_at": ls.it,
            "planned_iterations": self.total, "lr_drops": self.plateau.drops, **held, "curve": self.curve,
        }


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


def train_run(run: Run, setup: RunSetup, save_weights: bool, context: RunContext | None = None) -> dict[str, Any]:
    """Train one run and write its weights (when asked) and, last, metrics.json."""
    trainer = Trainer(run, setup, context)
    net, metrics = trainer.fit()
    out = store.run_dir(setup.output_dir, run.id)
    if not distributed.is_main():
        distributed.barrier()
        return metrics
    if save_weights:
        state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
        store.atomic_write(out / store.WEIGHTS_FILE, lambda p: torch.save(state, p))
    if save_weights and run.strategy == "scratch":  # sources and targets: a trained source's init.pt is its own
        metrics = {**metrics, "init_origin": "trained"}
    record = RunRecord.model_validate(metrics)  # a key the record does not declare is a bug: fail before writing
    store.write_json(out / store.METRICS_FILE, record.to_json())
    trainer.context.log_record(record)
    checkpoint.path_of(setup.output_dir, run.id).unlink(missing_ok=True)
    distributed.barrier()
    if trainer.stop.signum is not None:  # asked to stop while finishing this run: stop before the next one
        raise checkpoint.Preempted(run.id, trainer.stop.signum, finished=True)
    return metrics
