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
        raise UserError(f"run {run.id} ({run.condition}, split {run.pair}) has no {file}: its weights were not "
                        "kept.", file=str(run_dir), hint="Rerun the manifest with this version of benchbridge, or "
                        "set execution.save_weights: all.")
    net = initial_network(run, setup.manifest)
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return net.to(setup.device)


def source_network(source_id: str, setup: RunSetup, run_dir: Path) -> Network | None:
    """The network a pair's transfer runs copy from (a trained source, or a checkpoint's weights as benchbridge
    wrote them into the output directory), with its own head; None when its weights file is absent."""
    path = store.run_dir(run_dir, source_id) / store.WEIGHTS_FILE
    if not path.is_file():
        return None
    state = torch.load(path, map_location="cpu", weights_only=True)
    heads = [v for k, v in state.items() if k.startswith("head") and k.endswith("weight") and v.ndim == 2]
    entry, opts = setup.manifest.model
    net = entry.obj.create(setup.manifest.raw.model.name, opts, int(heads[-1].shape[0]) if heads else 2)
    net.load_state_dict(state, strict=bool(heads))
    return net.to(setup.device)


def block_weights(net: Network) -> list[list[np.ndarray]]:
    """Per block, the weight tensors of its conv and linear modules, in module order."""
    return [[m.weight.detach().cpu().numpy() for m in block.modules() if isinstance(m, WEIGHTED)]
            for block in net.blocks]


def finetuned_weights(run: Run, results: dict[str, Result], setup: RunSetup,
                      run_dir: Path) -> FinetunedWeights | None:
    """The fine-tuned run's blocks, the source network it copied (trained here, or a checkpoint's weights written
    into the output directory) and that source's own initialisation, read from their weights files.

    `results` maps run id to result; None when the fine-tuned run or its source is not finished.
    """
    done, source = results.get(run.id), results.get(run.source or "")
    source_file = store.run_dir(run_dir, run.source or "") / store.WEIGHTS_FILE
    if done is None or done.record is None or (source is not None and source.record is None) \
            or not source_file.is_file():
        return None
    keys = weight_keys(initial_network(run, setup.manifest))
    theta_r = _theta_r(run.source or "", source, setup, run_dir, keys)
    if theta_r is None:
        return None
    random, origin, init_origin = theta_r
    condition = "BnB+" if source is not None and source.run.role == "B" else "AnB+"  # a checkpoint is a source A
    return FinetunedWeights(condition, run.n, random, state_weights(source_file, keys),
                            state_weights(_weights_file(run, run_dir), keys), random_origin=origin,
                            init_origin=init_origin)


def _theta_r(source_id: str, source: Result | None, setup: RunSetup, run_dir: Path,
             keys: list[list[str]]) -> tuple[list[list[np.ndarray]], str, str | None] | None:
    """The initialisation the source network started from, where it came from, and its init_origin (None when it
    was recomputed from the seed); None for a checkpoint without init.pt."""
    found = source_initialisation(run_dir, source_id)
    if found is not None:
        return state_weights(found[0], keys), FROM_FILE, found[1]
    if source is None:
        return None
    return block_weights(initial_network(source.run, setup.manifest)), RECOMPUTED, None


def _weights_file(run: Run, run_dir: Path) -> Path:
    path = store.run_dir(run_dir, run.id) / store.WEIGHTS_FILE
    if not path.is_file():
        raise UserError(f"run {run.id} ({run.condition}, split {run.pair}) has no {path.name}: its weights were not "
                        "kept.", file=str(run_dir), hint="Rerun the manifest with this version of benchbridge, or "
                        "set execution.save_weights: all.")
    return path


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
