"""A run's network: its seeded random initialisation, and the blocks its strategy copies or freezes into it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from benchbridge import registry
from benchbridge.models.network import Network
from benchbridge.transfer.phases import StrategyPlan, as_plan

if TYPE_CHECKING:
    from benchbridge.manifest import ResolvedManifest
    from benchbridge.plan import Run


def seed_of(run: "Run") -> int:
    """Initialisation and data-order seed: the manifest seed mixed with the run id, so reruns are identical."""
    return (run.seed * 1_000_003 + int(run.id, 16)) % (2**31 - 1)


def initial_network(run: "Run", manifest: "ResolvedManifest") -> Network:
    """The run's random initialisation, before a strategy copies any block into it."""
    torch.manual_seed(seed_of(run))
    entry, opts = manifest.model
    return entry.obj.create(manifest.raw.model.name, opts, len(run.train_classes))


def transfer_network(run: "Run", manifest: "ResolvedManifest",
                     source: dict[str, torch.Tensor] | None) -> tuple[Network, StrategyPlan]:
    """The run's network with its strategy applied (blocks copied from `source`'s weights, frozen or not), and the
    strategy's plan (its parameter groups, as one phase when `prepare` returned a list)."""
    net = initial_network(run, manifest)
    strategy = registry.get("strategy", run.strategy)
    options = registry.validate_options(strategy, run.strategy_options, key="conditions.options")
    return net, as_plan(strategy.obj.prepare(net, run.n, source, options))
