"""Sources and targets at execution: each run's own dataset, checkpoint sources written into the output
directory (weights.pt, init.pt, source.json) and the targets' images checked, before any run trains."""

from __future__ import annotations

import io
from pathlib import Path

import torch
from pydantic import BaseModel, ConfigDict

from benchbridge import pairs
from benchbridge.results import store
from benchbridge.data.augment import resolve_preset
from benchbridge.data.source import DatasetSource
from benchbridge.data.shard_files import iter_tar_members
from benchbridge.errors import UserError, within
from benchbridge.execute.data_checks import check_task_data
from benchbridge.manifest import ResolvedManifest
from benchbridge.plan import Run, checkpoint_id
from benchbridge.results import record_by_id

SOURCE_FILE = "source.json"  # a checkpoint source's record, in its folder beside weights.pt and init.pt
CROP_ONLY = ("paper", "none")  # augmentation presets that crop the stored image without resizing it
MAX_CROP_RATIO = 2.0  # with them, refuse stored images more than this many times the input side


class SourceRecord(BaseModel):
    """source.json: where a checkpoint source's weights and initialisation came from."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = 1
    name: str
    kind: str = "checkpoint"
    checkpoint: str
    sha256: str
    format: str
    init_origin: str  # file or fresh_draw (a trained source says "trained" in its metrics.json)
    init: str | None = None
    init_sha256: str | None = None


def open_dataset(m: ResolvedManifest, task: str | None) -> DatasetSource:
    """The dataset a task's runs train on (`task`: a run's `task`), opened; a user error names its key."""
    recipe = m.recipe(task)
    entry, opts = recipe.dataset
    try:
        return entry.obj.open(opts)
    except UserError as exc:
        raise within(exc, f"{recipe.key}.options", m.file) from None


def prepare_sources(m: ResolvedManifest, plan: list[Run], out: Path) -> None:
    """Before any run trains: refuse targets whose images the network cannot take, and write every checkpoint
    source the plan copies from into its run folder (weights.pt, init.pt, source.json)."""
    check_task_data(m, plan, lambda task: open_dataset(m, task))
    check_inputs(m, plan)
    used = {r.source for r in plan if r.source}
    for ckpt in pairs.checkpoints(m).values():
        rid = checkpoint_id(m, ckpt)
        if rid in used:
            materialise(m, ckpt, rid, out)


def check_inputs(m: ResolvedManifest, plan: list[Run]) -> None:
    """Every image reaches a network as RGB at the model's input size, normalised with the model's mean and std;
    a preset that crops without resizing cannot show a network much larger images at the scale it learned."""
    entry, opts = m.model
    config = entry.obj.data_config(m.raw.model.name, opts)
    preset = resolve_preset(m.raw.data.augmentation, config)
    if preset not in CROP_ONLY:
        return
    size = int(config["input_size"])
    for task in dict.fromkeys(r.task for r in plan if r.role == "B"):  # every task a transfer lands on
        side = first_image_side(open_dataset(m, task))
        if side is not None and side > MAX_CROP_RATIO * size:
            what = f"target '{task}'" if task is not None else "the dataset"
            raise UserError(
                f"{what} has {side}-pixel images, and model '{m.raw.model.name}' takes {size}-pixel "
                f"crops with the '{preset}' augmentation, which crops without resizing: its networks would see a "
                f"{size}/{side} window of each image, not the image at the scale the source learned.",
                file=m.file, key=m.recipe(task).key,
                hint=f"Prepare the target at about {size} pixels (`benchbridge data prepare imagefolder SRC OUT "
                     f"--size {round(size * 8 / 7)}`), or set data.augmentation: timm (which resizes).")


def first_image_side(ds: DatasetSource) -> int | None:
    """The shorter side of the first validation image (None when the dataset has none)."""
    from PIL import Image

    for shard in ds.shards("val")[:1]:
        with open(shard, "rb") as fh:
            for name, data in iter_tar_members(fh):
                if name.rsplit(".", 1)[-1] in ("jpg", "jpeg", "png", "webp"):
                    with Image.open(io.BytesIO(data)) as im:
                        return min(im.size)
    return None


def materialise(m: ResolvedManifest, ckpt: pairs.Checkpoint, rid: str, out: Path) -> None:
    """runs/<id>/weights.pt (the file's weights as the model's blocks), init.pt and source.json, once."""
    folder = store.run_dir(out, rid)
    if (folder / SOURCE_FILE).is_file():
        return
    weights = network_state(m, ckpt.path, ckpt.format, f"{ckpt.key}.checkpoint")
    if ckpt.init is not None:
        init = network_state(m, ckpt.init, ckpt.init_format or "benchbridge", f"{ckpt.key}.init")
    else:
        init = fresh_draw(m, rid)
    store.write_weights(folder / store.WEIGHTS_FILE, weights)
    store.write_weights(folder / store.INIT_FILE, init)
    record = SourceRecord(name=ckpt.name, checkpoint=str(ckpt.path), sha256=ckpt.sha256, format=ckpt.format,
                          init_origin=ckpt.init_origin, init=str(ckpt.init) if ckpt.init else None,
                          init_sha256=ckpt.init_sha256)
    store.write_json(folder / SOURCE_FILE, record.model_dump())


def network_state(m: ResolvedManifest, path: Path, fmt: str, key: str) -> dict[str, torch.Tensor]:
    """A weights file as the model's Network state dict: as it is (benchbridge), or loaded by the model plugin."""
    if fmt == "benchbridge":
        return pairs.load_state(path, key, m.file)
    entry, opts = m.model
    net = entry.obj.create(m.raw.model.name, opts.model_copy(update={"checkpoint": path}), pairs.MIN_CLASSES)
    return net.state_dict()


def fresh_draw(m: ResolvedManifest, rid: str) -> dict[str, torch.Tensor]:
    """The model's own initialiser, seeded by the checkpoint's id (the head is not part of any comparison)."""
    entry, opts = m.model
    torch.manual_seed(int(rid, 16) % (2**31 - 1))
    net = entry.obj.create(m.raw.model.name, opts, pairs.MIN_CLASSES)
    return net.state_dict()


def read_source_record(folder: Path) -> SourceRecord | None:
    """A checkpoint source's source.json (None for a trained run's folder)."""
    path = folder / SOURCE_FILE
    return SourceRecord.model_validate(store.read_json(path)) if path.is_file() else None


def source_initialisation(output_dir: Path, source_id: str) -> tuple[Path, str] | None:
    """The init.pt of the network a run copied from (Chen's θ_r for the T-metric), and its origin: file or fresh_draw
    (a checkpoint source's source.json), else trained (the trainer wrote init.pt from the draw the source trained
    from; its metrics.json says so too); None when the source's folder has no init.pt."""
    folder = store.run_dir(output_dir, source_id)
    init = folder / store.INIT_FILE
    if not init.is_file():
        return None
    record = read_source_record(folder)
    if record is not None:
        return init, record.init_origin
    trained = record_by_id(output_dir, source_id)
    return init, (trained.init_origin if trained is not None and trained.init_origin else "trained")
