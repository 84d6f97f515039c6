"""Transfer strategies: how the first n blocks of a new network are set up before it trains."""

from __future__ import annotations

from typing import Any, Protocol

import torch
from pydantic import BaseModel

from benchbridge.models.network import Network
from benchbridge.transfer.phases import ParamGroups, StrategyPlan


class StrategyPlugin(Protocol):
    """What a strategy plugin registers through `register_strategies`. It may also offer `check(options, blocks)`,
    called when the manifest is read with the model's number of blocks, to refuse options that do not fit the model
    (a `UserError` with the option's key, e.g. `options.block`)."""

    name: str
    Options: type[BaseModel]
    copies: bool  # True: the first n blocks come from a source network

    def prepare(self, net: Network, n: int, source: dict[str, torch.Tensor] | None,
                options: Any) -> ParamGroups | StrategyPlan:
        """Set up `net` in place (copy, freeze) and return the parameter groups to train throughout (one phase), or
        a `StrategyPlan`: phases, the schedule across them, and a regulariser that may keep the source weights."""
        ...


def copy_blocks(net: Network, source: dict[str, torch.Tensor], n: int) -> None:
    """Load blocks[:n] of `net` from a source network's state dict (the head never comes along)."""
    prefixes = tuple(f"blocks.{i}." for i in range(n))
    state = {k: v for k, v in source.items() if k.startswith(prefixes)}
    missing = [k for k in net.state_dict() if k.startswith(prefixes) and k not in state]
    if missing:
        raise ValueError(f"source network lacks {missing[:3]}: was it built with the same model options?")
    net.load_state_dict(state, strict=False)


def block_params(net: Network, start: int, stop: int | None = None) -> list[torch.nn.Parameter]:
    """Trainable parameters of blocks[start:stop]."""
    return [p for block in net.blocks[start:stop] for p in block.parameters() if p.requires_grad]


def rest_params(net: Network, n: int) -> list[torch.nn.Parameter]:
    """Trainable parameters of every block from n on, and of the head."""
    return block_params(net, n) + [p for p in net.head.parameters() if p.requires_grad]


def blocks_params(net: Network, start: int, stop: int | None = None) -> list[torch.nn.Parameter]:
    """Every parameter of blocks[start:stop], trainable now or not (a phase may unfreeze them)."""
    return [p for block in net.blocks[start:stop] for p in block.parameters()]


def head_params(net: Network) -> list[torch.nn.Parameter]:
    """Every parameter of the head (always new: built for the target's classes)."""
    return list(net.head.parameters())
