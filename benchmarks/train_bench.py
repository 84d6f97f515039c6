"""Training benchmarks: benchbridge's step against a hand-written loop, frozen (AnB) against fine-tuned (BnB+).

python benchmarks/train_bench.py step   [--size quick|full] [--batch B] [--device cpu|cuda] [--precision fp32|bf16]
python benchmarks/train_bench.py frozen [--size quick|full] ...
Prints one line of figures per measurement and the ratio. Not collected by pytest (testpaths = tests).
"""

from __future__ import annotations

import argparse
import functools
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from benchbridge import registry
from benchbridge.execute.job import Job
from benchbridge.execute.optimize import make_optimizer
from benchbridge.execute.train import RunSetup, Trainer, build_network
from benchbridge.manifest import resolve
from benchbridge.plan import make_plan
from benchbridge.plugins import load_plugins

SIZES = {  # quick: the quickstart's network; full: the paper's CaffeNet at 227x227; timm224: 224x224 inputs
    "quick": {"input_size": 28, "width": 0.125, "fc_width": 128, "init": "kaiming", "preprocess": "standard"},
    "full": {"input_size": 227},
    "timm224": {"input_size": 224},
}


def setup(args: argparse.Namespace, tmp: Path) -> tuple[Job, RunSetup]:
    data = {"name": "bench", "output_dir": str(tmp / "out"),
            "dataset": {"name": "synthetic", "options": {"classes": 4, "image_size": 32, "train_per_class": 8,
                                                         "val_per_class": 2, "root": str(tmp / "data")}},
            "model": {"name": "alexnet", "options": SIZES[args.size]},
            "splits": [{"name": "random", "options": {"seed": 0}}], "conditions": ["AnB", "BnB+"], "layers": [7],
            "training": {"batch_size": args.batch, "iterations": 100, "precision": args.precision,
                         "channels_last": args.channels_last, "compile": args.compile,
                         "cudnn_benchmark": args.device == "cuda"},
            "execution": {"device": args.device, "threads": args.threads}}
    m = resolve(data)
    job = Job(m, tmp / "out", make_plan(m))
    return job, RunSetup(m, job.dataset(), job.output_dir, job.device())


def batch(args: argparse.Namespace, device: torch.device, classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    size = SIZES[args.size]["input_size"]
    g = torch.Generator().manual_seed(0)
    x = torch.randn(args.batch, 3, size, size, generator=g).to(device)
    return x, torch.randint(0, classes, (args.batch,), generator=g).to(device)


def timed(steps: dict[str, Callable[[], None]], n: int, warmup: int, rounds: int,
          device: torch.device) -> dict[str, float]:
    """Median seconds per step of each candidate, timed in alternating rounds of n steps (fair under load)."""
    for step in steps.values():
        for _ in range(warmup):
            step()
    per_round: dict[str, list[float]] = {k: [] for k in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            for _ in range(n):
                step()
            if device.type == "cuda":
                torch.cuda.synchronize()
            per_round[name].append((time.perf_counter() - start) / n)
    return {k: statistics.median(v) for k, v in per_round.items()}


def trainer_for(job: Job, rs: RunSetup, condition: str) -> tuple[Trainer, torch.nn.Module, torch.optim.Optimizer]:
    run = next(r for r in job.plan if r.condition == condition)
    if run.source:  # transfer runs copy from a base: give them one (random weights; speed is what we measure)
        src = next(r for r in job.plan if r.id == run.source)
        net, _ = build_network(src, rs)
        path = job.output_dir / "runs" / src.id / "weights.pt"
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(net.state_dict(), path)
    trainer = Trainer(run, rs)
    net, groups = build_network(run, rs)
    opt = make_optimizer(groups, trainer.t)
    return trainer, trainer._wrap(net), opt


def cmd_step(args: argparse.Namespace, job: Job, rs: RunSetup) -> None:
    """benchbridge's Trainer._step against a minimal loop: same tensors, network, batch, threads."""
    trainer, model, opt = trainer_for(job, rs, "baseA")
    x, y = batch(args, rs.device, len(trainer.run.train_classes))
    hand_net, groups = build_network(trainer.run, rs)
    if args.timm:  # the same comparison on a timm network (random init; nothing is downloaded)
        import timm

        classes = len(trainer.run.train_classes)
        model = trainer._wrap(timm.create_model(args.timm, num_classes=classes).to(rs.device))  # type: ignore
        hand_net = timm.create_model(args.timm, num_classes=classes).to(rs.device)  # type: ignore[assignment]
        opt = make_optimizer([{"params": list(model.parameters()), "lr_mult": 1.0}], trainer.t)
        model.train()
    hand_net.train()
    if args.channels_last:
        hand_net.to(memory_format=torch.channels_last)
    hand = torch.compile(hand_net) if args.compile else hand_net
    hand_opt = torch.optim.SGD([p for p in hand_net.parameters() if p.requires_grad], lr=0.01, momentum=0.9,
                               weight_decay=0.0005)
    dtype = torch.bfloat16 if args.precision == "bf16" else None

    def hand_step() -> None:
        hand_opt.zero_grad(set_to_none=True)
        with torch.autocast(rs.device.type, dtype=dtype, enabled=dtype is not None):
            loss = F.cross_entropy(hand(x), y)
        loss.backward()
        hand_opt.step()

    t = timed({"ours": lambda: trainer._step(model, opt, x, y, 0), "hand": hand_step}, args.steps, args.warmup,
              args.rounds, rs.device)
    ours, theirs = t["ours"], t["hand"]
    print(f"benchbridge step: {args.batch / ours:.1f} images/s ({ours * 1000:.1f} ms/step); hand-written loop: "
          f"{args.batch / theirs:.1f} images/s ({theirs * 1000:.1f} ms/step); ratio {theirs / ours:.3f}")


def cmd_frozen(args: argparse.Namespace, job: Job, rs: RunSetup) -> None:
    """AnB n=7 (frozen prefix) step time against BnB+ n=7 (fine-tuned)."""
    steps = {}
    for condition in ("AnB", "BnB+"):
        trainer, model, opt = trainer_for(job, rs, condition)
        x, y = batch(args, rs.device, len(trainer.run.train_classes))
        steps[condition] = functools.partial(trainer._step, model, opt, x, y, 0)
    times = timed(steps, args.steps, args.warmup, args.rounds, rs.device)
    for condition in steps:
        print(f"{condition} n=7: {times[condition] * 1000:.1f} ms/step ({args.batch / times[condition]:.1f} "
              "images/s)")
    print(f"AnB/BnB+ step time ratio {times['AnB'] / times['BnB+']:.3f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=["step", "frozen"])
    p.add_argument("--size", choices=list(SIZES), default="quick")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--compile", action="store_true")
    p.add_argument("--timm", metavar="NAME", help="step: time this timm model (e.g. resnet50) instead of alexnet.")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=10, help="Steps per timed round.")
    p.add_argument("--rounds", type=int, default=5, help="Alternating rounds; the median round counts.")
    p.add_argument("--warmup", type=int, default=5)
    args = p.parse_args()
    load_plugins()
    registry.entries("model")
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        job, rs = setup(args, Path(tmp))
        print(f"{args.what}: {args.timm or 'alexnet'} {args.size} batch {args.batch} {args.device} {args.precision} "
              f"threads {torch.get_num_threads()} torch {torch.__version__}")
        {"step": cmd_step, "frozen": cmd_frozen}[args.what](args, job, rs)


if __name__ == "__main__":
    main()
