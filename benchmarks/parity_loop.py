"""The plain PyTorch side of benchmarks/parity.py and parity_t.py: the recipe, the shards read with tarfile and PIL,
torch's SGD. No benchbridge code runs between the network's constructor (benchbridge's `alexnet`) and top-1.

The loop reads the first k images of each class in file order (as images_per_class does), decodes them once into
a uint8 tensor, and trains with a fresh permutation per epoch, the last partial batch dropped (as benchbridge does
since issue 25), a random 28px crop + mirror, ImageNet mean/std; evaluation takes the centre crop.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import yaml
from PIL import Image

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
RECIPE: dict[str, Any] = {  # the recipe, on CIFAR-10
    "model": {"name": "alexnet", "options": {"input_size": 28, "width": 0.25, "fc_width": 512, "dropout": 0.5,
                                             "init": "kaiming", "preprocess": "standard", "small_kernels": 3,
                                             "head_init": "pytorch"}},
    "training": {"optimizer": "sgd", "lr": 0.01, "momentum": 0.9, "weight_decay": 0.0005, "batch_size": 128,
                 "epochs": 15, "schedule": {"name": "step", "step_size": 9, "gamma": 0.1}},
}
SIZE = 28  # the crop the network takes


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


def loop_recipe(overrides: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The model options and training keys the loop uses: RECIPE with the KEY=VALUE overrides that reach it."""
    given = {k: yaml.safe_load(v) for k, v in (o.split("=", 1) for o in overrides)}
    opts = RECIPE["model"]["options"] | {k[14:]: v for k, v in given.items() if k.startswith("model.options.")}
    training = RECIPE["training"] | {k[9:]: v for k, v in given.items() if k.startswith("training.")}
    return opts, training


def build(opts: dict[str, Any], classes: int, seed: int) -> torch.nn.Module:
    """benchbridge's `alexnet` (the same constructor), drawn after torch.manual_seed(seed), channels-last."""
    from benchbridge.builtins.alexnet import AlexNetOptions, build_alexnet
    torch.manual_seed(seed)
    return build_alexnet(AlexNetOptions(**opts), classes).to(memory_format=torch.channels_last)


def snapshot(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def fit(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, t: dict[str, Any], epochs: int, seed: int) -> None:
    """Train every parameter of `net` with torch's SGD and StepLR on (x, y), the last partial batch dropped."""
    opt = torch.optim.SGD(net.parameters(), lr=t["lr"], momentum=t["momentum"], weight_decay=t["weight_decay"])
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=t["schedule"]["step_size"], gamma=t["schedule"]["gamma"])
    g = torch.Generator().manual_seed(seed)
    side = x.shape[-1]
    for _ in range(epochs):
        net.train()
        order = torch.randperm(len(x), generator=g)
        for i in range(0, len(x) - t["batch_size"] + 1, t["batch_size"]):  # the last partial batch dropped
            idx = order[i:i + t["batch_size"]]
            tops = torch.randint(0, side - SIZE + 1, (len(idx), 2), generator=g)
            flips = torch.rand(len(idx), generator=g) < 0.5
            crops = [x[j, :, a:a + SIZE, b:b + SIZE] for j, (a, b) in zip(idx.tolist(), tops.tolist())]
            batch = torch.stack([c.flip(-1) if f else c for c, f in zip(crops, flips.tolist())])
            loss = F.cross_entropy(net(normalised(batch).contiguous(memory_format=torch.channels_last)), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()


def top1(net: torch.nn.Module, vx: torch.Tensor, vy: torch.Tensor) -> float:
    """Top-1 on the centre crops of (vx, vy), in batches of 250."""
    net.eval()
    off = (vx.shape[-1] - SIZE) // 2
    with torch.no_grad():
        correct = sum(int((net(normalised(vx[i:i + 250, :, off:off + SIZE, off:off + SIZE])).argmax(1)
                           == vy[i:i + 250]).sum()) for i in range(0, len(vx), 250))
    return correct / len(vx)
