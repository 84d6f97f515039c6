"""The paper's strategies: scratch (base networks), frozen, finetune, random_frozen."""

from __future__ import annotations

from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field

from benchbridge.api import Network, NoOptions, ParamGroups, block_params, copy_blocks, hookimpl, rest_params


class FinetuneOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lr_mult: float = Field(1.0, ge=0, description="Learning-rate multiplier for the copied blocks.")


class Scratch:
    """Train every block from random initialisation (the base networks)."""

    name = "scratch"
    Options = NoOptions
    copies = False

    def prepare(self, net: Network, n: int, source: Any, options: NoOptions) -> ParamGroups:
        return [{"params": rest_params(net, 0), "lr_mult": 1.0}]


class Frozen:
    """Copy the first n blocks and freeze them: no updates, no backward pass through them (AnB, BnB)."""

    name = "frozen"
    Options = NoOptions
    copies = True

    def prepare(self, net: Network, n: int, source: dict[str, torch.Tensor], options: NoOptions) -> ParamGroups:
        copy_blocks(net, source, n)
        net.freeze_prefix(n)
        return [{"params": rest_params(net, n), "lr_mult": 1.0}]


class Finetune:
    """Copy the first n blocks and train everything, copied blocks at lr x lr_mult (AnB+, BnB+)."""

    name = "finetune"
    Options = FinetuneOptions
    copies = True

    def prepare(self, net: Network, n: int, source: dict[str, torch.Tensor],
                options: FinetuneOptions) -> ParamGroups:
        copy_blocks(net, source, n)
        groups = [{"params": block_params(net, 0, n), "lr_mult": options.lr_mult},
                  {"params": rest_params(net, n), "lr_mult": 1.0}]
        return [g for g in groups if g["params"]]


class RandomFrozen:
    """Leave the first n blocks at their random initialisation and freeze them (the paper's control)."""

    name = "random_frozen"
    Options = NoOptions
    copies = False

    def prepare(self, net: Network, n: int, source: Any, options: NoOptions) -> ParamGroups:
        net.freeze_prefix(n)
        return [{"params": rest_params(net, n), "lr_mult": 1.0}]


@hookimpl
def register_strategies(register: Any) -> None:
    for strategy in (Scratch(), Frozen(), Finetune(), RandomFrozen()):
        register(strategy)
