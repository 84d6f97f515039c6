"""GPU benchmark: AlexNet (227x227, batch 512, bf16) fed by the shard loader (CPU decode, GPU decode) vs
synthetic tensors already on the GPU. Needs a CUDA GPU; not run by pytest.

    python benchmarks/gpu_loader.py --images 50000 --workers 16 --dir /tmp/bb-gpu-bench

Generates N 256x256 JPEGs (100 classes) and prepares them as shards on the machine itself (parallel, resumable;
reuse with --dir), then for each feed measures training images/s over --steps steps after --warmup steps, and
prints each rate and its ratio to the synthetic rate (target: >= 0.90).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpu_loader import generate  # noqa: E402

from benchbridge.builtins.alexnet import IMAGENET_MEAN, AlexNetOptions, build_alexnet  # noqa: E402
from benchbridge.data.imagefolder import convert_imagefolder  # noqa: E402
from benchbridge.data.loader import LoaderSpec, make_loader  # noqa: E402

STD = (1 / 255,) * 3  # the paper's preprocessing: 0..255 pixels minus the mean


def train_rate(net, opt, batches, steps: int, warmup: int) -> float:
    """Training images/s over `steps` steps after `warmup` steps (bf16 autocast, synchronised timing)."""
    it = iter(batches)
    n, start = 0, None
    for step in range(warmup + steps):
        if step == warmup:
            torch.cuda.synchronize()
            start, n = time.perf_counter(), 0
        x, y = next(it)
        x, y = x.cuda(non_blocking=True), y.cuda(non_blocking=True)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = F.cross_entropy(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        n += len(y)
    torch.cuda.synchronize()
    return n / (time.perf_counter() - start)


def endless(make):
    """Batches from successive epochs of a loader factory."""
    epoch = 0
    while True:
        yield from make(epoch)
        epoch += 1


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=50000)
    p.add_argument("--classes", type=int, default=100)
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 8)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--dir", type=Path, default=None)
    a = p.parse_args()
    if not torch.cuda.is_available():
        sys.exit("needs a CUDA GPU")
    torch.backends.cudnn.benchmark = True
    root = a.dir or Path(tempfile.mkdtemp(prefix="bb-gpu-bench-"))
    if not (root / "src" / "train").is_dir():
        t = time.perf_counter()
        generate(root / "src", a.images, classes=a.classes)
        print(f"generated {a.images} JPEGs in {time.perf_counter() - t:.0f}s", flush=True)
    t = time.perf_counter()
    source = convert_imagefolder(root / "src", root / "shards", shard_size=1000, workers=a.workers)
    print(f"prepared shards in {time.perf_counter() - t:.0f}s", flush=True)
    net = build_alexnet(AlexNetOptions(), source.num_classes).cuda().to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    classes = list(range(source.num_classes))
    x = torch.randn(a.batch, 3, 227, 227, device="cuda")
    y = torch.randint(0, source.num_classes, (a.batch,), device="cuda")
    synthetic = train_rate(net, opt, iter(lambda: (x, y), None), a.steps, a.warmup)
    print(f"synthetic tensors on the GPU: {synthetic:.0f} images/s", flush=True)
    for decode in ("cpu", "gpu"):
        def make(epoch: int, decode: str = decode):
            return make_loader(source, LoaderSpec(
                split="train", classes=tuple(classes), batch_size=a.batch, train=True, seed=0, epoch=epoch,
                input_size=227, mean=IMAGENET_MEAN, std=STD, num_workers=a.workers, augmentation="paper",
                decode=decode, device="cuda"))
        rate = train_rate(net, opt, endless(make), a.steps, a.warmup)
        print(f"shard loader, {decode} decode: {rate:.0f} images/s = {rate / synthetic:.2f} of synthetic "
              f"({a.workers} workers, batch {a.batch}, bf16)", flush=True)
    print(f"device: {torch.cuda.get_device_name()}, {os.cpu_count()} CPUs, torch {torch.__version__}")


if __name__ == "__main__":
    main()
