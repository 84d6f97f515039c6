"""A network as the study sees it: an ordered list of named blocks (the cut points) and a head."""

from __future__ import annotations

from typing import Any, Protocol

import torch
from pydantic import BaseModel
from torch import nn


class Network(nn.Module):
    """blocks[0..n-1] are "the first n layers"; the head is always re-initialised for the target task.

    The first `frozen_prefix` blocks run without autograd (no backward pass goes through them) and keep
    normalisation statistics fixed.
    """

    def __init__(self, blocks: list[tuple[str, nn.Module]], head: nn.Module) -> None:
        super().__init__()
        self.block_names = [name for name, _ in blocks]
        self.blocks = nn.ModuleList(module for _, module in blocks)
        self.head = head
        self.frozen_prefix = 0

    @property
    def cut_points(self) -> list[str]:
        return list(self.block_names)

    def train(self, mode: bool = True) -> "Network":
        super().train(mode)
        for block in self.blocks[: self.frozen_prefix]:
            for module in block.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        return self

    def freeze_prefix(self, n: int) -> None:
        """Freeze blocks[:n]: no parameter updates, no autograd through them, fixed BatchNorm statistics."""
        self.frozen_prefix = n
        for block in self.blocks[:n]:
            for p in block.parameters():
                p.requires_grad_(False)
        self.train(self.training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.frozen_prefix
        if k:
            with torch.no_grad():
                for block in self.blocks[:k]:
                    x = block(x)
        for block in self.blocks[k:]:
            x = block(x)
        return self.head(x)


class ModelPlugin(Protocol):
    """What a model plugin registers through `register_models`."""

    name: str  # a name, or a namespace ending in "/" (e.g. "timm/") that serves many names
    Options: type[BaseModel]
    # Optional methods: `list_names(pattern) -> list[str]`, the names a namespace serves; and
    # `pretrained_file(name, options, tag) -> Path`, the local file of the model's pretrained weights `tag` (a
    # source's `pretrained: TAG`), never downloaded: a UserError naming every path looked for when it is absent.

    def create(self, name: str, options: Any, num_classes: int) -> Network: ...

    def cut_points(self, name: str, options: Any) -> list[str]:
        """Names of the blocks, in order, without building the network's weights if possible."""
        ...

    def data_config(self, name: str, options: Any) -> dict[str, Any]:
        """Input size, mean and std the model expects: {"input_size": int, "mean": [...], "std": [...]}."""
        ...
