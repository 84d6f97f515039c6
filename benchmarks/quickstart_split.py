"""The quickstart grid's wall time split into data, compute, evaluation and overhead, from its metrics.

python benchmarks/quickstart_split.py [MANIFEST] [KEY=VALUE ...]   (runs the grid into a fresh temporary directory)
python benchmarks/quickstart_split.py --results DIR --wall SECONDS  (splits a grid already run)

Today's behaviour before CPU workers, for comparison: `... manifests/quickstart.yaml execution.threads=2
execution.workers=1`. With workers, runs overlap: the parts are summed over runs (seconds of one worker each), so
they add up to more than the wall time; "runs in parallel" is that sum over the wall time.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from benchbridge.results import load_results


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def split(results_dir: Path, wall: float) -> None:
    metrics = [r.record.model_dump() for r in load_results(results_dir) if r.record]
    parts = {k: sum(m[k] or 0.0 for m in metrics) for k in ("data_s", "compute_s", "eval_s", "wall_time_s")}
    in_runs = parts["wall_time_s"] - parts["data_s"] - parts["compute_s"] - parts["eval_s"]
    images = sum(m["images_seen"] for m in metrics)
    print(f"{cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__}")
    print(f"{len(metrics)} runs, {images} training images, wall {wall:.1f} s; "
          f"runs in parallel {parts['wall_time_s'] / wall:.2f} on average")
    print(f"  {'part (summed over runs)':<48} {'seconds':>8}   % of run time")
    for name, value in (("data", parts["data_s"]), ("compute", parts["compute_s"]), ("eval", parts["eval_s"]),
                        ("overhead in runs (build, copy weights, save)", in_runs)):
        print(f"  {name:<48} {value:8.1f} s  {100 * value / parts['wall_time_s']:5.1f} %")
    print(f"  training images/s per worker (data + compute): {images / (parts['data_s'] + parts['compute_s']):.0f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("manifest", nargs="?", default="manifests/quickstart.yaml")
    p.add_argument("overrides", nargs="*")
    p.add_argument("--results", type=Path)
    p.add_argument("--wall", type=float)
    args = p.parse_args()
    if args.results:
        split(args.results, args.wall)
        return
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "benchbridge", "run", args.manifest, f"output_dir={tmp}/out", *args.overrides]
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        split(Path(tmp) / "out", time.perf_counter() - start)


if __name__ == "__main__":
    main()
