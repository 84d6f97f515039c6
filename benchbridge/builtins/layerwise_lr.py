"""Layer-wise (discriminative) learning rates (Howard and Ruder, ACL 2018, "Universal Language Model Fine-tuning
for Text Classification", section 3.2): fine-tune everything, each copied block at a lower rate than the block above
it. ULMFiT divides the rate by 2.6 per layer going down, so `decay` defaults to 1/2.6.

At cut point n: copied block i (1-based) trains at training.lr × decay^(n − i + 1): the top copied block at
lr × decay, the one below at lr × decay², ...; the blocks above n (new) and the head train at training.lr.
"""

from __future__ import annotations

from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field

from benchbridge.api import Network, ParamGroups, blocks_params, copy_blocks, head_params, hookimpl

BENCHBRIDGE_HOOK_API = 1


class LayerwiseOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decay: float = Field(1 / 2.6, gt=0, le=1, description="Rate multiplier per copied block, from the top down: "
                         "the top copied block trains at lr × decay, the next at lr × decay², ...")


class LayerwiseLr:
    """Copy the first n blocks and fine-tune everything, the copied blocks' rates decaying from the top down."""

    name = "layerwise_lr"
    Options = LayerwiseOptions
    copies = True

    def prepare(self, net: Network, n: int, source: dict[str, torch.Tensor],
                options: LayerwiseOptions) -> ParamGroups:
        copy_blocks(net, source, n)
        groups = [{"params": blocks_params(net, i, i + 1), "lr_mult": options.decay ** (n - i)} for i in range(n)]
        groups.append({"params": blocks_params(net, n) + head_params(net), "lr_mult": 1.0})
        return [g for g in groups if g["params"]]


@hookimpl
def register_strategies(register: Any) -> None:
    register(LayerwiseLr())
