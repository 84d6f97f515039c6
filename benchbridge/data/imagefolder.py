"""Convert an ImageFolder tree (`train/<class>/*`, `val/<class>/*` or `test/<class>/*`) into prepared shards."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml

from benchbridge.data.source import ClassInfo, DatasetSource
from benchbridge.data.prepare import Encoding, Files, encode_file, prepare_files, resize_image, shuffled
from benchbridge.data.shard_files import DEFAULT_SHARD_SIZE, OnProgress
from benchbridge.errors import UserError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
VAL_DIRS = ("val", "test")
JPEG_QUALITY = 95
__all__ = ["convert_imagefolder", "count_images", "find_layout", "load_attributes", "resize_image", "to_jpeg"]


def _class_dirs(split_dir: Path) -> list[str]:
    return sorted(p.name for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))


def find_layout(src: Path) -> tuple[Path, Path, list[str]]:
    """The train folder, the validation folder and the sorted class names, or a UserError saying what is wrong."""
    src = Path(src).expanduser()
    layout = "Expected SRC/train/<class>/<image> and SRC/val/<class>/<image> (or SRC/test/...)."
    if not src.is_dir():
        raise UserError("source folder does not exist.", file=str(src), hint=layout)
    train = src / "train"
    if not train.is_dir():
        raise UserError("no 'train' folder.", file=str(src), hint=layout)
    classes = _class_dirs(train)
    if not classes:
        raise UserError("no class folders in the train folder.", file=str(train), hint=layout)
    val = next((src / d for d in VAL_DIRS if (src / d).is_dir()), None)
    if val is None:
        raise UserError("no validation folder ('val' or 'test').", file=str(src), hint=layout)
    unknown = sorted(set(_class_dirs(val)) - set(classes))
    if unknown:
        raise UserError(f"validation classes not in the train folder: {', '.join(unknown)}.", file=str(val),
                        hint="Every validation class folder needs a train folder of the same name.")
    return train, val, classes


def load_attributes(path: Path, classes: list[str]) -> dict[str, dict[str, str]]:
    """Read a JSON or YAML mapping {class_name: {attribute: value}}; unknown class names are an error."""
    path = Path(path).expanduser()
    fmt = "Expected a JSON or YAML mapping such as {\"cat\": {\"domain\": \"natural\"}}."
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise UserError(f"cannot read the attributes file: {exc.strerror}.", file=str(path)) from None
    except yaml.YAMLError as exc:
        raise UserError(f"the attributes file is not valid JSON or YAML: {exc}.", file=str(path), hint=fmt) from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise UserError("the attributes file is not a mapping of class names to mappings.", file=str(path), hint=fmt)
    unknown = sorted(str(k) for k in data if str(k) not in classes)
    if unknown:
        raise UserError(f"unknown class names: {', '.join(unknown)}. Classes are: {', '.join(classes)}.",
                        file=str(path), hint="Use the class folder names of the train folder.")
    return {str(k): {str(a): str(v) for a, v in attrs.items()} for k, attrs in data.items()}


def _images(split_dir: Path, classes: list[str]) -> Files:
    found = []
    for index, name in enumerate(classes):
        folder = split_dir / name
        if folder.is_dir():
            found += [(p, index) for p in sorted(folder.iterdir())
                      if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
    return shuffled(found)


def _refuse_empty(folder: Path, classes: list[str], found: set[int], word: str) -> None:
    """A class with no images in `folder` would be trained or evaluated on nothing: a UserError naming it."""
    empty = [name for i, name in enumerate(classes) if i not in found]
    if empty:
        shown = ", ".join(empty[:10]) + (f" and {len(empty) - 10} more" if len(empty) > 10 else "")
        raise UserError(f"class(es) {shown} have no {word} images (no image files in {folder}/<class>/).",
                        file=str(folder), hint="Add images to those class folders, or remove the class from both "
                        f"train/ and {folder.name}/; image files end in one of: "
                        f"{', '.join(sorted(IMAGE_SUFFIXES))}.")


def to_jpeg(path: Path, size: int | None) -> bytes:
    """The file's bytes when it is a JPEG and no resize is asked; else decoded, resized, re-encoded as JPEG."""
    return encode_file(path, Encoding(size=size, quality=JPEG_QUALITY))


def count_images(src: Path) -> dict[str, int]:
    """Images per split that `convert_imagefolder` would write (for progress bars)."""
    train, val, classes = find_layout(src)
    return {"train": len(_images(train, classes)), "val": len(_images(val, classes))}


def convert_imagefolder(  # noqa: PLR0913 -- keyword-only, one per flag of `benchbridge data prepare imagefolder`
        src: Path, out: Path, *, attributes: Path | None = None,
        shard_size: int = DEFAULT_SHARD_SIZE, size: int | None = None,
        name: str | None = None,
        resize: Literal["shorter", "square"] = "shorter", quality: int = JPEG_QUALITY,
        workers: int | None = 1, on_progress: OnProgress | None = None) -> DatasetSource:
    """Write the ImageFolder tree at `src` as a prepared dataset under `out` (resumable; `workers` processes)."""
    src = Path(src).expanduser()
    train, val, classes = find_layout(src)
    attrs = load_attributes(attributes, classes) if attributes else {}
    infos = [ClassInfo(i, c, attrs.get(c, {})) for i, c in enumerate(classes)]
    files = {"train": _images(train, classes), "val": _images(val, classes)}
    if not files["train"]:
        raise UserError("no image files in the train class folders.", file=str(train),
                        hint=f"Image files end in one of: {', '.join(sorted(IMAGE_SUFFIXES))}.")
    for split, folder, word in (("train", train, "training"), ("val", val, "validation")):
        _refuse_empty(folder, classes, {label for _, label in files[split]}, word)
    params: dict[str, Any] = {"generator": "imagefolder", "source": str(src.resolve()), "val_folder": val.name,
                              "attributes": str(Path(attributes).resolve()) if attributes else None}
    return prepare_files(out, name or src.resolve().name, infos, files, params, shard_size=shard_size,
                         enc=Encoding(size, resize, quality), workers=workers, on_progress=on_progress)
