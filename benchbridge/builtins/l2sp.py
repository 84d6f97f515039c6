"""L2-SP (Li, Grandvalet and Davoine, ICML 2018, "Explicit Inductive Bias for Transfer Learning with Convolutional
Networks"): fine-tune everything, but instead of weight decay towards zero penalise the copied weights' distance to
the source's, Ω(w) = α/2 ‖w_S − w⁰_S‖² + β/2 ‖w_S̄‖², w_S the parameters copied from the source (w⁰_S their source
values), w_S̄ the new ones (the blocks above n and the head).

The penalty replaces training.weight_decay for every parameter of the run (Li et al.'s L2-SP has no other L2 term);
it is added to each step's loss (the logged training loss stays the cross-entropy). Defaults α = 0.1, β = 0.01.
"""

from __future__ import annotations

from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field

from benchbridge.api import Network, Phase, StrategyPlan, blocks_params, copy_blocks, head_params, hookimpl

BENCHBRIDGE_HOOK_API = 1


class L2SPOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    alpha: float = Field(0.1, ge=0, description="α: weight of ‖w_S − w⁰_S‖²/2, the copied parameters' squared "
                         "distance to their source values.")
    beta: float = Field(0.01, ge=0, description="β: weight of ‖w_S̄‖²/2, plain L2 on the new parameters (the blocks "
                        "above n and the head).")


class L2SPPenalty:
    """α/2 ‖w_S − w⁰_S‖² + β/2 ‖w_S̄‖², the source values kept on the parameters' device."""

    def __init__(self, copied: list[torch.nn.Parameter], new: list[torch.nn.Parameter], alpha: float,
                 beta: float) -> None:
        self.copied, self.new, self.alpha, self.beta = copied, new, alpha, beta
        self.start = [p.detach().clone() for p in copied]  # w⁰_S: the source's values, as copied

    def __call__(self) -> torch.Tensor:
        if self.copied and self.start[0].device != self.copied[0].device:
            self.start = [w.to(p.device) for w, p in zip(self.start, self.copied)]
        near = sum(((p - w) ** 2).sum() for p, w in zip(self.copied, self.start))
        small = sum((p ** 2).sum() for p in self.new)
        return self.alpha / 2 * near + self.beta / 2 * small  # type: ignore[return-value]


class L2SP:
    """Copy the first n blocks and fine-tune everything, the copied weights pulled towards the source's."""

    name = "l2sp"
    Options = L2SPOptions
    copies = True

    def prepare(self, net: Network, n: int, source: dict[str, torch.Tensor], options: L2SPOptions) -> StrategyPlan:
        copy_blocks(net, source, n)
        copied, new = blocks_params(net, 0, n), blocks_params(net, n) + head_params(net)
        groups = [{"params": ps, "lr_mult": 1.0, "weight_decay": 0.0} for ps in (copied, new) if ps]
        return StrategyPlan([Phase(groups)], regulariser=L2SPPenalty(copied, new, options.alpha, options.beta))


@hookimpl
def register_strategies(register: Any) -> None:
    register(L2SP())
