"""Networks from a results directory: trained weights, and the T-metric's three weight sets.

theta_r (the T-metric's "random" weights) is the initialisation the PRE-TRAINED network itself started from: its
`init.pt` when its folder has one (`execute.pair_setup.source_initialisation`, which also says its origin: trained, file
or fresh_draw), else, for split grids trained before base networks kept it, the same draw recomputed from the source
run's seed (`initial_network`, as the trainer draws a base network's weights before training).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from benchbridge.results import store
from benchbridge.analyze.base import FinetunedWeights
from benchbridge.errors import UserError
from benchbridge.execute.pair_setup import source_initialisation
from benchbridge.execute.train import RunSetup
from benchbridge.execute.construct import initial_network
from benchbridge.models.network import Network
from benchbridge.plan import Run
from benchbridge.results import Result

WEIGHTED = (nn.modules.conv._ConvNd, nn.Linear)
"""The modules whose `weight` the T-metric compares (Chen et al.: conv and fc weights; no biases, no norms)."""

FROM_FILE = "init.pt of the source run"
RECOMPUTED = "recomputed from the source run's seed (no init.pt in its folder)"


def trained(run: Run, setup: RunSetup, run_dir: Path, file: str = store.WEIGHTS_FILE) -> Network:
    """The run's network with `file`'s weights (its final weights by default)."""
    path = store.run_dir(run_dir, run.id) / file
    if not path.is_file():
        raise UserError(f"run {run.id} ({run.condition}, split {run.split}) has no {file}: its weights were not "
                        "kept.", file=str(run_dir), hint="Rerun the manifest with this version of benchbridge, or "
                        "set execution.save_weights: all.")
    net = initial_network(run, setup.manifest)
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return net.to(setup.device)


def block_weights(net: Network) -> list[list[np.ndarray]]:
    """Per block, the weight tensors of its conv and linear modules, in module order."""
    return [[m.weight.detach().cpu().numpy() for m in block.modules() if isinstance(m, WEIGHTED)]
            for block in net.blocks]


def source_init(source: Run, setup: RunSetup, run_dir: Path) -> tuple[Network, str, str | None]:
    """The initialisation the source network started from, where it came from, and its init_origin (None when it
    was recomputed from the seed)."""
    found = source_initialisation(run_dir, source.id)
    if found is not None:
        return trained(source, setup, run_dir, store.INIT_FILE), FROM_FILE, found[1]
    return initial_network(source, setup.manifest), RECOMPUTED, None


def finetuned_weights(run: Run, results: dict[str, Result], setup: RunSetup,
                      run_dir: Path) -> FinetunedWeights | None:
    """The fine-tuned run's blocks, the source network it copied, and that source's own initialisation.

    `results` maps run id to result; None when the fine-tuned run or its source is not finished.
    """
    done = results.get(run.id)
    source = results.get(run.source or "")
    if done is None or done.record is None or source is None or source.record is None:
        return None
    condition = "AnB+" if source.run.target == "A" else "BnB+"
    random, origin, init_origin = source_init(source.run, setup, run_dir)
    nets = [random, trained(source.run, setup, run_dir), trained(run, setup, run_dir)]
    return FinetunedWeights(condition, run.n, *[block_weights(net) for net in nets], random_origin=origin,
                            init_origin=init_origin)


def weight_keys(net: Network) -> list[list[str]]:
    """Per block, the state-dict keys of its conv and linear weights, in module order (as `block_weights`)."""
    return [[".".join(p for p in ("blocks", str(i), name, "weight") if p) for name, m in block.named_modules()
             if isinstance(m, WEIGHTED)] for i, block in enumerate(net.blocks)]


def state_weights(path: Path, keys: list[list[str]]) -> list[list[np.ndarray]]:
    """Per block, the conv and linear weights `keys` names, read from a state-dict file (weights.pt or init.pt)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    missing = [k for block in keys for k in block if k not in state]
    if missing:
        raise UserError(f"'{path}' lacks {missing[0]} ({len(missing)} conv/linear weights of the model's blocks "
                        "missing): it is not a state dict of this grid's model.", file=str(path),
                        hint="Rerun the manifest so that its runs write their weights again.")
    return [[state[k].detach().float().numpy() for k in block] for block in keys]
