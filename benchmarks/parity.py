"""Parity: the same network, data and recipe trained by a plain PyTorch loop and by `benchbridge run`.

python benchmarks/parity.py DATA [--seeds 0 1 2] [--images-per-class 1000] [--epochs 15] [--out FILE.json]
    [--loop-only | --benchbridge-only] [KEY=VALUE ...]
    [--t [--target-images-per-class 100] [--target-epochs E] [--same-draw] [--source-dir D]]
python benchmarks/parity.py --report FILE.json [FILE.json ...]   (the comparison of saved runs, rows pooled)

DATA is CIFAR-10 prepared as in manifests/cifar10.yaml's header. Both sides train baseA and baseB of the random 5/5
split (seed 0) for each seed; KEY=VALUE overrides go to both (model.options.* and top-level training.* keys, e.g.
model.options.small_kernels=3; other keys reach benchbridge's manifest only). The loop (parity_loop.py) reads
the same shards with tarfile and PIL (the first k images of each class, in file order, as images_per_class does),
decodes them once into a uint8 tensor, and trains with torch's SGD: a fresh permutation per epoch, the last partial
batch dropped (as benchbridge does since issue 25), random 28px crop + mirror, ImageNet mean/std, centre crop for
evaluation. The network is built by the
same constructor (benchbridge's `alexnet`, seeded by the run's seed), so what differs is only the loop and the data
path. Prints a table per half: mean, standard error, the difference and whether it lies within two standard errors,
and how far each side's training moved every block from its initialisation (mean |theta - theta_0|, per block).

--t: Chen et al.'s T instead (parity_t.py): half A (--images-per-class) as the source, half B at
--target-images-per-class as the target, every block copied and fine-tuned; per side and seed the target's top-1,
T and the weight travel per block, computed by benchbridge's own T function on both sides.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import torch
import yaml

from benchbridge.results import load_results
from parity_loop import RECIPE, build, fit, loop_recipe, read_half, snapshot, top1, travel  # benchmarks/ on sys.path
from quickstart_split import cpu_model


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


def plain_loop(job: tuple[Path, list[int], int, argparse.Namespace]) -> dict[str, Any]:
    """A minimal training loop: no benchbridge code between the network's constructor and top-1."""
    data, classes, seed, args = job
    torch.set_num_threads(1)
    start = time.perf_counter()
    x, y = read_half(data, "train", classes, args.images_per_class)
    vx, vy = read_half(data, "val", classes, None)
    opts, t = loop_recipe(args.overrides)
    net = build(opts, len(classes), seed)  # the same network
    init = snapshot(net)
    fit(net, x, y, t, args.epochs, seed)
    return {"side": "loop", "seed": seed, "top1": top1(net, vx, vy), "wall_s": time.perf_counter() - start,
            "travel": travel(init, net.state_dict())}


def summary(values: list[float]) -> tuple[float, float]:
    mean = statistics.fmean(values)
    se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else float("nan")
    return mean, se


def compared(loop: list[float], bb: list[float]) -> tuple[float, float, float, float, float, bool | None]:
    """Loop mean and SE, benchbridge mean and SE, the SE of their difference, and whether the difference lies
    within 2 SE (None: one seed, no SE)."""
    (lm, lse), (bm, bse) = summary(loop), summary(bb)
    se = math.hypot(lse, bse)
    return lm, lse, bm, bse, se, abs(bm - lm) <= 2 * se if math.isfinite(se) else None


def said(agree: bool | None) -> str:
    return "agree" if agree else "DIFFER" if agree is False else "one seed: no SE"


def report(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    print(f"{cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__}")
    verdicts = []
    for half in ("A", "B"):
        got = {side: [r["top1"] for r in rows if r["half"] == half and r["side"] == side]
               for side in ("loop", "benchbridge")}
        if not all(got.values()):
            continue
        lm, lse, bm, bse, se, agree = compared(got["loop"], got["benchbridge"])
        print(f"base{half}: loop {lm:.3f} ± {lse:.3f} ({', '.join(f'{v:.3f}' for v in got['loop'])}); "
              f"benchbridge {bm:.3f} ± {bse:.3f} ({', '.join(f'{v:.3f}' for v in got['benchbridge'])}); "
              f"difference {bm - lm:+.3f}, 2 SE {2 * se:.3f}: {said(agree)}")
        verdicts.append({"half": half, "loop": got["loop"], "benchbridge": got["benchbridge"], "agree": agree})
        for side in ("loop", "benchbridge"):  # how far training moved each block from its initialisation
            moved = [r["travel"] for r in rows if r["half"] == half and r["side"] == side and r.get("travel")]
            if moved:
                means = [statistics.fmean(block) for block in zip(*moved)]
                print(f"  {side:>11} mean |theta - theta_0| per block: " + " ".join(f"{v:.4f}" for v in means))
    return verdicts


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", type=Path, nargs="?")
    p.add_argument("overrides", nargs="*", help="KEY=VALUE for both sides (model.options.* reach the loop)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--images-per-class", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--out", type=Path)
    side = p.add_mutually_exclusive_group()
    side.add_argument("--loop-only", action="store_true")
    side.add_argument("--benchbridge-only", action="store_true")
    p.add_argument("--t", action="store_true", help="Chen's T: half A's source fine-tuned on half B (parity_t.py)")
    p.add_argument("--target-images-per-class", type=int, default=100, help="--t: the target's images per class")
    p.add_argument("--target-epochs", type=int, help="--t: the target's epochs (default: --epochs)")
    p.add_argument("--source-dir", type=Path, help="--t: fine-tune the source in this folder (init.pt, weights.pt; "
                   "e.g. a benchbridge run's) on both sides instead of training one per seed")
    p.add_argument("--same-draw", action="store_true",
                   help="--t: the loop's source starts from benchbridge's draw of the same seed (its init.pt)")
    p.add_argument("--report", type=Path, nargs="+", metavar="JSON",
                   help="print the comparison of saved --out files, their rows pooled (trains nothing)")
    args = p.parse_intermixed_args()  # KEY=VALUE overrides before or after the options
    if args.report:
        import parity_t
        rows = [row for path in args.report for row in json.loads(path.read_text())["rows"]]
        parity_t.report_t(rows) if any("t" in row for row in rows) else report(rows)
        return
    if args.data is None:
        p.error("DATA is required (unless --report)")
    rows: list[dict[str, Any]] = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        paths = {seed: write_manifest(args.data, seed, args, Path(tmp)) for seed in args.seeds}
        halves = {r["half"]: r["classes"] for r in plan_of(paths[args.seeds[0]])}
        if args.t:
            import parity_t
            rows = parity_t.main_t(args, halves, Path(tmp))
            verdicts = parity_t.report_t(rows)
            finish(args, rows, verdicts, start)
            return
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
    finish(args, rows, report(rows), start)


def finish(args: argparse.Namespace, rows: list[dict[str, Any]], verdicts: list[dict[str, Any]],
           start: float) -> None:
    """The wall time, the load, and --out's JSON (every row and verdict, the arguments)."""
    wall = time.perf_counter() - start
    print(f"wall time {wall:.0f} s, load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    if args.out:
        args.out.write_text(json.dumps({"rows": rows, "verdicts": verdicts, "wall_s": wall,
                                        "args": {k: str(v) if isinstance(v, Path) else v
                                                 for k, v in vars(args).items()}}, indent=1))


if __name__ == "__main__":
    main()
