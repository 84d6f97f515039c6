"""Features at every cut point of a model plugin's network, read from its blocks (no model-specific code)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch

from benchbridge.models.network import Network


@dataclass
class Features:
    """One network's representation of a set of images: per block an (images, dims) array, and its head's softmax."""

    blocks: list[np.ndarray]
    probs: np.ndarray


def pool(x: torch.Tensor) -> torch.Tensor:
    """A block's output as one vector per image: (N, C, H, W) global-average-pooled, (N, T, C) token-averaged."""
    if x.ndim == 4:
        return x.mean(dim=(2, 3))
    if x.ndim == 3:
        return x.mean(dim=1)
    return x.reshape(len(x), -1)


def take_per_class(batches: Iterable[tuple[torch.Tensor, torch.Tensor]], classes: int,
                   per_class: int | None) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
    """The first `per_class` images of each class in the stream's order (all of them when None)."""
    counts = np.zeros(classes, dtype=np.int64)
    for x, y in batches:
        if per_class is None:
            yield x, y
            continue
        keep = torch.zeros(len(y), dtype=torch.bool)
        for i, label in enumerate(y.tolist()):
            if counts[label] < per_class:
                counts[label] += 1
                keep[i] = True
        if keep.any():
            yield x[keep], y[keep]
        if counts.min() >= per_class:
            return


def extract(nets: dict[str, Network], batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
            device: torch.device) -> tuple[dict[str, Features], np.ndarray]:
    """Every network's block features on the same images (each batch through every network), and the labels."""
    outs: dict[str, tuple[list[list[np.ndarray]], list[np.ndarray]]] = {
        name: ([[] for _ in net.blocks], []) for name, net in nets.items()}
    labels = []
    for net in nets.values():
        net.eval()
    with torch.no_grad():
        for x, y in batches:
            labels.append(y.numpy())
            for name, net in nets.items():
                h = x.to(device)
                per_block, probs = outs[name]
                for i, block in enumerate(net.blocks):
                    h = block(h)
                    per_block[i].append(pool(h).float().cpu().numpy())
                probs.append(torch.softmax(net.head(h).float(), dim=1).cpu().numpy())
    feats = {name: Features([np.concatenate(b) for b in per_block], np.concatenate(probs))
             for name, (per_block, probs) in outs.items()}
    return feats, np.concatenate(labels)
