"""Margins of the health rules (benchbridge/execute/health.py) on both kinds of network.

python benchmarks/health_margins.py untrained [--seeds 200] [--data DIR]
python benchmarks/health_margins.py learned DATA [--seeds 5] [--out DIR]

`untrained`: networks that did not learn. A run at lr 1e-9 keeps its initialisation (a step moves a weight by
about 1e-9 x its gradient), so its top-1 and loss are those of its random draw: this builds `--seeds` draws of each
model below, evaluates them on 10 classes of validation images (the quickstart's generated data, or `--data`: any
prepared dataset, its first 10 classes) and prints, per model, the spread of top-1, of the one-sided binomial
p-value against 1/10, and the loss against ln 10 (the training loss at lr 1e-9 is that of the same draw on
augmented training images).

`learned`: small targets that learned: `benchbridge run` of a target of 10 classes at 100 training images each
(the issue's recipe: CaffeNet at 1/4 width, fc 512, dropout 0.5, crop 28 of 32 + mirror, SGD 0.01, batch 128,
15 epochs, x0.1 after 9) on the prepared dataset DATA, `--seeds` seeds; prints each network's top-1, p-value, the
last batch's loss, the share of validation images on which it predicts what its initialisation did (rule 4), and its
health.
"""

from __future__ import annotations

import argparse
import math
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
import yaml

from benchbridge.data.augment import normalise
from benchbridge.data.loader import LoaderSpec, make_loader
from benchbridge.data.shard_files import open_dataset
from benchbridge.execute import health
from benchbridge.models import create_model, model_data_config
from benchbridge.results import load_results

CLASSES = 10
MODELS = {  # the quickstart's network (kaiming head) and the (the small-image default head: pytorch)
    "quickstart alexnet (kaiming head)": {"input_size": 28, "width": 0.125, "fc_width": 128, "dropout": 0.5,
                                          "init": "kaiming", "preprocess": "standard", "head_init": "kaiming"},
    "issue's alexnet (pytorch head)": {"input_size": 28, "width": 0.25, "fc_width": 512, "dropout": 0.5,
                                       "init": "kaiming", "preprocess": "standard"},
    "alexnet with Caffe's init (the paper's; small logits)": {"input_size": 28, "width": 0.25, "fc_width": 512,
                                                              "dropout": 0.5, "init": "caffe", "head_init": "caffe",
                                                              "preprocess": "standard"},
}


def untrained(args: argparse.Namespace) -> None:
    root = Path(args.data) if args.data else _quickstart_data()
    source = open_dataset(root)
    chance = math.log(CLASSES)
    for label, options in MODELS.items():
        if args.models and not any(m in label for m in args.models):
            continue
        config = model_data_config("alexnet", **options)
        spec = LoaderSpec(split="val", classes=tuple(range(CLASSES)), batch_size=250, train=False, seed=0, epoch=0,
                          input_size=config["input_size"], augmentation="paper")
        x, y = (torch.cat(t) for t in zip(*make_loader(source, spec)))
        x = normalise(x, config["mean"], config["std"])
        rows = []
        for seed in range(args.seeds):
            torch.manual_seed(seed)
            net = create_model("alexnet", CLASSES, **options).eval()
            with torch.no_grad():
                out = net(x)
            top1 = float((out.argmax(1) == y).float().mean())
            loss = float(torch.nn.functional.cross_entropy(out, y))
            rows.append((top1, health.chance_p_value(top1, len(y), CLASSES), loss / chance))
        _print_untrained(label, rows, len(y))


def _print_untrained(label: str, rows: list[tuple[float, float, float]], images: int) -> None:
    tops, ps, ratios = zip(*rows)
    band = [r for r in rows if abs(r[2] - 1) <= health.LOSS_BAND]
    above = [r for r in rows if r[2] > 1 + health.ABOVE_CHANCE]
    print(f"{label}: {len(rows)} draws on {images} images")
    print(f"  top-1: mean {statistics.fmean(tops):.3f}, max {max(tops):.3f}; smallest p {min(ps):.2g}; "
          f"p < 0.01: {sum(p < 0.01 for p in ps)}, p < 1e-3: {sum(p < 1e-3 for p in ps)}")
    print(f"  loss / ln C: min {min(ratios):.3f}, median {statistics.median(ratios):.3f}, max {max(ratios):.3f}; "
          f"within {health.LOSS_BAND:.0%} of ln C: {len(band)}, more than {health.ABOVE_CHANCE:.0%} above: "
          f"{len(above)}, neither: {len(rows) - len(band) - len(above)}")
    if band:
        print(f"  of those within the band: max top-1 {max(r[0] for r in band):.3f}, smallest p "
              f"{min(r[1] for r in band):.2g}")
    neither = [r for r in rows if r not in band and r not in above]
    if neither:
        print(f"  of those in neither (caught by rule 1 alone): {sum(r[1] >= health.ALPHA for r in neither)} with "
              f"p >= {health.ALPHA} (caught), {sum(r[1] < health.ALPHA for r in neither)} with p < {health.ALPHA} "
              "(called ok)")


def _quickstart_data() -> Path:
    from benchbridge.builtins.synthetic import SyntheticDataset, SyntheticOptions

    options = SyntheticOptions(classes=20, image_size=32, train_per_class=250, val_per_class=50, seed=0,
                               root=Path(tempfile.gettempdir()) / "bb-health-margins-quickstart")
    return SyntheticDataset().open(options).root


def learned(args: argparse.Namespace) -> None:
    out = Path(args.out or tempfile.mkdtemp(prefix="bb-health-learned-"))
    out.mkdir(parents=True, exist_ok=True)
    manifest = {
        "name": "health-margins", "output_dir": str(out / "results"),
        "dataset": {"name": "shards", "options": {"path": str(Path(args.data).resolve())}},
        "model": {"name": "alexnet", "options": MODELS["issue's alexnet (pytorch head)"]},
        "sources": [{"name": "unused", "classes": [0, 1]}],
        "targets": [{"name": "small", "classes": list(range(CLASSES)), "images_per_class": 100}],
        "conditions": ["baseB"], "seeds": list(range(args.seeds)),
        "training": {"optimizer": "sgd", "lr": 0.01, "momentum": 0.9, "weight_decay": 0.0005, "batch_size": 128,
                     "epochs": 15, "schedule": {"name": "step", "step_size": 9, "gamma": 0.1}},
        "evaluation": {"every": 1000000, "best_k": 1, "batch_size": 250},  # once, after training
        "data": {"augmentation": "paper"},
        "execution": {"device": "cpu", "threads": 1, "workers": 1, "cache_data": True, "on_unhealthy": "train",
                      "save_weights": "all"},  # init.pt and weights.pt: rule 4's share of unchanged predictions
    }
    path = out / "manifest.yaml"
    path.write_text(yaml.safe_dump(manifest, sort_keys=False))
    subprocess.run([sys.executable, "-m", "benchbridge", "run", str(path)], check=False)
    for result in load_results(out / "results"):
        m = result.record
        if m is None:
            continue
        images = m.curve[-1].val_images
        p = health.chance_p_value(m.top1, images, CLASSES)
        losses = [c.train_loss for c in m.curve if c.train_loss is not None]
        print(f"seed {m.seed}: top-1 {m.top1:.3f} on {images} images, p {p:.2g}; last batch's training loss "
              f"{losses[-1] / math.log(CLASSES):.3f} x ln C; predictions unchanged from its initialisation "
              f"{_unchanged(result.run.id, out / 'results', Path(args.data)):.3f}; health {m.health}: "
              f"{m.health_reason}")


def _unchanged(run_id: str, results: Path, data: Path) -> float:
    """The share of validation images on which a run's trained network predicts what its initialisation did."""
    options = MODELS["issue's alexnet (pytorch head)"]
    config = model_data_config("alexnet", **options)
    spec = LoaderSpec(split="val", classes=tuple(range(CLASSES)), batch_size=250, train=False, seed=0, epoch=0,
                      input_size=config["input_size"], augmentation="paper")
    nets = []
    for name in ("init.pt", "weights.pt"):
        net = create_model("alexnet", CLASSES, **options).eval()
        net.load_state_dict(torch.load(results / "runs" / run_id / name, weights_only=True))
        nets.append(net)
    same = seen = 0
    with torch.no_grad():
        for x, _ in make_loader(open_dataset(data), spec):
            x = normalise(x, config["mean"], config["std"])
            same += int((nets[0](x).argmax(1) == nets[1](x).argmax(1)).sum())
            seen += len(x)
    return same / seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    a = sub.add_parser("untrained")
    a.add_argument("--seeds", type=int, default=200)
    a.add_argument("--data", default=None)
    a.add_argument("--models", nargs="*", help="only the models whose label contains one of these words")
    b = sub.add_parser("learned")
    b.add_argument("data")
    b.add_argument("--seeds", type=int, default=5)
    b.add_argument("--out", default=None)
    args = parser.parse_args()
    untrained(args) if args.what == "untrained" else learned(args)


if __name__ == "__main__":
    main()
