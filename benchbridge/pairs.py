"""Sources and targets resolved for planning: each task's classes, each checkpoint file checked and hashed, the
(source, target) pairs. What each task's runs train with is its recipe (`ResolvedManifest.recipe`).

Run ids: a trained source and a target's own networks are defined like the paper's base networks (dataset,
classes, data, model, training, seed), so one network serves every pair it belongs to; a checkpoint source enters
the ids of the runs that copy from it by its content hash (`checkpoint_id`), never by its path.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from benchbridge.errors import UserError, within
from benchbridge.manifest import ResolvedManifest
from benchbridge.sources import SourceSpec, TargetSpec

CHUNK = 1 << 20
MIN_CLASSES = 2


@dataclass(frozen=True)
class Task:
    """A trained source or a target: the classes of its dataset it trains on."""

    name: str
    key: str  # e.g. "targets.2": where the manifest states it
    classes: tuple[int, ...]


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint source: its weights file (and initialisation file), by content."""

    name: str
    key: str
    path: Path
    sha256: str
    format: Literal["benchbridge", "model"]  # weights.pt's keys (blocks.*, head.*), or the model plugin's own
    init: Path | None
    init_sha256: str | None
    init_format: str | None

    @property
    def init_origin(self) -> str:
        """file: the initialisation given in the manifest; fresh_draw: one drawn from the model's initialiser."""
        return "fresh_draw" if self.init is None else "file"


@dataclass(frozen=True)
class Pair:
    """One (source, target) pair: its label names both in run labels, tables and figures."""

    label: str
    source: str
    target: str


def pair_label(source: str, target: str) -> str:
    return f"{source}->{target}"


def pairs_of(manifest: dict[str, Any]) -> list[Pair]:
    """The pairs of a manifest (a saved manifest.yaml's dict too), sources outer, targets inner; [] for splits."""
    return [Pair(pair_label(s["name"], t["name"]), s["name"], t["name"])
            for s in manifest.get("sources") or [] for t in manifest.get("targets") or []]


def spec_of(m: ResolvedManifest, name: str) -> tuple[str, SourceSpec | TargetSpec]:
    """The manifest key (e.g. "sources.0") and the spec of a source or target."""
    for kind in ("sources", "targets"):
        for i, spec in enumerate(getattr(m.raw, kind) or []):
            if spec.name == name:
                return f"{kind}.{i}", spec
    raise KeyError(name)


def tasks(m: ResolvedManifest) -> dict[str, Task]:
    """Every trained source and every target with its classes (default: all of its dataset's), checked."""
    out = {}
    for name, (entry, opts) in m.task_datasets.items():
        key, spec = spec_of(m, name)
        try:
            infos = entry.obj.describe(opts)
        except UserError as exc:
            raise within(exc, f"{key}.dataset.options", m.file) from None
        out[name] = Task(name, key, _classes(m, key, spec, len(infos)))
    return out


def _classes(m: ResolvedManifest, key: str, spec: SourceSpec | TargetSpec, available: int) -> tuple[int, ...]:
    if spec.classes is not None:
        twice = sorted(c for c, k in Counter(spec.classes).items() if k > 1)
        if twice:
            raise UserError(f"class {'indices' if len(twice) > 1 else 'index'} {', '.join(map(str, twice))} "
                            f"{'are' if len(twice) > 1 else 'is'} listed more than once.", file=m.file,
                            key=f"{key}.classes", hint="List each class once.")
    classes = sorted(set(spec.classes)) if spec.classes is not None else list(range(available))
    bad = [c for c in classes if not 0 <= c < available]
    if bad:
        raise UserError(f"class indices {bad[:10]} are outside its dataset's 0..{available - 1}.", file=m.file,
                        key=f"{key}.classes")
    if len(classes) < MIN_CLASSES:
        kind = key.split(".")[0][:-1]
        raise UserError(f"{kind} '{spec.name}' has {len(classes)} class; a classifier needs at least "
                        f"{MIN_CLASSES}.", file=m.file, key=f"{key}.classes" if spec.classes else f"{key}.dataset",
                        hint="Give it two or more classes.")
    return tuple(classes)


# --- checkpoint sources -----------------------------------------------------------------------------------------


def checkpoints(m: ResolvedManifest) -> dict[str, Checkpoint]:
    """Every checkpoint source, its files hashed and checked against the model's blocks."""
    out = {}
    for i, spec in enumerate(m.raw.sources or []):
        if spec.trained:
            continue
        key = f"sources.{i}"
        path = Path(spec.checkpoint).expanduser() if spec.checkpoint else pretrained_file(m, spec.pretrained, key)
        init = Path(spec.init).expanduser() if spec.init is not None else None
        fmt = check_weights(m, path, f"{key}.checkpoint" if spec.checkpoint else f"{key}.pretrained")
        init_fmt = check_weights(m, init, f"{key}.init") if init is not None else None
        out[spec.name] = Checkpoint(spec.name, key, path, file_sha256(path), fmt,  # type: ignore[arg-type]
                                    init, file_sha256(init) if init else None, init_fmt)
    return out


def pretrained_file(m: ResolvedManifest, tag: Any, key: str) -> Path:
    """The local file of pretrained weights `tag`, found by the model plugin in its cache (never downloaded)."""
    entry, opts = m.model
    find = getattr(entry.obj, "pretrained_file", None)
    if find is None:
        raise UserError(f"model '{m.raw.model.name}' (plugin {entry.plugin}) finds no pretrained weights by name.",
                        file=m.file, key=f"{key}.pretrained", hint="Give the weights file as `checkpoint:` instead.")
    try:
        return Path(find(m.raw.model.name, opts, str(tag)))
    except UserError as exc:
        raise UserError(exc.detail, file=m.file, key=f"{key}.pretrained", hint=exc.hint) from None


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


ACCEPTED = ("Give a state dict of tensors saved with torch.save (a .pt or .pth file; a dict under 'state_dict' or "
            "'model' is unwrapped), or a .safetensors file.")


def load_state(path: Path, key: str, file: str | None) -> dict[str, Any]:
    """A state dict from a local file (.pt/.pth via torch.load with weights_only, or .safetensors), every tensor
    finite; anything else is a UserError saying in words what the file is not."""
    import torch

    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state: Any = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's to fix
        raise UserError(f"cannot read '{path}' as a weights file: {unreadable(path, exc)}.", file=file, key=key,
                        hint=ACCEPTED) from None
    for wrapper in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"'{path}' does not hold a state dict (a mapping of names to tensors).", file=file, key=key,
                        hint=ACCEPTED)
    for name, tensor in state.items():
        if tensor.is_floating_point() or tensor.is_complex():
            bad = int((~torch.isfinite(tensor)).sum())
            if bad:
                raise UserError(f"'{path}' holds non-finite weights: tensor '{name}' has {bad} NaN or infinite "
                                f"value(s) of {tensor.numel()}; every run copying from it would diverge at once.",
                                file=file, key=key, hint="Use a checkpoint saved before training diverged.")
    return state


def unreadable(path: Path, exc: Exception) -> str:
    """Why a weights file could not be read, in words (never torch's advice to load it unsafely)."""
    import pickle

    found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(exc))
    if isinstance(exc, pickle.UnpicklingError) and found:
        return (f"it holds pickled Python objects ({found.group(1)}), not only tensors (e.g. a whole model saved "
                "with torch.save(model)); benchbridge never unpickles them, since loading a pickle can run any code")
    if isinstance(exc, FileNotFoundError):
        return "it does not exist"
    if isinstance(exc, (IsADirectoryError, PermissionError)):
        return f"{exc.strerror or type(exc).__name__}"
    if path.suffix == ".safetensors":
        return "it is not a valid .safetensors file (damaged or another format)"
    return ("it is neither a file torch.save wrote (a zip archive or a pickle of tensors) nor a .safetensors file: "
            "its bytes are damaged, truncated or of another format")


def check_weights(m: ResolvedManifest, path: Path, key: str) -> str:
    """"benchbridge" (keys blocks.*: checked against the model's blocks) or "model" (the plugin's own format,
    loaded by the model plugin's `checkpoint` option); a mismatch is a UserError naming the first difference."""
    state = load_state(path, key, m.file)
    entry, opts = m.model
    name = m.raw.model.name
    if any(k.startswith("blocks.") for k in state):
        expected = block_shapes(m)
        got = {k: tuple(v.shape) for k, v in state.items() if k.startswith("blocks.")}
        problem = _first_difference(expected, got)
        if problem:
            raise UserError(f"checkpoint '{path}' does not fit model '{name}' with these model.options: {problem}.",
                            file=m.file, key=key, hint="Use weights of the same architecture and width (the "
                            "model and model.options it was trained with).")
        return "benchbridge"
    if "checkpoint" in type(opts).model_fields:
        try:
            entry.obj.create(name, opts.model_copy(update={"checkpoint": path}), MIN_CLASSES)
        except UserError as exc:
            raise UserError(exc.detail, file=m.file, key=key, hint=exc.hint) from None
        return "model"
    raise UserError(f"'{path}' is not a state dict of model '{name}': no key starts with 'blocks.' (benchbridge's "
                    f"weights.pt), and the model plugin reads no checkpoint format of its own.", file=m.file, key=key,
                    hint="Give a weights.pt that benchbridge saved for this model.")


def block_shapes(m: ResolvedManifest) -> dict[str, tuple[int, ...]]:
    """Shape of every parameter and buffer of the model's blocks (built on the meta device: no memory, no init)."""
    import torch

    entry, opts = m.model
    with torch.device("meta"):
        net = entry.obj.create(m.raw.model.name, opts, MIN_CLASSES)
    return {k: tuple(v.shape) for k, v in net.state_dict().items() if k.startswith("blocks.")}


def _first_difference(expected: dict[str, tuple[int, ...]], got: dict[str, tuple[int, ...]]) -> str | None:
    missing = [k for k in expected if k not in got]
    if missing:
        return f"it lacks {missing[0]} ({len(missing)} of the model's block tensors missing)"
    extra = [k for k in got if k not in expected]
    if extra:
        return f"it has {extra[0]}, which the model lacks ({len(extra)} such tensors)"
    for k, shape in expected.items():
        if got[k] != shape:
            return f"{k} is {list(got[k])} in the file and {list(shape)} in the model"
    return None
