"""LP-FT (Kumar et al., ICLR 2022, "Fine-Tuning can Distort Pretrained Features and Underperform
Out-of-Distribution"): fit the new head first with every block frozen (a linear probe), then fine-tune everything
from there, so that fine-tuning starts from a head that already fits the copied features.

Two phases of one run's budget: the probe for `probe_fraction` of its iterations, then fine-tuning for the rest. By
default each phase runs the manifest's learning-rate schedule compressed into its own iterations (`schedule:
restart`: a step schedule decays at the same fractions of each phase), as the paper trains the probe and then
fine-tunes; `continue` runs one schedule across both.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field

from benchbridge.api import (Network, Phase, StrategyPlan, blocks_params, copy_blocks, head_params, hookimpl)

BENCHBRIDGE_HOOK_API = 1


class LpFtOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    probe_fraction: float = Field(0.5, gt=0, lt=1, description="Share of the run's iterations spent on the linear "
                                  "probe (head only, every block frozen) before fine-tuning everything.")
    finetune_lr_mult: float = Field(1.0, ge=0, description="Learning-rate multiplier of the copied blocks while "
                                    "fine-tuning (the blocks above n and the head: 1).")
    schedule: Literal["restart", "continue"] = Field(
        "restart", description="restart: each phase runs the manifest's learning-rate schedule compressed into its "
        "own iterations; continue: one schedule over the whole run.")


class LpFt:
    """Copy the first n blocks; phase 1 trains the head alone (every block frozen), phase 2 trains everything."""

    name = "lp_ft"
    Options = LpFtOptions
    copies = True

    def prepare(self, net: Network, n: int, source: dict[str, torch.Tensor], options: LpFtOptions) -> StrategyPlan:
        copy_blocks(net, source, n)
        probe = Phase([{"params": head_params(net), "lr_mult": 1.0}], fraction=options.probe_fraction,
                      frozen_prefix=len(net.blocks), name="probe")
        tune = [{"params": blocks_params(net, 0, n), "lr_mult": options.finetune_lr_mult},
                {"params": blocks_params(net, n) + head_params(net), "lr_mult": 1.0}]
        finetune = Phase([g for g in tune if g["params"]], frozen_prefix=0, name="finetune")
        return StrategyPlan([probe, finetune], schedule=options.schedule)


@hookimpl
def register_strategies(register: Any) -> None:
    register(LpFt())
