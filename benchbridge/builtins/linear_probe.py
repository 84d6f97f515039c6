"""Linear probing: copy the source's first n blocks and train only the new head on their features.

The classic linear probe (e.g. Kumar et al., ICLR 2022, "Fine-Tuning can Distort Pretrained Features and Underperform
Out-of-Distribution", section 2) is this strategy at n = every cut point. At a lower n, the blocks above n keep their
random initialisation and stay frozen too: the head probes the source's first n blocks through random ones.
"""

from __future__ import annotations

from typing import Any

import torch

from benchbridge.api import Network, NoOptions, ParamGroups, copy_blocks, head_params, hookimpl

BENCHBRIDGE_HOOK_API = 1


class LinearProbe:
    """Copy the first n blocks, freeze every block (no autograd, fixed BatchNorm statistics), train the head."""

    name = "linear_probe"
    Options = NoOptions
    copies = True

    def prepare(self, net: Network, n: int, source: dict[str, torch.Tensor], options: NoOptions) -> ParamGroups:
        copy_blocks(net, source, n)
        net.freeze_prefix(len(net.blocks))
        return [{"params": head_params(net), "lr_mult": 1.0}]


@hookimpl
def register_strategies(register: Any) -> None:
    register(LinearProbe())
