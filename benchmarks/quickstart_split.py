"""The quickstart grid's wall time split into data, compute, evaluation and overhead, from its metrics.

python benchmarks/quickstart_split.py [MANIFEST] [KEY=VALUE ...]   (runs the grid into a fresh temporary directory)
python benchmarks/quickstart_split.py --results DIR --wall SECONDS  (splits a grid already run)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchbridge.results import load_results


def split(results_dir: Path, wall: float) -> None:
    metrics = [r.metrics for r in load_results(results_dir) if r.metrics]
    parts = {k: sum(m[k] for m in metrics) for k in ("data_s", "compute_s", "eval_s", "wall_time_s")}
    in_runs = parts["wall_time_s"] - parts["data_s"] - parts["compute_s"] - parts["eval_s"]
    outside = wall - parts["wall_time_s"]
    images = sum(m["images_seen"] for m in metrics)
    print(f"{len(metrics)} runs, {images} training images, wall {wall:.1f} s")
    for name, value in (("data", parts["data_s"]), ("compute", parts["compute_s"]), ("eval", parts["eval_s"]),
                        ("overhead in runs (build, copy weights, save)", in_runs),
                        ("overhead outside runs (start-up, dataset, plan)", outside)):
        print(f"  {name:<48} {value:8.1f} s  {100 * value / wall:5.1f} %")
    print(f"  training images/s (data + compute): {images / (parts['data_s'] + parts['compute_s']):.0f}")


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
