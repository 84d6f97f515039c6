"""Parity: the same network, data and recipe trained by a plain PyTorch loop and by `benchbridge run`.

python benchmarks/parity.py DATA [--seeds 0 1 2] [--images-per-class 1000] [--epochs 15] [--out FILE.json]
    [--loop-only | --benchbridge-only] [KEY=VALUE ...]

DATA is CIFAR-10 prepared as in manifests/cifar10.yaml's header. Both sides train baseA and baseB of the random 5/5
split (seed 0) for each seed; KEY=VALUE overrides go to both (model.options.* and top-level training.* keys, e.g.
model.options.small_kernels=3). The loop reads
the same shards with tarfile and PIL (the first k images of each class, in file order, as images_per_class does),
decodes them once into a uint8 tensor, and trains with torch's SGD: a fresh permutation per epoch, the last partial
batch dropped (as benchbridge does since issue 25), random 28px crop + mirror, ImageNet mean/std, centre crop for
evaluation. The network is built by the
same constructor (benchbridge's `alexnet`, seeded by the run's seed), so what differs is only the loop and the data
path. Prints a table per half: mean, standard error, the difference and whether it lies within two standard errors,
and how far each side's training moved every block from its initialisation (mean |theta - theta_0|, per block).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import yaml
from PIL import Image

from benchbridge.results import load_results
from quickstart_split import cpu_model  # benchmarks/ is on sys.path when run as a script

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
RECIPE: dict[str, Any] = {  # the issue's recipe, on CIFAR-10
    "model": {"name": "alexnet", "options": {"input_size": 28, "width": 0.25, "fc_width": 512, "dropout": 0.5,
                                             "init": "kaiming", "preprocess": "standard", "small_kernels": 3,
                                             "head_init": "pytorch"}},
    "training": {"optimizer": "sgd", "lr": 0.01, "momentum": 0.9, "weight_decay": 0.0005, "batch_size": 128,
                 "epochs": 15, "schedule": {"name": "step", "step_size": 9, "gamma": 0.1}},
}


def manifest(data: Path, out: Path, seed: int, images_per_class: int, epochs: int) -> dict[str, Any]:
    """The benchbridge side: baseA and baseB of the random 5/5 split, the recipe above."""
    training = {**RECIPE["training"], "epochs": epochs}
    return {"name": "parity", "output_dir": str(out), "dataset": {"name": "shards", "options": {"path": str(data)}},
            "model": json.loads(json.dumps(RECIPE["model"])), "splits": [{"name": "random", "options": {"seed": 0}}],
            "conditions": ["baseA", "baseB"], "seeds": [seed], "training": training,
            "evaluation": {"every": 1_000_000, "best_k": 1, "batch_size": 250},
            "execution": {"device": "cpu", "threads": 1, "workers": "auto", "cache_data": True,
                          "save_weights": "all"},  # weights.pt and init.pt of both: their travel per block
            "data": {"augmentation": "paper", "images_per_class": images_per_class}}


def set_key(doc: dict[str, Any], dotted: str, value: str) -> None:
    *path, last = dotted.split(".")
    for key in path:
        doc = doc.setdefault(key, {})
    doc[last] = yaml.safe_load(value)


def write_manifest(data: Path, seed: int, args: argparse.Namespace, tmp: Path) -> Path:
    doc = manifest(data, tmp / f"bb-{seed}", seed, args.images_per_class, args.epochs)
    for item in args.overrides:
        set_key(doc, *item.split("=", 1))
    path = tmp / f"parity-{seed}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def benchbridge(*argv: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "benchbridge", *argv], capture_output=True, text=True, check=False)
    if proc.returncode not in (0, 3):  # 3: a run is unhealthy, which the table shows
        sys.exit(f"benchbridge {argv[0]} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc.stdout


def plan_of(path: Path) -> list[dict[str, Any]]:
    """The two base runs of the manifest: id, half (A or B) and classes."""
    return [{"id": r["id"], "half": r["role"], "classes": r["classes"][r["role"]]}
            for r in json.loads(benchbridge("plan", str(path), "--json"))]


def run_benchbridge(path: Path, seed: int) -> list[dict[str, Any]]:
    """Top-1 of baseA and baseB for one seed, from their records."""
    benchbridge("run", str(path))
    out_dir = Path(yaml.safe_load(path.read_text())["output_dir"])
    records = {res.run.id: res.record for res in load_results(out_dir) if res.record is not None}
    out = []
    for run in plan_of(path):
        rec = records[run["id"]]
        folder = out_dir / "runs" / run["id"]
        final, init = (torch.load(folder / name, weights_only=True) for name in ("weights.pt", "init.pt"))
        out.append({"side": "benchbridge", "half": run["half"], "seed": seed, "top1": rec.top1,
                    "health": rec.health, "classes": run["classes"], "wall_s": rec.wall_time_s,
                    "travel": travel(init, final)})
    return out


def read_half(data: Path, split: str, classes: list[int], per_class: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The split's images of `classes` (first `per_class` of each, in file order) as uint8 NCHW, labels 0..k-1."""
    index = json.loads((data / "dataset.json").read_text())["splits"][split]
    label = {c: i for i, c in enumerate(sorted(classes))}
    taken = dict.fromkeys(classes, 0)
    images, labels = [], []
    for shard in index["shards"]:
        samples: dict[str, dict[str, bytes]] = {}
        with tarfile.open(data / shard) as tar:
            for member in tar:
                key, _, ext = member.name.partition(".")
                samples.setdefault(key, {})[ext] = tar.extractfile(member).read()  # type: ignore[union-attr]
        for sample in samples.values():
            cls = int(sample["cls"])
            if cls not in taken or (per_class is not None and taken[cls] >= per_class):
                continue
            taken[cls] += 1
            with Image.open(io.BytesIO(sample["jpg"])) as im:
                images.append(torch.from_numpy(np.asarray(im.convert("RGB")).copy()).permute(2, 0, 1))
            labels.append(label[cls])
    return torch.stack(images), torch.tensor(labels)


def travel(init: dict[str, torch.Tensor], final: dict[str, torch.Tensor]) -> list[float]:
    """Per block (blocks.0, blocks.1, ...): mean |theta_final - theta_init| over its weights and biases."""
    out = []
    for i in range(len({k.split(".")[1] for k in init if k.startswith("blocks.")})):
        keys = [k for k in init if k.startswith(f"blocks.{i}.") and init[k].is_floating_point()]
        moved = sum(float((final[k].float() - init[k].float()).abs().sum()) for k in keys)
        out.append(moved / max(1, sum(init[k].numel() for k in keys)))
    return out


def normalised(x: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return (x.float() / 255 - mean) / std


def plain_loop(job: tuple[Path, list[int], int, argparse.Namespace]) -> dict[str, Any]:
    """A minimal training loop: no benchbridge code between the network's constructor and top-1."""
    data, classes, seed, args = job
    torch.set_num_threads(1)
    start = time.perf_counter()
    x, y = read_half(data, "train", classes, args.images_per_class)
    vx, vy = read_half(data, "val", classes, None)
    given = {k: yaml.safe_load(v) for k, v in (o.split("=", 1) for o in args.overrides)}
    opts = RECIPE["model"]["options"] | {k[14:]: v for k, v in given.items() if k.startswith("model.options.")}
    from benchbridge.builtins.alexnet import AlexNetOptions, build_alexnet  # the same network
    torch.manual_seed(seed)
    net = build_alexnet(AlexNetOptions(**opts), len(classes)).to(memory_format=torch.channels_last)
    init = {k: v.detach().clone() for k, v in net.state_dict().items()}
    t = RECIPE["training"] | {k[9:]: v for k, v in given.items() if k.startswith("training.")}
    opt = torch.optim.SGD(net.parameters(), lr=t["lr"], momentum=t["momentum"], weight_decay=t["weight_decay"])
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=t["schedule"]["step_size"], gamma=t["schedule"]["gamma"])
    g = torch.Generator().manual_seed(seed)
    size, side = 28, x.shape[-1]
    for _ in range(args.epochs):
        net.train()
        order = torch.randperm(len(x), generator=g)
        for i in range(0, len(x) - t["batch_size"] + 1, t["batch_size"]):  # the last partial batch dropped
            idx = order[i:i + t["batch_size"]]
            tops = torch.randint(0, side - size + 1, (len(idx), 2), generator=g)
            flips = torch.rand(len(idx), generator=g) < 0.5
            crops = [x[j, :, a:a + size, b:b + size] for j, (a, b) in zip(idx.tolist(), tops.tolist())]
            batch = torch.stack([c.flip(-1) if f else c for c, f in zip(crops, flips.tolist())])
            loss = F.cross_entropy(net(normalised(batch).contiguous(memory_format=torch.channels_last)), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    net.eval()
    off = (side - size) // 2
    with torch.no_grad():
        correct = sum(int((net(normalised(vx[i:i + 250, :, off:off + size, off:off + size])).argmax(1)
                           == vy[i:i + 250]).sum()) for i in range(0, len(vx), 250))
    return {"side": "loop", "seed": seed, "top1": correct / len(vx), "wall_s": time.perf_counter() - start,
            "travel": travel(init, net.state_dict())}


def summary(values: list[float]) -> tuple[float, float]:
    mean = statistics.fmean(values)
    se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else float("nan")
    return mean, se


def report(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    print(f"{cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__}")
    verdicts = []
    for half in ("A", "B"):
        got = {side: [r["top1"] for r in rows if r["half"] == half and r["side"] == side]
               for side in ("loop", "benchbridge")}
        if not all(got.values()):
            continue
        (lm, lse), (bm, bse) = summary(got["loop"]), summary(got["benchbridge"])
        se = math.hypot(lse, bse)
        agree = abs(bm - lm) <= 2 * se if math.isfinite(se) else None
        print(f"base{half}: loop {lm:.3f} ± {lse:.3f} ({', '.join(f'{v:.3f}' for v in got['loop'])}); "
              f"benchbridge {bm:.3f} ± {bse:.3f} ({', '.join(f'{v:.3f}' for v in got['benchbridge'])}); "
              f"difference {bm - lm:+.3f}, 2 SE {2 * se:.3f}: "
              f"{'agree' if agree else 'DIFFER' if agree is False else 'one seed: no SE'}")
        verdicts.append({"half": half, "loop": got["loop"], "benchbridge": got["benchbridge"], "agree": agree})
        for side in ("loop", "benchbridge"):  # how far training moved each block from its initialisation
            moved = [r["travel"] for r in rows if r["half"] == half and r["side"] == side and r.get("travel")]
            if moved:
                means = [statistics.fmean(block) for block in zip(*moved)]
                print(f"  {side:>11} mean |theta - theta_0| per block: " + " ".join(f"{v:.4f}" for v in means))
    return verdicts


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", type=Path)
    p.add_argument("overrides", nargs="*", help="KEY=VALUE for both sides (model.options.* reach the loop)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--images-per-class", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--out", type=Path)
    side = p.add_mutually_exclusive_group()
    side.add_argument("--loop-only", action="store_true")
    side.add_argument("--benchbridge-only", action="store_true")
    args = p.parse_args()
    rows: list[dict[str, Any]] = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        paths = {seed: write_manifest(args.data, seed, args, Path(tmp)) for seed in args.seeds}
        halves = {r["half"]: r["classes"] for r in plan_of(paths[args.seeds[0]])}
        for seed in [] if args.loop_only else args.seeds:  # baseA and baseB side by side (workers: auto)
            rows += run_benchbridge(paths[seed], seed)
            print(f"benchbridge seed {seed}: " + ", ".join(f"base{r['half']} {r['top1']:.3f}" for r in rows[-2:]),
                  file=sys.stderr)
    if not args.benchbridge_only:
        keys = [(seed, h) for seed in args.seeds for h in ("A", "B")]
        with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            results = pool.map(plain_loop, [(args.data, halves[h], seed, args) for seed, h in keys])
            for (seed, h), row in zip(keys, results):
                rows.append({**row, "half": h, "classes": halves[h]})
                print(f"loop seed {seed} base{h}: {row['top1']:.3f}", file=sys.stderr)
    verdicts = report(rows)
    print(f"wall time {time.perf_counter() - start:.0f} s")
    if args.out:
        args.out.write_text(json.dumps({"rows": rows, "verdicts": verdicts, "overrides": args.overrides,
                                        "images_per_class": args.images_per_class, "epochs": args.epochs}, indent=1))


if __name__ == "__main__":
    main()
