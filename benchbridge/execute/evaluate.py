"""Evaluation: top-1, top-5 and loss over every image; under DDP each rank scores its share and counts are summed."""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import nullcontext
from typing import Any

import torch
import torch.nn.functional as F

from benchbridge.execute import distributed


def evaluate(net: torch.nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], device: torch.device,
             precision: str = "fp32", channels_last: bool = False) -> dict[str, float]:
    """Top-1/top-5/loss over every image of `batches` (summed over ranks), with the network in eval mode."""
    net.eval()
    correct1 = correct5 = seen = 0
    loss = 0.0
    with torch.no_grad():
        for x, y in batches:
            x, y = to_device(x, device, channels_last), y.to(device, non_blocking=True)
            with autocast(device, precision):
                out = net(x)
            out = out.float()
            loss += F.cross_entropy(out, y, reduction="sum").item()
            top = out.topk(min(5, out.shape[1]), dim=1).indices
            correct1 += (top[:, 0] == y).sum().item()
            correct5 += (top == y[:, None]).any(dim=1).sum().item()
            seen += len(y)
    net.train()
    correct1, correct5, loss, seen = distributed.all_sum([correct1, correct5, loss, seen], device)
    return {"top1": correct1 / seen, "top5": correct5 / seen, "val_loss": loss / seen, "val_images": int(seen)}


def agreement(a: torch.nn.Module, b: torch.nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
              device: torch.device, precision: str = "fp32", channels_last: bool = False) -> tuple[int, int]:
    """(images on which `a` and `b` predict the same class, images) over every image of `batches`, summed over
    ranks; both networks in eval mode."""
    a.eval(), b.eval()
    same = seen = 0
    with torch.no_grad(), autocast(device, precision):
        for x, _ in batches:
            x = to_device(x, device, channels_last)
            same += int((a(x).argmax(1) == b(x).argmax(1)).sum())
            seen += len(x)
    a.train()
    same, seen = distributed.all_sum([same, seen], device)
    return int(same), int(seen)


def to_device(x: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    """A batch of images on `device`, in channels-last layout when the network uses it."""
    x = x.to(device, non_blocking=True)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def autocast(device: torch.device, precision: str) -> Any:
    """bf16 autocast for training.precision bf16; a no-op context otherwise."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()
