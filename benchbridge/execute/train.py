"""Train and evaluate one network of the plan, and write its results atomically."""

from __future__ import annotations

import math
import signal
import time
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from benchbridge.results import store
from benchbridge.data.augment import normalise, resolve_preset
from benchbridge.data.source import DatasetSource
from benchbridge.data.dali import available as dali_available
from benchbridge.data.dali import DaliLoader, make_dali_loader
from benchbridge.data.holdout import Holdout
from benchbridge.data.loader import LoaderSpec, ShardLoader, make_loader
from benchbridge.data.loader import count_samples as count_kept
from benchbridge.errors import UserError
from benchbridge.execute import checkpoint, distributed, health
from benchbridge.execute.checkpoint import LoopState, TrainLog, TrainState
from benchbridge.execute.context import RunContext
from benchbridge.execute.devices import check_batch_split
from benchbridge.execute.evaluate import agreement, autocast, evaluate, to_device
from benchbridge.execute.optimize import LearningRate, Plateau, enter_phase, make_optimizer
from benchbridge.execute.outcome import Outcome, to_record
from benchbridge.execute.watch import HealthWatch
from benchbridge.manifest import ResolvedManifest
from benchbridge.models.network import Network
from benchbridge.execute.construct import seed_of, transfer_network
from benchbridge.plan import Run
from benchbridge.results.record import CurvePoint, RunRecord, write_record
from benchbridge.transfer.phases import StrategyPlan, as_plan


@dataclass
class RunSetup:
    """Everything a run needs beyond its plan entry."""

    manifest: ResolvedManifest
    dataset: DatasetSource
    output_dir: Path
    device: torch.device
    task: str | None = None  # the run's `task`: whose recipe (data, training, evaluation) it trains with


def build_network(run: Run, setup: RunSetup) -> tuple[Network, StrategyPlan]:
    """The run's network on its device, blocks copied from its source run's saved weights, and its strategy's plan
    (phases of parameter groups, a regulariser)."""
    source = None
    if run.source:
        source = torch.load(store.run_dir(setup.output_dir, run.source) / store.WEIGHTS_FILE,
                            map_location="cpu", weights_only=True)
    net, plan = transfer_network(run, setup.manifest, source)
    return net.to(setup.device), plan


class Trainer:
    """One run's training loop: SGD over the target half's shards, evaluations on its validation images."""

    def __init__(self, run: Run, setup: RunSetup, context: RunContext | None = None) -> None:
        self.run, self.setup = run, setup
        self.context = context or RunContext(run)
        m = setup.manifest
        recipe = m.recipe(setup.task)  # the task's keys merged once, when the manifest was resolved
        self.t, self.e, self.d = recipe.training, recipe.evaluation, recipe.data
        entry, opts = m.model
        self.data_config = entry.obj.data_config(m.raw.model.name, opts)
        self.cut_points: list[str] = list(entry.obj.cut_points(m.raw.model.name, opts))
        n_train = self.n_train = count_kept(setup.dataset, "train", run.train_classes, self.d.images_per_class)
        if self.e.holdout:
            # about: chosen by key hash, estimated as the loader does
            n_train = self.n_train = max(1, round(n_train * Holdout(self.e.holdout, False).expected_fraction))
        self.world = distributed.world_size()
        # each rank reads ceil(n / world) images an epoch, in full batches of batch_size / world: the last partial
        # batch is dropped (docs/fidelity.md)
        self.iters_per_epoch = math.ceil(n_train / self.world) // max(1, self.t.batch_size // self.world)
        self._check_batches()
        self.total = self.t.iterations or self.t.epochs * self.iters_per_epoch  # type: ignore[operator]
        self.log = TrainLog()
        self.rate = LearningRate(self.t, self.total, self.iters_per_epoch)
        self.watch = HealthWatch(len(run.train_classes), self.total, self.t.abort_if_no_learning, frozen=0)
        self.ckpt_path = checkpoint.path_of(setup.output_dir, run.id)
        self.stop = checkpoint.StopFlag()
        self.stop_reason = "budget"  # why training ended: budget, plateau, diverged or no_learning
        self._boundary: tuple[Network, torch.optim.Optimizer, LoopState] | None = None
        self._start = time.perf_counter()
        self._loss_sum = torch.zeros(())
        self._loss_n = 0
        self.plan: StrategyPlan = as_plan([])  # the strategy's (build_network)
        self._phase: int | None = None  # the phase of a multi-phase plan the network is set up for

    def loader(self, split: str, epoch: int, held_out: bool = False,
               counted: bool = True) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
        """This rank's batches of `split` (its share of each global batch), normalised on the device; with
        evaluation.holdout, training skips the held-out images and
        `held_out` reads only them (evaluation-style, from the training subset)."""
        train = split == "train" and not held_out
        keep = Holdout(self.e.holdout, held_out) if self.e.holdout and split == "train" else None
        bs = self.t.batch_size if train else (self.e.batch_size or self.t.batch_size)
        bs = bs // self.world if train else max(1, math.ceil(bs / self.world))
        decode = self.d.decode if self.d.decode != "auto" else ("gpu" if self.setup.device.type == "cuda" else "cpu")
        ex = self.setup.manifest.raw.execution
        spec = LoaderSpec(split=split, classes=tuple(self.run.train_classes), batch_size=bs, train=train,
                          seed=seed_of(self.run), epoch=epoch, input_size=self.data_config["input_size"],
                          augmentation=resolve_preset(self.d.augmentation, self.data_config),
                          images_per_class=self.d.images_per_class, keep=keep, rank=distributed.rank(),
                          world_size=self.world, num_workers=ex.num_workers, cache=ex.cache_data, decode=decode,
                          device=self.setup.device, skip_corrupt=self.d.skip_corrupt, drop_last=train)
        if self._pipeline() == "dali":  # num_workers: DALI's threads (at least one)
            return self._counting(make_dali_loader(self.setup.dataset, spec), counted)
        return self._counting(make_loader(self.setup.dataset, spec), counted)  # uint8: normalised on the device

    def _pipeline(self) -> str:
        """torch or dali: the manifest's data.pipeline, auto resolved (dali when installed and on CUDA)."""
        if self.d.pipeline != "auto":
            return self.d.pipeline
        return "dali" if self.setup.device.type == "cuda" and dali_available() else "torch"

    def _counting(self, loader: ShardLoader | DaliLoader,
                  counted: bool = True) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
        """The loader's uint8 batches, moved to the device and normalised there; afterwards, its skipped corrupt
        samples and decoded images are added to the log (unless not `counted`: a health check's extra pass)."""
        dev, mean, std = self.setup.device, self.data_config["mean"], self.data_config["std"]
        try:
            for x, y in loader:
                yield normalise(x.to(dev, non_blocking=True), mean, std), y.to(dev, non_blocking=True)
        finally:
            if counted:
                self.log.skipped += loader.skipped
                self.log.decoded += loader.decoded

    def fit(self) -> tuple[Network, RunRecord]:
        """Train (resuming from the run's checkpoint, if any), evaluate, and return the network and its record."""
        start = self._start = time.perf_counter()
        torch.backends.cudnn.benchmark = self.t.cudnn_benchmark
        net, self.plan = build_network(self.run, self.setup)
        self.rate.windows = self.plan.windows(self.total)
        self.watch.frozen = net.frozen_prefix
        opt = make_optimizer(self.plan, self.t)
        ls = self._restore(net, opt)
        self._enter_phase(net, opt, ls.it)
        model = self._wrap(net)
        net.train()
        # a signal after the last step: the run finishes, then the job stops
        with self.stop.installed(), self.context.checkpointing(self.checkpoint_now):
            self._loop(net, model, opt, ls, start)
            if not self.log.curve or self.log.curve[-1].iteration != ls.it:
                self._evaluate(net, ls)
        self.watch.unchanged = self._unchanged(net)
        return net, self._record(net, ls, ls.wall_s + time.perf_counter() - start)

    def _unchanged(self, net: Network) -> float | None:
        """The share of validation images on which the trained network predicts what its starting point did
        (health rule 4); None with frozen blocks, when training stopped early (diverged, aborted) or when its
        training loss already shows that it learned (`health.loss_shows_learning`: no extra pass needed)."""
        if self.watch.frozen or self.stop_reason not in ("budget", "plateau") \
                or health.loss_shows_learning(self.watch.losses, self.watch.classes, self.t.batch_size):
            return None
        start, _ = build_network(self.run, self.setup)  # the same draw (and copied blocks) it started from
        same, seen = agreement(net, start, self.loader("val", 0, counted=False), self.setup.device,
                               self.t.precision, self.t.channels_last)
        return same / seen if seen else None

    def _check_batches(self) -> None:
        """The global batch must split evenly over the ranks, and an epoch must hold one full batch (the last
        partial batch of every epoch is dropped)."""
        check_batch_split(self.t.batch_size, self.world, self.setup.manifest.file)
        if self.iters_per_epoch == 0:
            raise UserError(
                f"batch_size {self.t.batch_size} is larger than this run's {self.n_train} training images"
                + (f" over {self.world} processes" if self.world > 1 else "") + ": an epoch holds no full batch "
                "(the last partial batch of every epoch is dropped).",
                file=self.setup.manifest.file, key="training.batch_size",
                hint="Choose a batch_size of at most the training images (of the smallest task), or train on more "
                     "images (data.images_per_class).")

    def _loop(self, net: Network, model: torch.nn.Module, opt: torch.optim.Optimizer, ls: LoopState,
              start: float) -> None:
        """Epochs of steps until the budget is spent or training stops (plateau, diverged, no learning)."""
        self._boundary = (net, opt, ls)
        while ls.it < self.total and self.stop_reason == "budget":
            model = self._epoch(net, model, opt, ls, start)
            self._boundary = None  # until the epoch's evaluation is in the curve
            if self.stop_reason != "budget":
                break
            ls.epoch, ls.step = ls.epoch + 1, 0
            if not self.e.every:
                self._evaluate(net, ls)
                self._maybe_abort(net, ls)
            self._boundary = (net, opt, ls)

    def _epoch(self, net: Network, model: torch.nn.Module, opt: torch.optim.Optimizer, ls: LoopState,
               start: float) -> torch.nn.Module:
        """The steps of epoch `ls.epoch` from batch `ls.step` on (a resumed run skips the batches it had); returns
        the module the loop calls (wrapped again when a phase changes which parameters train under DDP)."""
        tick = time.perf_counter()
        batches = iter(self.loader("train", ls.epoch))
        for _ in range(ls.step):  # resumed mid-epoch: the order is a function of (seed, epoch)
            next(batches, None)
        timing = self.log.timing
        for x, y in batches:
            self._boundary = None
            now = time.perf_counter()
            timing["data_s"] += now - tick
            if self._enter_phase(net, opt, ls.it) and self.world > 1:
                model = self._wrap(net)  # DDP registers the parameters that require gradients when it is built
            self._step(model, opt, x, y, ls.it)
            if self.setup.device.type == "cuda":
                torch.cuda.synchronize(self.setup.device)  # compute_s counts the GPU's work, not launches
            ls.it, ls.step, ls.images = ls.it + 1, ls.step + 1, ls.images + len(y) * self.world
            tick = time.perf_counter()
            timing["compute_s"] += tick - now
            if not self.watch.loss(self._train_loss(), ls.it):
                self.stop_reason = "diverged"
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
        return model

    def _enter_phase(self, net: Network, opt: torch.optim.Optimizer, it: int) -> bool:
        """A multi-phase strategy: set up the phase iteration `it` is in, if it is not the current one; True then."""
        k = self.plan.phase_at(it, self.total)
        if not self.plan.multi_phase or k == self._phase:
            return False
        enter_phase(net, opt, self.plan, k)
        self._phase, self.watch.frozen = k, net.frozen_prefix
        return True

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
        self.rate.apply(opt, it)
        scale = 1 / len(y)  # DDP averages over ranks, whose shares are equal: the mean over the global batch
        x, y = to_device(x, self.setup.device, self.t.channels_last), y.to(self.setup.device, non_blocking=True)
        opt.zero_grad(set_to_none=True)
        chunks = list(zip(x.chunk(self.t.accumulation), y.chunk(self.t.accumulation))) or [(x, y)]
        total = torch.zeros((), device=self.setup.device)
        for i, (xc, yc) in enumerate(chunks):
            sync = self.world == 1 or i == len(chunks) - 1
            with nullcontext() if sync else model.no_sync():  # type: ignore[operator]
                with autocast(self.setup.device, self.t.precision):
                    out = model(xc)
                loss = F.cross_entropy(out.float(), yc, reduction="sum")
                (loss * scale).backward()
            total += loss.detach()
        if self.plan.regulariser is not None:  # e.g. L2-SP's pull towards the source weights, once per step
            self.plan.regulariser().backward()
        opt.step()
        self._loss_sum, self._loss_n = total, len(y)

    def _log_step(self, ls: LoopState) -> None:
        """This step's training loss (this rank's rows) and base learning rate to the loggers."""
        loss = float(self._loss_sum) / self._loss_n if self._loss_n else float("nan")
        self.context.log_step(ls.it, {"train_loss": loss, "lr": self.rate.at(ls.it - 1)})

    def _train_loss(self) -> float:
        """Mean training loss of the last batch (over every rank's rows)."""
        if self._loss_n == 0 and self.world == 1:
            return float("nan")
        s, n = distributed.all_sum([float(self._loss_sum), float(self._loss_n)], self.setup.device)
        return s / n if n else float("nan")

    def _evaluate(self, net: Network, ls: LoopState) -> None:
        """Evaluate on the validation images (and the holdout), add the point to the curve, step the plateau."""
        tick = time.perf_counter()
        ls.last_loss = self._train_loss()
        result = self._score(net, self.loader("val", 0))
        if self.e.holdout:
            held = self._score(net, self.loader("train", 0, held_out=True))
            result.update({f"holdout_{k.removeprefix('val_')}": v for k, v in held.items()})
        self.log.timing["eval_s"] += time.perf_counter() - tick
        point = CurvePoint(iteration=ls.it, epoch=ls.epoch, train_loss=ls.last_loss,
                           lr=self.rate.at(max(ls.it - 1, 0)), **result)
        self.log.curve.append(point)
        if distributed.is_main():
            self.context.log_evaluation(point.model_dump(exclude_none=True))
        if self.stop_reason == "budget" and "holdout_top1" in result and self.rate.holdout(result["holdout_top1"]):
            self.stop_reason = "plateau"

    def _score(self, net: Network, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> dict[str, float]:
        return evaluate(net, batches, self.setup.device, self.t.precision, self.t.channels_last)

    def _maybe_abort(self, net: Network, ls: LoopState) -> None:
        """training.abort_if_no_learning: once, after that fraction of the iterations, stop a run not learning."""
        if not self.watch.abort_due(ls.it):
            return
        if not self.log.curve or self.log.curve[-1].iteration != ls.it:
            self._evaluate(net, ls)
        if self.watch.abort(self.log.curve[-1], ls.it):
            self.stop_reason = "no_learning"

    # --- checkpoints ------------------------------------------------------------------------------------------

    def _restore(self, net: Network, opt: torch.optim.Optimizer) -> LoopState:
        """Load the run's checkpoint, if any, into the network, the optimizer and this trainer."""
        state = checkpoint.load(self.ckpt_path)
        if state is None:
            return LoopState()
        net.load_state_dict(state.net)
        opt.load_state_dict(state.opt)
        self.log = state.log
        self._loss_sum, self._loss_n = torch.tensor(state.loss[0]), state.loss[1]
        self.watch.restore(state.health)
        self.rate.plateau = Plateau(**state.health.get("plateau", {}))
        checkpoint.set_rng_state(state.rng)
        return state.loop

    def _state(self, net: Network, opt: torch.optim.Optimizer, ls: LoopState, start: float) -> TrainState:
        loop = LoopState(**{**ls.__dict__, "wall_s": ls.wall_s + time.perf_counter() - start})
        log = TrainLog(self.log.curve, dict(self.log.timing), self.log.skipped, self.log.decoded)
        health = {**self.watch.state(), "plateau": dict(self.rate.plateau.__dict__)}
        return TrainState(net.state_dict(), opt.state_dict(), loop, log, (float(self._loss_sum), self._loss_n),
                          health, checkpoint.rng_state(), self.world)

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

    def _record(self, net: Network, ls: LoopState, wall: float) -> RunRecord:
        decoded = int(distributed.all_sum([float(self.log.decoded)], self.setup.device)[0])
        return to_record(Outcome(
            run=self.run, cut_points=self.cut_points, best_k=self.e.best_k, loop=ls, log=self.log, decoded=decoded,
            trainable_params=sum(p.numel() for p in net.parameters() if p.requires_grad), wall_s=wall,
            health=self.watch.verdict(self.stop_reason, self.log.curve[-1]), stop_reason=self.stop_reason,
            planned_iterations=self.total, lr_drops=self.rate.plateau.drops, device=self.setup.device,
            world=self.world, precision=self.t.precision))


def train_run(run: Run, setup: RunSetup, save_weights: bool, context: RunContext | None = None) -> RunRecord:
    """Train one run and write its weights (when asked) and, last, metrics.json; return its record."""
    trainer = Trainer(run, setup, context)
    net, record = trainer.fit()
    out = store.run_dir(setup.output_dir, run.id)
    if not distributed.is_main():
        distributed.barrier()
        return record
    if save_weights:
        store.write_weights(out / store.WEIGHTS_FILE, net.state_dict())
    if run.strategy == "scratch" and (out / store.INIT_FILE).is_file():  # kept by Job.run_one: the draw it trained
        record = record.model_copy(update={"init_origin": "trained"})
    write_record(out, record)
    trainer.context.log_record(record)
    checkpoint.path_of(setup.output_dir, run.id).unlink(missing_ok=True)
    distributed.barrier()
    if trainer.stop.signum is not None:  # asked to stop while finishing this run: stop before the next one
        raise checkpoint.Preempted(run.id, trainer.stop.signum, finished=True)
    return record
