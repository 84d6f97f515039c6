"""The `timm/` model namespace: create, cut points and data config for any timm model."""

from __future__ import annotations

import fnmatch
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from benchbridge.api import Network, UserError, hookimpl
from benchbridge_timm.pretrained import pretrained_file
from benchbridge_timm.structure import Structure, analyse, assemble

PREFIX = "timm/"


class TimmOptions(BaseModel):
    """Options of a `timm/<name>` model."""

    model_config = ConfigDict(extra="forbid")

    input_size: int | None = Field(None, ge=8, description="Side of the square input crop; default timm's data config.")
    checkpoint: Path | None = Field(None, description="Local state-dict file to start from (never downloaded).")
    drop_rate: float = Field(0.0, ge=0, lt=1, description="Dropout before the classifier (timm's drop_rate).")
    drop_path_rate: float = Field(0.0, ge=0, lt=1, description="Stochastic depth (timm's drop_path_rate).")
    model_kwargs: dict[str, Any] = Field(default_factory=dict,
                                         description="Extra keyword arguments for timm.create_model, e.g. img_size.")


def _timm_name(name: str) -> str:
    return name[len(PREFIX):] if name.startswith(PREFIX) else name


def _kwargs(o: TimmOptions) -> dict[str, Any]:
    kw = dict(o.model_kwargs)
    if o.drop_rate:
        kw["drop_rate"] = o.drop_rate
    if o.drop_path_rate:
        kw["drop_path_rate"] = o.drop_path_rate
    return kw


def _build(name: str, o: TimmOptions, num_classes: int, meta: bool) -> nn.Module:
    import timm

    arch = _timm_name(name)
    if not timm.is_model(arch):
        raise UserError(f"timm has no model '{arch}'.", key="model.name",
                        hint=f"List them with: benchbridge models 'timm/*{arch[:6]}*'")
    try:
        if meta:
            with torch.device("meta"):
                return timm.create_model(arch, pretrained=False, num_classes=num_classes, **_kwargs(o))
        return timm.create_model(arch, pretrained=False, num_classes=num_classes, **_kwargs(o))
    except TypeError as exc:
        raise UserError(f"timm.create_model('{arch}') rejected the options: {exc}.",
                        key="model.options.model_kwargs") from None


def _data_config(model: nn.Module) -> dict[str, Any]:
    from timm.data import resolve_data_config

    return resolve_data_config({}, model=model)


@lru_cache(maxsize=64)
def _meta(name: str, options_json: str) -> tuple[Structure, dict[str, Any]]:
    o = TimmOptions.model_validate_json(options_json)
    model = _build(name, o, 10, meta=True)
    config = _data_config(model)
    size = o.input_size or int(config["input_size"][-1])
    return analyse(model, _timm_name(name), size), config


def load_checkpoint(model: nn.Module, path: Path) -> None:
    """Load a local state dict; the classifier is skipped when its shape differs (it is reset anyway)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"checkpoint file '{path}' does not exist.", key="model.options.checkpoint",
                        hint="Give the path of a local .pth/.pt/.safetensors state dict; nothing is downloaded.")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model", "state_dict_ema"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    own = model.state_dict()
    state = {k.removeprefix("module."): v for k, v in state.items()}
    skipped = {k for k, v in state.items() if k in own and own[k].shape != v.shape}
    classifier = {f"{n}" for n, _ in model.named_parameters() if n.startswith(_classifier_prefix(model))}
    if skipped - classifier:
        raise UserError(f"checkpoint '{path}' does not fit this model: shapes differ for {sorted(skipped)[:5]}.",
                        key="model.options.checkpoint", hint="Use a checkpoint of the same timm architecture.")
    missing, unexpected = model.load_state_dict({k: v for k, v in state.items() if k not in skipped}, strict=False)
    missing = [k for k in missing if k not in classifier]
    if missing or unexpected:
        raise UserError(f"checkpoint '{path}' does not fit this model: missing {missing[:5]}, "
                        f"unexpected {unexpected[:5]}.", key="model.options.checkpoint",
                        hint="Use a checkpoint of the same timm architecture.")


def _classifier_prefix(model: nn.Module) -> str:
    classifier = model.get_classifier()
    for name, module in model.named_modules():
        if module is classifier:
            return name + "."
    return "\0"


class TimmModels:
    """Any timm model as timm/<name>; cut points are timm's feature_info stages."""

    name = PREFIX
    Options = TimmOptions
    description = "Any timm model (timm/resnet50, timm/vit_small_patch16_224, ...); cut points from feature_info"

    def list_names(self, pattern: str = "*") -> list[str]:
        """The timm architectures matching a glob over `timm/<name>`."""
        import timm

        return [PREFIX + n for n in timm.list_models() if fnmatch.fnmatch(PREFIX + n, pattern)]

    def create(self, name: str, options: TimmOptions, num_classes: int) -> Network:
        structure, _ = _meta(name, options.model_dump_json())
        model = _build(name, options, num_classes, meta=False)
        if options.checkpoint is not None:
            load_checkpoint(model, options.checkpoint)
        blocks, head = assemble(model, structure)
        return Network(blocks, head)

    def cut_points(self, name: str, options: TimmOptions) -> list[str]:
        return list(_meta(name, options.model_dump_json())[0].cut_points)

    def pretrained_file(self, name: str, options: TimmOptions, tag: str) -> Path:
        """The local file of timm's pretrained weights `tag` (e.g. resnet18.a1_in1k), from the Hugging Face cache;
        never downloaded."""
        return pretrained_file(_timm_name(name).split(".")[0], tag)  # timm/resnet18.a1_in1k: the arch resnet18

    def data_config(self, name: str, options: TimmOptions) -> dict[str, Any]:
        config = _meta(name, options.model_dump_json())[1]
        size = options.input_size or int(config["input_size"][-1])
        return {"input_size": size, "mean": tuple(config["mean"]), "std": tuple(config["std"]),
                "augmentation": "timm", "interpolation": config.get("interpolation"),
                "crop_pct": config.get("crop_pct")}


@hookimpl
def register_models(register: Any) -> None:
    register(TimmModels())
