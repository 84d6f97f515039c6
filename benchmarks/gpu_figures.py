"""Every GPU figure of issue 13 in one go (~8 min on one H100/H200), written as JSON and a markdown table.

    python benchmarks/gpu_figures.py --out /tmp/gpu-figures --cifar .gpu/cifar10-jpeg.tar.gz
    python benchmarks/gpu_figures.py --tiny --out /tmp/gf      # CPU dry run: tiny sizes, checks the script works

1. CaffeNet 227x227, batch 512, bf16, channels-last: training images/s on synthetic tensors already on the GPU,
   fed by the torch shard loader (CPU workers, uint8 hand-off, normalised on the GPU), fed by DALI (if installed),
   and the JPEG-decode limit of the same shards (torchvision.io.decode_jpeg on the GPU, batched; DALI's nvJPEG
   decode alone when installed). Goal: best pipeline >= 0.90 x min(synthetic, decode limit).
2. Frozen AnB n=7 against fine-tuned BnB+ n=7 step time (benchmarks/train_bench.py frozen).
3. The CIFAR-10 grid (manifests/cifar10.yaml) on the GPU: wall time per network (until --grid-timeout).
Not collected by pytest.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpu_loader import generate  # noqa: E402
from gpu_loader import endless  # noqa: E402

from benchbridge.results import store  # noqa: E402
from benchbridge.builtins.alexnet import IMAGENET_MEAN, AlexNetOptions, build_alexnet  # noqa: E402
from benchbridge.data import dali  # noqa: E402
from benchbridge.data.augment import normalise  # noqa: E402
from benchbridge.data.imagefolder import convert_imagefolder  # noqa: E402
from benchbridge.data.decoding import decode_jpeg  # noqa: E402
from benchbridge.data.loader import LoaderSpec, make_loader  # noqa: E402
from benchbridge.data.shard_files import iter_tar_members  # noqa: E402
from benchbridge.results import load_results  # noqa: E402

STD = (1 / 255,) * 3  # the paper's preprocessing: 0..255 pixels minus the mean
ROOT = Path(__file__).resolve().parent.parent


def sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def train_rate(net, opt, batches, steps: int, warmup: int, dev: torch.device, bf16: bool) -> float:
    """Training images/s over `steps` steps after `warmup`; uint8 batches are normalised on the device."""
    it = iter(batches)
    n, start = 0, 0.0
    for step in range(warmup + steps):
        if step == warmup:
            sync(dev)
            start, n = time.perf_counter(), 0
        x, y = next(it)
        x, y = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
        if x.dtype == torch.uint8:
            x = normalise(x, IMAGENET_MEAN, STD)
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(net(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        n += len(y)
    sync(dev)
    return n / (time.perf_counter() - start)


def decode_rate(source, dev: torch.device, batch: int, limit: int) -> float:
    """Images/s of torchvision.io.decode_jpeg on `dev`, batched, over the shards' JPEG bytes held in memory."""
    datas = []
    for shard in source.shards("train"):
        with open(shard, "rb") as f:
            datas += [torch.frombuffer(bytearray(d), dtype=torch.uint8) for n, d in iter_tar_members(f)
                      if n.endswith(".jpg")]
        if len(datas) >= limit:
            break
    datas = datas[:limit]
    decode_jpeg(datas[:batch], dev)  # warm-up
    sync(dev)
    start = time.perf_counter()
    for i in range(0, len(datas), batch):
        decode_jpeg(datas[i:i + batch], dev)
    sync(dev)
    return len(datas) / (time.perf_counter() - start)


def dali_decode_rate(source, dev: torch.device, batch: int, threads: int, steps: int) -> float:
    """Images/s of DALI's reader + decoder alone (no crop, no training) over the same shards."""
    from nvidia.dali import fn, pipeline_def, types
    from nvidia.dali.plugin.pytorch import DALIGenericIterator
    paths = source.shards("train")

    @pipeline_def(batch_size=batch, num_threads=threads, device_id=(dev.index or 0) if dev.type == "cuda" else None)
    def pipe():  # type: ignore[no-untyped-def]
        jpg = fn.readers.webdataset(paths=paths, ext=["jpg"], name="reader")
        return fn.decoders.image(jpg, device="mixed" if dev.type == "cuda" else "cpu", output_type=types.RGB)

    p = pipe()
    p.build()
    it = DALIGenericIterator([p], ["x"], reader_name="reader", auto_reset=True, dynamic_shape=True)
    n, start = 0, 0.0
    for i, out in enumerate(it):
        if i == 1:
            sync(dev)
            start, n = time.perf_counter(), 0
        n += out[0]["x"].shape[0] if i else 0
        if i >= steps:
            break
    sync(dev)
    return n / (time.perf_counter() - start)


def feeds(a, dev: torch.device, source) -> dict:
    """Item 1: synthetic, torch loader, DALI, decode limits; the 0.90 goal."""
    bf16 = a.precision == "bf16"
    net = build_alexnet(AlexNetOptions(), source.num_classes).to(dev).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    classes = list(range(source.num_classes))
    out: dict = {}
    x = torch.randn(a.batch, 3, 227, 227, device=dev)
    y = torch.randint(0, source.num_classes, (a.batch,), device=dev)
    out["synthetic"] = train_rate(net, opt, iter(lambda: (x, y), None), a.steps, a.warmup, dev, bf16)
    print(f"synthetic: {out['synthetic']:.0f} images/s", flush=True)

    def torch_loader(epoch: int):
        return make_loader(source, LoaderSpec(split="train", classes=tuple(classes), batch_size=a.batch, train=True,
                                              seed=0, epoch=epoch, input_size=227, num_workers=a.workers,
                                              augmentation="paper", decode="cpu"))
    out["torch_loader"] = train_rate(net, opt, endless(torch_loader), a.steps, a.warmup, dev, bf16)
    print(f"torch loader ({a.workers} workers): {out['torch_loader']:.0f} images/s", flush=True)
    if dev.type == "cuda":
        def gpu_decode(epoch: int):
            return make_loader(source, LoaderSpec(split="train", classes=tuple(classes), batch_size=a.batch,
                                                  train=True, seed=0, epoch=epoch, input_size=227,
                                                  num_workers=a.workers, augmentation="paper", decode="gpu",
                                                  device=dev))
        out["torch_loader_gpu_decode"] = train_rate(net, opt, endless(gpu_decode), a.steps, a.warmup, dev, bf16)
        print(f"torch loader, decode_jpeg on GPU: {out['torch_loader_gpu_decode']:.0f} images/s", flush=True)
    if dali.available():
        def dali_loader(epoch: int):
            return dali.make_dali_loader(source, LoaderSpec(split="train", classes=tuple(classes),
                                                            batch_size=a.batch, train=True, seed=0, epoch=epoch,
                                                            input_size=227, augmentation="paper", device=dev,
                                                            num_workers=a.workers))
        out["dali"] = train_rate(net, opt, endless(dali_loader), a.steps, a.warmup, dev, bf16)
        print(f"DALI: {out['dali']:.0f} images/s", flush=True)
        out["decode_limit_dali"] = dali_decode_rate(source, dev, a.batch, a.workers, a.steps)
        print(f"decode limit, DALI nvJPEG: {out['decode_limit_dali']:.0f} images/s", flush=True)
    else:
        out["dali"] = None
        print("DALI: not installed here (its 200 MB wheel cannot travel to the device machine)", flush=True)
    out["decode_limit_torchvision"] = decode_rate(source, dev, a.batch, a.decode_images)
    print(f"decode limit, decode_jpeg on {dev.type}: {out['decode_limit_torchvision']:.0f} images/s", flush=True)
    limit = min(out["synthetic"], max(v for k, v in out.items() if k.startswith("decode_limit") and v))
    best = max(v for k, v in out.items() if k in ("torch_loader", "torch_loader_gpu_decode", "dali") and v)
    out["goal_ratio"] = best / limit
    return out


def frozen(a, dev: torch.device) -> str:
    """Item 2: train_bench's frozen comparison, its printed table."""
    cmd = [sys.executable, str(ROOT / "benchmarks" / "train_bench.py"), "frozen", "--device", dev.type,
           "--precision", a.precision, "--batch", str(a.batch), "--steps", str(a.steps), "--warmup", "1",
           "--size", "quick" if a.tiny else "full", "--rounds", "1" if a.tiny else "3",
           "--threads", "1" if a.tiny else "8"] + ([] if a.tiny else ["--channels-last"])
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=a.frozen_timeout, cwd=ROOT)
    print(r.stdout[-2000:], r.stderr[-2000:] if r.returncode else "", flush=True)
    return r.stdout.strip() if r.returncode == 0 else f"failed ({r.returncode}): {r.stderr[-500:]}"


def grid(a, dev: torch.device, work: Path) -> dict:
    """Item 3: the CIFAR-10 manifest on the device; wall time per finished network."""
    if a.cifar is None:
        return {"skipped": "no --cifar tarball"}
    if not (work / "cifar" / "cifar10").is_dir():
        (work / "cifar").mkdir(parents=True, exist_ok=True)
        with tarfile.open(a.cifar) as t:
            t.extractall(work / "cifar", filter="data")
    data = work / "data-cifar10"
    prep = [sys.executable, "-m", "benchbridge", "data", "prepare", "imagefolder", str(work / "cifar" / "cifar10"),
            str(data), "--attributes", str(ROOT / "manifests" / "cifar10-attributes.yaml"), "--shard-size", "2000"]
    t0 = time.perf_counter()
    subprocess.run(prep, check=True, capture_output=True, cwd=ROOT)
    prepare_s = time.perf_counter() - t0
    out = work / "grid"
    cmd = [sys.executable, "-m", "benchbridge", "run", str(ROOT / "manifests" / "cifar10.yaml"),
           f"output_dir={out}", f"dataset.options.path={data}", f"execution.device={dev.type}",
           f"training.precision={a.precision}", "execution.threads=null", *a.grid_overrides]
    t0 = time.perf_counter()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=a.grid_timeout, cwd=ROOT)
        status = f"exit {r.returncode}" + (f": {r.stderr[-300:]}" if r.returncode else "")
    except subprocess.TimeoutExpired:
        status = f"stopped after {a.grid_timeout}s"
    wall = time.perf_counter() - t0
    walls = {}
    finished = [res.record for res in load_results(out) if res.record] if (out / store.PLAN_FILE).is_file() else []
    for rec in finished:
        walls[f"{rec.condition} n={rec.n} {rec.pair}"] = round(rec.wall_time_s, 2)
    return {"command": " ".join(cmd[1:]), "status": status, "prepare_s": round(prepare_s, 1), "wall_s": round(wall, 1),
            "networks": len(walls), "per_network_s": walls,
            "mean_per_network_s": round(sum(walls.values()) / len(walls), 2) if walls else None}


def markdown(res: dict) -> str:
    f, g = res["feeds"], res["grid"]
    rows = ["| figure | value |", "|---|---|"]
    for k, v in f.items():
        rows.append(f"| {k} | {v:.2f} |" if k == "goal_ratio" else f"| {k} (images/s) | "
                    f"{'not run' if v is None else f'{v:.0f}'} |")
    rows.append("| frozen AnB n=7 vs BnB+ n=7 | see below |")
    rows.append(f"| CIFAR-10 grid | {g.get('networks', 0)} networks, mean {g.get('mean_per_network_s')} s each, "
                f"{g.get('status', g.get('skipped'))} |")
    return (f"Device: {res['device']}; torch {res['torch']}; {res['cpus']} CPUs; batch {res['batch']}, "
            f"{res['precision']}, {res['images']} JPEGs.\n\n" + "\n".join(rows) + "\n\n```\n" + res["frozen"]
            + "\n```\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--tiny", action="store_true", help="CPU dry run at tiny sizes (checks the script, no figures)")
    p.add_argument("--images", type=int, default=20000)
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 8)
    p.add_argument("--decode-images", type=int, default=10000)
    p.add_argument("--precision", default="bf16")
    p.add_argument("--cifar", type=Path, default=None, help="cifar10-jpeg.tar.gz (../shared/datasets/)")
    p.add_argument("--grid-timeout", type=int, default=200)
    p.add_argument("--frozen-timeout", type=int, default=120)
    p.add_argument("--grid-overrides", nargs="*", default=[])
    p.add_argument("--dir", type=Path, default=None, help="work folder (generated JPEGs, shards)")
    a = p.parse_args()
    if a.tiny:
        a.images, a.batch, a.steps, a.warmup, a.workers, a.decode_images = 48, 8, 2, 1, 2, 32
        a.precision = "fp32"
    dev = torch.device("cuda" if torch.cuda.is_available() and not a.tiny else "cpu")
    if dev.type != "cuda" and not a.tiny:
        sys.exit("needs a CUDA GPU (or --tiny for a CPU dry run)")
    torch.backends.cudnn.benchmark = True
    work = a.dir or Path(tempfile.mkdtemp(prefix="bb-gpu-figures-"))
    t0 = time.perf_counter()
    if not (work / "src" / "train").is_dir():
        generate(work / "src", a.images, classes=100 if not a.tiny else 4)
    source = convert_imagefolder(work / "src", work / "shards", shard_size=1000, workers=a.workers)
    print(f"data ready in {time.perf_counter() - t0:.0f}s", flush=True)
    res = {"device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu (dry run)",
           "torch": torch.__version__, "cpus": os.cpu_count(), "batch": a.batch, "precision": a.precision,
           "images": a.images, "tiny": a.tiny}
    res["feeds"] = feeds(a, dev, source)
    res["frozen"] = frozen(a, dev)
    res["grid"] = grid(a, dev, work)
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "gpu_figures.json").write_text(json.dumps(res, indent=2))
    (a.out / "gpu_figures.md").write_text(markdown(res))
    print(markdown(res))
    print(f"total {time.perf_counter() - t0:.0f}s; written to {a.out}")


if __name__ == "__main__":
    main()
