"""CPU loader benchmark: benchbridge's shard loader vs torchvision ImageFolder + DataLoader, same images/transforms.

    python benchmarks/cpu_loader.py --images 3000 --workers 2 --preset paper
    python benchmarks/cpu_loader.py --workers 0    # in-process: images per CPU-second (robust on a shared machine)
    python benchmarks/cpu_loader.py --handoff float32   # the loader normalises (float32 batches cross processes)

Generates N random-texture 256x256 JPEGs (ImageFolder layout, 10 classes) in a temp folder, prepares them as
shards (JPEGs copied as-is), then times full passes of both loaders, alternating, and prints images/s and the
ratio (benchbridge / torchvision). By default benchbridge hands uint8 batches over and they are normalised in the
consuming process, as the trainer does on its device (the timing includes that step). Not collected by pytest.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from benchbridge.data.imagefolder import convert_imagefolder
from benchbridge.data.augment import normalise
from benchbridge.data.loader import LoaderSpec, make_loader

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def generate(root: Path, n: int, classes: int = 10, size: int = 256) -> None:
    """n JPEGs (quality 90) of smooth random textures, so they compress like photographs, not like noise."""
    rng = np.random.default_rng(0)
    for i in range(n):
        low = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
        image = Image.fromarray(low).resize((size, size), Image.BICUBIC)
        noise = rng.integers(-12, 12, (size, size, 3))
        image = Image.fromarray(np.clip(np.asarray(image).astype(int) + noise, 0, 255).astype(np.uint8))
        for split in ("train",) + (("val",) if i < classes else ()):
            folder = root / split / f"c{i % classes}"
            folder.mkdir(parents=True, exist_ok=True)
            image.save(folder / f"{i:06d}.jpg", "JPEG", quality=90)


def torchvision_loader(root: Path, preset: str, crop: int, batch: int, workers: int):
    from torchvision import datasets, transforms as T
    if preset == "paper":
        tf = T.Compose([T.RandomCrop(crop), T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize(MEAN, STD)])
    else:
        tf = T.Compose([T.RandomResizedCrop(crop), T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize(MEAN, STD)])
    ds = datasets.ImageFolder(str(root / "train"), transform=tf)
    return torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True, num_workers=workers)


def timed(loader, cpu: bool, normalised: bool = True) -> tuple[int, float]:
    """Images and seconds of one pass: wall-clock, or (cpu=True, in-process loading) CPU time of this process.
    `normalised=False`: uint8 batches, normalised here (as the trainer does on its device) inside the timing."""
    clock = time.process_time if cpu else time.perf_counter
    start, n = clock(), 0
    for x, y in loader:
        if not normalised:
            x = normalise(x, MEAN, STD)
        n += len(y)
    return n, clock() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=3000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--crop", type=int, default=227)
    p.add_argument("--preset", choices=["paper", "timm"], default="paper")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--dir", type=Path, default=None, help="Reuse/keep generated data here.")
    p.add_argument("--handoff", choices=["uint8", "uint8-device", "float32"], default="uint8",
                   help="What benchbridge's loader yields: uint8 normalised by this process (a CPU trainer), uint8 "
                        "left for a GPU to normalise (not timed), or float32 normalised in the workers.")
    a = p.parse_args()
    torch.set_num_threads(1)
    root = a.dir or Path(tempfile.mkdtemp(prefix="bb-cpu-bench-"))
    if not (root / "src" / "train").is_dir():
        generate(root / "src", a.images)
    source = convert_imagefolder(root / "src", root / "shards", shard_size=500, workers=a.workers)
    ours_rates, tv_rates = [], []
    cpu = a.workers == 0  # in-process loading: CPU seconds, robust when other jobs share the cores
    for epoch in range(a.repeats):
        norm = {"mean": MEAN, "std": STD} if a.handoff == "float32" else {}
        ours = make_loader(source, LoaderSpec(
            split="train", classes=tuple(range(source.num_classes)), batch_size=a.batch, train=True, seed=0,
            epoch=epoch, input_size=a.crop, num_workers=a.workers, augmentation=a.preset, **norm))
        n, s = timed(ours, cpu, normalised=a.handoff != "uint8")
        ours_rates.append(n / s)
        n2, s2 = timed(torchvision_loader(root / "src", a.preset, a.crop, a.batch, a.workers), cpu)
        tv_rates.append(n2 / s2)
        print(f"pass {epoch}: benchbridge {n} images {n / s:7.0f}/s | torchvision {n2} images {n2 / s2:7.0f}/s")
    o, t = statistics.median(ours_rates), statistics.median(tv_rates)
    unit = "images per CPU-second (in-process)" if cpu else "images/s (wall clock)"
    print(f"median {unit}: benchbridge {o:.0f}, torchvision ImageFolder+DataLoader {t:.0f}; ratio {o / t:.2f}x "
          f"({a.images} 256x256 JPEGs, {a.preset} preset, crop {a.crop}, batch {a.batch}, {a.workers} workers, "
          f"{a.handoff} hand-off, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
