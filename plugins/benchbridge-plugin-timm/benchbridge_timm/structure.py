"""Cut a timm model into benchbridge blocks, following timm's own `feature_info` and forward order."""

from __future__ import annotations

import copy
from dataclasses import dataclass
import torch
from torch import nn

from benchbridge.api import UserError


@dataclass(frozen=True)
class Structure:
    """Which of the model's modules make each block, and which make the head."""

    cut_points: list[str]  # timm's feature_info module names, in order
    groups: list[list[str]]  # per block: the dotted module names it runs, in order
    head: list[str]  # top-level modules that forward_head uses
    stem_view: list[str]  # non-empty when the stem is not a plain chain (e.g. a ViT's position embedding)


def _containers(feature_modules: list[str]) -> set[str]:
    return {m.rsplit(".", 1)[0] for m in feature_modules if "." in m}


def _trace(model: nn.Module, containers: set[str], input_size: int) -> list[str]:
    """Names of the steps forward_features calls, in call order (children of `containers` expanded)."""
    steps: list[tuple[str, nn.Module]] = []
    for name, child in model.named_children():
        if name in containers:
            steps += [(f"{name}.{sub}", m) for sub, m in child.named_children()]
        else:
            steps.append((name, child))
    called: list[str] = []
    hooks = [m.register_forward_pre_hook(lambda _m, _a, n=n: called.append(n) if n not in called else None)
             for n, m in steps]
    model.eval()  # batch of one: BatchNorm must not compute batch statistics
    try:
        with torch.no_grad():
            model.forward_features(torch.empty(1, 3, input_size, input_size, device="meta"))
    finally:
        for h in hooks:
            h.remove()
    return called


def analyse(model: nn.Module, name: str, input_size: int) -> Structure:
    """The block structure of a timm model built on the meta device."""
    info = getattr(model, "feature_info", None)
    if not info:
        raise UserError(f"timm model '{name}' declares no feature_info, so benchbridge cannot derive its cut points.",
                        key="model.name", hint="Pick a timm model with features_only support (most CNNs and ViTs).")
    features = [f["module"] for f in info]
    called = _trace(model, _containers(features), input_size)
    cuts = [f for f in features if f in called]
    groups: list[list[str]] = [[] for _ in cuts]
    k = 0
    for step in called:
        groups[min(k, len(cuts) - 1)].append(step)
        if k < len(cuts) and step == cuts[k]:
            k += 1
    top_called = {s.split(".", 1)[0] for s in called}
    head = [n for n, _ in model.named_children() if n not in top_called]
    stem_view: list[str] = []
    if model._parameters or model._buffers:  # e.g. a ViT's cls_token/pos_embed: the stem is not a plain chain
        first = groups[0].index(cuts[0])
        stem_view, groups[0] = groups[0][:first], groups[0][first:]
    return Structure(cuts, groups, head, stem_view)


def _view(model: nn.Module, keep: list[str], blank: list[str], params: bool) -> nn.Module:
    """A shallow copy of `model` that owns only the modules in `keep` (others in `blank` become Identity)."""
    view = copy.copy(model)
    view._modules = {n: model._modules[n] for n in keep}
    view._modules.update({n: nn.Identity() for n in blank})
    view._parameters = dict(model._parameters) if params else {}
    view._buffers = dict(model._buffers) if params else {}
    return view


class Call(nn.Module):
    """Runs one method of a model view: timm's forward_features prefix, or forward_head."""

    def __init__(self, part: nn.Module, method: str) -> None:
        super().__init__()
        self.part = part
        self.method = method

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return getattr(self.part, self.method)(x)


def _module(model: nn.Module, dotted: str) -> nn.Module:
    return model.get_submodule(dotted)


def assemble(model: nn.Module, s: Structure) -> tuple[list[tuple[str, nn.Module]], nn.Module]:
    """Blocks and head that share the parameters of `model` and compose to its forward pass."""
    blocks: list[tuple[str, nn.Module]] = []
    for i, (cut, group) in enumerate(zip(s.cut_points, s.groups)):
        parts = [_module(model, step) for step in group]
        if i == 0 and s.stem_view:
            top = [n for n, _ in model.named_children()]
            blank = [n for n in top if n not in s.stem_view]
            parts.insert(0, Call(_view(model, s.stem_view, blank, params=True), "forward_features"))
        blocks.append((cut, nn.Sequential(*parts)))
    head = Call(_view(model, s.head, [], params=False), "forward_head")
    return blocks, head

