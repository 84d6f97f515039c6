"""timm's pretrained weights from the local caches, never downloaded: the Hugging Face hub cache (where
`timm.create_model(..., pretrained=True)` put them), else torch hub's checkpoints folder for weights timm keeps at a
URL only."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

from benchbridge.api import UserError

HF_FILES = ("model.safetensors", "pytorch_model.bin")  # timm looks for the safetensors file first


def _cfg(tag: str, arch: str):  # type: ignore[no-untyped-def]
    from timm.models import get_pretrained_cfg

    base = tag.split(".")[0]
    if base != arch:
        raise UserError(f"pretrained '{tag}' is weights of timm's '{base}', but the model is 'timm/{arch}'.",
                        hint=f"Set model.name to timm/{base}, or name weights of {arch} "
                        f"(timm.list_pretrained('{arch}*') lists them).")
    cfg = get_pretrained_cfg(tag)
    if cfg is None:
        raise UserError(f"timm has no pretrained weights '{tag}'.",
                        hint=f"timm.list_pretrained('{arch}*') lists them (e.g. {arch}.<tag>).")
    return cfg


def _hf_candidates(repo: str, revision: str | None, filename: str | None) -> tuple[list[Path], Path | None]:
    """Where huggingface_hub keeps the files (cache/models--ORG--NAME/refs/main naming the commit, then
    snapshots/<commit>/FILE): ([], the first file there), or (every path looked for, None)."""
    from huggingface_hub import constants, try_to_load_from_cache

    names = [filename] if filename else list(HF_FILES)
    if filename and not filename.endswith(".safetensors"):
        names.insert(0, "model.safetensors")
    for name in names:
        found = try_to_load_from_cache(repo, name, revision=revision)
        if isinstance(found, str):
            return [], Path(found)
    folder = Path(constants.HF_HUB_CACHE) / f"models--{repo.replace('/', '--')}"
    ref = folder / "refs" / (revision or "main")
    if not ref.is_file():
        return [ref, folder / "snapshots" / f"<commit>/{' or '.join(names)}"], None
    return [folder / "snapshots" / ref.read_text().strip() / name for name in names], None


def pretrained_file(arch: str, tag: str) -> Path:
    """The local weights file of timm's pretrained `tag` (e.g. resnet18.a1_in1k) for model `arch`; a UserError naming
    every path looked for when it is not on this machine."""
    os.environ["HF_HUB_OFFLINE"] = "1"  # nothing below may reach the network
    tag = tag.removeprefix("timm/")
    cfg = _cfg(tag, arch)
    looked: list[Path] = []
    if cfg.hf_hub_id:
        repo, _, revision = cfg.hf_hub_id.partition("@")
        looked, found = _hf_candidates(repo, revision or None, cfg.hf_hub_filename)
        if found is not None:
            return found
    if cfg.url:
        import torch.hub

        path = Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(cfg.url).path).name
        if path.is_file():
            return path
        looked.append(path)
    if cfg.file and Path(cfg.file).expanduser().is_file():
        return Path(cfg.file).expanduser()
    raise UserError(f"timm's pretrained weights '{tag}' are not in the local cache: looked for "
                    f"{', then '.join(str(p) for p in looked)}.",
                    hint=f"On a machine with the network, once: python -c \"import timm; timm.create_model('{tag}', "
                    "pretrained=True)\" (HF_HOME/HF_HUB_CACHE choose the cache), then copy the cache here; or give "
                    "the weights file as `checkpoint:`. Nothing is downloaded at run time.")
