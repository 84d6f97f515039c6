"""Train and evaluate one network of the plan, and write its results atomically."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F

from benchbridge import registry, store
from benchbridge.data.base import DatasetSource
from benchbridge.data.augment import resolve_preset
from benchbridge.data.loader import ShardLoader, make_loader
from benchbridge.data.loader import count_samples as count_kept
from benchbridge.manifest import Evaluation, ResolvedManifest, Training
from benchbridge.models.base import Network
from benchbridge.plan import Run

Progress = Callable[[int, int], None]  # (iterations done, total iterations)


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


def build_network(run: Run, setup: RunSetup) -> tuple[Network, list[dict[str, Any]]]:
    torch.manual_seed(seed_of(run))
    entry, opts = setup.manifest.model
    net = entry.obj.create(setup.manifest.raw.model.name, opts, len(run.train_classes))
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
    s = t.schedule
    if s.name == "constant":
        return 1.0
    if s.name == "cosine":
        return 0.5 * (1 + math.cos(math.pi * it / total))
    unit = 1 if t.iterations is not None else iters_per_epoch
    step = (s.step_size or max(1, total // (3 * unit))) * unit
    return s.gamma ** (it // step)


def count_samples(dataset: DatasetSource, split: str, classes: list[int]) -> int:
    counts = dataset.index["splits"][split]["class_counts"]
    return sum(int(counts[c]) for c in classes)


def evaluate(net: Network, batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
             device: torch.device) -> dict[str, float]:
    net.eval()
    correct1 = correct5 = seen = 0
    loss = 0.0
    with torch.no_grad():
        for x, y in batches:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            out = net(x)
            loss += F.cross_entropy(out, y, reduction="sum").item()
            top = out.topk(min(5, out.shape[1]), dim=1).indices
            correct1 += (top[:, 0] == y).sum().item()
            correct5 += (top == y[:, None]).any(dim=1).sum().item()
            seen += len(y)
    net.train()
    return {"top1": correct1 / seen, "top5": correct5 / seen, "val_loss": loss / seen, "val_images": seen}


class Trainer:
    """One run's training loop: SGD over the target half's shards, evaluations on its validation images."""

    def __init__(self, run: Run, setup: RunSetup, progress: Progress | None = None) -> None:
        self.run, self.setup, self.progress = run, setup, progress
        m = setup.manifest
        self.t: Training = m.raw.training
        self.e: Evaluation = m.raw.evaluation
        entry, opts = m.model
        self.data_config = entry.obj.data_config(m.raw.model.name, opts)
        self.d = m.raw.data
        n_train = count_kept(setup.dataset, "train", run.train_classes, self.d.images_per_class)
        self.skipped = 0
        self.iters_per_epoch = max(1, math.ceil(n_train / self.t.batch_size))
        self.total = self.t.iterations or self.t.epochs * self.iters_per_epoch  # type: ignore[operator]
        self.curve: list[dict[str, Any]] = []
        self.timing = {"data_s": 0.0, "compute_s": 0.0, "eval_s": 0.0}

    def loader(self, split: str, epoch: int) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
        train = split == "train"
        bs = self.t.batch_size if train else (self.e.batch_size or self.t.batch_size)
        decode = self.d.decode if self.d.decode != "auto" else ("gpu" if self.setup.device.type == "cuda" else "cpu")
        loader = make_loader(self.setup.dataset, split, self.run.train_classes, batch_size=bs, train=train,
                             seed=seed_of(self.run), epoch=epoch, input_size=self.data_config["input_size"],
                             mean=self.data_config["mean"], std=self.data_config["std"],
                             num_workers=self.setup.manifest.raw.execution.num_workers,
                             cache=self.setup.manifest.raw.execution.cache_data,
                             augmentation=resolve_preset(self.d.augmentation, self.data_config), decode=decode,
                             device=self.setup.device, skip_corrupt=self.d.skip_corrupt,
                             images_per_class=self.d.images_per_class)
        return self._counting(loader)

    def _counting(self, loader: ShardLoader) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
        """The loader's batches; afterwards, its skipped corrupt samples are added to self.skipped."""
        try:
            yield from loader
        finally:
            self.skipped += loader.skipped

    def fit(self) -> tuple[Network, dict[str, Any]]:
        start = time.perf_counter()
        net, groups = build_network(self.run, self.setup)
        opt = make_optimizer(groups, self.t)
        net.train()
        it, epoch, images, last_loss = 0, 0, 0, float("nan")
        while it < self.total:
            tick = time.perf_counter()
            for x, y in self.loader("train", epoch):
                now = time.perf_counter()
                self.timing["data_s"] += now - tick
                last_loss = self._step(net, opt, x, y, it)
                it += 1
                images += len(y)
                tick = time.perf_counter()
                self.timing["compute_s"] += tick - now
                if self.e.every and it % self.e.every == 0:
                    self._evaluate(net, it, epoch, last_loss)
                    tick = time.perf_counter()
                if self.progress:
                    self.progress(it, self.total)
                if it >= self.total:
                    break
            epoch += 1
            if not self.e.every:
                self._evaluate(net, it, epoch, last_loss)
        if not self.curve or self.curve[-1]["iteration"] != it:
            self._evaluate(net, it, epoch, last_loss)
        return net, self._metrics(net, it, images, time.perf_counter() - start)

    def _step(self, net: Network, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, it: int) -> float:
        factor = lr_factor(self.t, it, self.total, self.iters_per_epoch)
        for g in opt.param_groups:
            g["lr"] = self.t.lr * g["lr_mult"] * factor
        x, y = x.to(self.setup.device, non_blocking=True), y.to(self.setup.device, non_blocking=True)
        loss = F.cross_entropy(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    def _evaluate(self, net: Network, it: int, epoch: int, train_loss: float) -> None:
        tick = time.perf_counter()
        result = evaluate(net, self.loader("val", 0), self.setup.device)
        self.timing["eval_s"] += time.perf_counter() - tick
        lr = self.t.lr * lr_factor(self.t, max(it - 1, 0), self.total, self.iters_per_epoch)
        self.curve.append({"iteration": it, "epoch": epoch, "train_loss": train_loss, "lr": lr, **result})

    def _metrics(self, net: Network, it: int, images: int, wall: float) -> dict[str, Any]:
        final = self.curve[-1]
        k = min(self.e.best_k, len(self.curve))
        best = sorted((p["top1"] for p in self.curve), reverse=True)[:k]
        trainable = sum(p.numel() for p in net.parameters() if p.requires_grad)
        train_s = self.timing["data_s"] + self.timing["compute_s"]
        return {
            "run_id": self.run.id, "condition": self.run.condition, "n": self.run.n, "split": self.run.split,
            "seed": self.run.seed, "top1": final["top1"], "top5": final["top5"],
            "top1_best_k": sum(best) / k, "best_k": k, "iterations": it, "images_seen": images,
            "wall_time_s": wall, **{f"{k2}": v for k2, v in self.timing.items()},
            "images_per_s": images / train_s if train_s else 0.0, "trainable_params": trainable,
            "device": str(self.setup.device), "torch": torch.__version__, "curve": self.curve,
            "skipped_samples": self.skipped,
        }


def train_run(run: Run, setup: RunSetup, save_weights: bool, progress: Progress | None = None) -> dict[str, Any]:
    """Train one run and write its weights (when asked) and, last, metrics.json."""
    net, metrics = Trainer(run, setup, progress).fit()
    out = store.run_dir(setup.output_dir, run.id)
    if save_weights:
        state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
        store.atomic_write(out / store.WEIGHTS_FILE, lambda p: torch.save(state, p))
    store.write_json(out / store.METRICS_FILE, metrics)
    return metrics
