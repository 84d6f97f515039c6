"""Surgical fine-tuning (Lee et al., ICLR 2023, "Surgical Fine-Tuning Improves Adaptation to Distribution Shifts"):
copy the source's blocks and fine-tune one of them, freezing the others. They report that the best block depends on
the shift: input-level shifts (corruptions, colour) favour early blocks, shifts in what the classes mean later ones.

Here, at cut point n: the first n blocks come from the source; block `block` (1-based, as n counts) trains, the
other copied blocks are frozen, and what the source did not give (the blocks above n, the head) trains as always.
The paper's setting is n = every cut point; with `block` above n the run trains what `frozen` trains. The blocks
below `block` run without autograd and keep their BatchNorm statistics; the frozen blocks above it get no updates,
but their BatchNorm statistics (if any) follow the target's data, as when only parameters are frozen.
"""

from __future__ import annotations

from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field

from benchbridge.api import Network, ParamGroups, UserError, blocks_params, copy_blocks, head_params, hookimpl

BENCHBRIDGE_HOOK_API = 1


class SurgicalOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    block: int = Field(ge=1, description="The copied block that trains (1 = the first cut point); the other copied "
                       "blocks are frozen.")


class Surgical:
    """Copy the first n blocks and fine-tune only block `block` of them (with the new blocks and the head)."""

    name = "surgical"
    Options = SurgicalOptions
    copies = True

    def check(self, options: SurgicalOptions, blocks: int) -> None:
        """When the manifest is read: the block must be one of the model's."""
        if options.block > blocks:
            raise UserError(f"surgical fine-tuning of block {options.block}: the model has {blocks} blocks.",
                            key="options.block", hint=f"Choose a block from 1 to {blocks}.")

    def prepare(self, net: Network, n: int, source: dict[str, torch.Tensor],
                options: SurgicalOptions) -> ParamGroups:
        self.check(options, len(net.blocks))
        copy_blocks(net, source, n)
        k = options.block - 1
        net.freeze_prefix(min(k, n))
        for p in blocks_params(net, k + 1, n):  # the copied blocks above the trained one: frozen, gradients pass
            p.requires_grad_(False)
        trained = blocks_params(net, k, k + 1) if k < n else []
        return [{"params": trained + blocks_params(net, n) + head_params(net), "lr_mult": 1.0}]


@hookimpl
def register_strategies(register: Any) -> None:
    register(Surgical())
