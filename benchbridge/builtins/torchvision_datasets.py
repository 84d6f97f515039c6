"""The preparation `benchbridge data prepare torchvision NAME ROOT OUT`: a torchvision dataset already on disk
(`download=False`: nothing is ever downloaded) written as shards, with its train and test (or val) subsets as the
library defines them, or a stated fraction of train held out where the class has no split; class names from the
dataset. torchvision is imported only when a preparation runs."""

from __future__ import annotations

import difflib
import functools
import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field

from benchbridge.api import DEFAULT_SHARD_SIZE, ClassInfo, DatasetSource, OnProgress, UserError, hookimpl, \
    shrink_to_jpeg, write_dataset_parallel

TRAIN_SPLITS = ("train", "trainval", "train-standard", "training")
VAL_SPLITS = ("test", "val", "valid", "validation", "val-standard")
ORDER_SEED = 20140  # the fixed shuffled write order of every preparation: each shard mixes classes
LABEL_ATTRIBUTES = ("targets", "_labels", "labels", "y")


class TorchvisionOptions(BaseModel):
    """Options of `benchbridge data prepare torchvision`."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="a torchvision.datasets class, e.g. CIFAR100, DTD, Flowers102, OxfordIIITPet")
    root: Path = Field(description="the `root` the dataset was downloaded to (torchvision's own layout under it)")
    out: Path = Field(description="folder to write dataset.json and the shards to")
    train_split: str | None = Field(None, description="The library's split written as train (default: the first "
                                    f"the class accepts of {', '.join(TRAIN_SPLITS)}; 'a+b' joins two).")
    val_split: str | None = Field(None, description="The library's split written as val (default: the first the "
                                  f"class accepts of {', '.join(VAL_SPLITS)}; 'a+b' joins two).")
    holdout: float = Field(0.2, gt=0, lt=1, description="Where the class has no train/test split (Caltech101, "
                           "SUN397, EuroSAT): the fraction of each class's images held out as val.")
    holdout_seed: int = Field(0, description="Seed of the held-out images' draw (recorded in dataset.json).")
    kwargs: str | None = Field(None, description="More keyword arguments of the class, as a JSON/YAML mapping, "
                               "e.g. '{partition: 2}' for DTD.")
    size: int | None = Field(None, ge=8, description="Shrink so the shorter side is SIZE pixels (never "
                             "enlarged); default: keep.")
    quality: int = Field(95, ge=1, le=100, description="JPEG quality of the stored images.")
    shard_size: int = Field(DEFAULT_SHARD_SIZE, ge=1, description="Samples per shard.")
    workers: int | None = Field(None, ge=1, description="Processes writing shards (default: every core); the "
                                "shards are the same bytes whatever the number.")
    dataset_name: str | None = Field(None, description="Dataset name in dataset.json (default: NAME in lower case).")


# --- the class and its subsets ------------------------------------------------------------------------------------


def dataset_class(name: str) -> type:
    """The torchvision.datasets class called `name` (any case), or a UserError naming the closest ones."""
    try:
        import torchvision.datasets as tvd
    except ImportError:
        raise UserError("torchvision is not installed.", key="name",
                        hint="pip install torchvision (the same build as your torch).") from None
    names = {n.lower(): n for n in tvd.__all__ if inspect.isclass(getattr(tvd, n, None))}
    if name.lower() not in names:
        close = difflib.get_close_matches(name.lower(), list(names), n=3, cutoff=0.5)
        hint = f"Did you mean {', '.join(names[c] for c in close)}?" if close else \
            f"Classes: {', '.join(sorted(names.values()))}."
        raise UserError(f"torchvision.datasets has no class '{name}'.", key="name", hint=hint)
    return getattr(tvd, names[name.lower()])


def split_kind(cls: type) -> str:
    """How the class selects a subset: "train" (a bool), "split" (a string) or "none" (one set: hold out)."""
    params = inspect.signature(cls.__init__).parameters
    return "train" if "train" in params else "split" if "split" in params else "none"


def _kwargs(options: TorchvisionOptions) -> dict[str, Any]:
    if not options.kwargs:
        return {}
    try:
        value = yaml.safe_load(options.kwargs)
    except yaml.YAMLError as exc:
        raise UserError(f"--kwargs is not valid JSON or YAML: {exc}.", key="kwargs") from None
    if not isinstance(value, dict):
        raise UserError("--kwargs is not a mapping.", key="kwargs", hint="e.g. --kwargs '{partition: 2}'")
    return value


def _expected(obj: Any, cls: type, root: Path) -> str:
    """What torchvision looked for under ROOT: the missing folders and files it set before failing, its resources."""
    paths = [v for k, v in vars(obj).items() if isinstance(v, (str, Path)) and k != "root"
             and str(v).startswith(str(root)) and not Path(v).exists()]
    try:
        raw = Path(obj.raw_folder)  # MNIST & co. (a property): their resources' files, unpacked, go there
    except Exception:  # noqa: BLE001 -- most classes have none
        raw = None
    if raw is not None:
        files = [raw / Path(url).name.removesuffix(".gz") for url, _ in getattr(cls, "resources", [])]
        paths += [p for p in [raw, *files] if not p.exists()]
    found = re.search(r"root \([^)]*\):(.*?)(?=\n\s*\w+ \(|\n\s*\n|$)", inspect.getdoc(cls) or "", re.DOTALL)
    said = " ".join(found.group(1).split()) if found and "``" in found.group(1) else ""  # one naming files
    missing = ", ".join(list(dict.fromkeys(str(p) for p in paths))[:6])
    return (f"It looked for: {missing}. " if missing else "") + (f"Its docs say ROOT is: {said}" if said else "")


def open_subset(cls: type, root: Path, selector: dict[str, Any], extra: dict[str, Any]) -> Any:
    """The dataset object of one subset, download=False; a UserError naming what was expected when absent."""
    kwargs = {**extra, **selector}
    if "download" in inspect.signature(cls.__init__).parameters:
        kwargs["download"] = False
    obj = cls.__new__(cls)
    try:
        cls.__init__(obj, str(root), **kwargs)
    except TypeError as exc:
        raise UserError(f"torchvision.datasets.{cls.__name__} rejected the arguments {kwargs}: {exc}.",
                        key="kwargs") from None
    except ValueError as exc:
        if "Unknown value" in str(exc):  # torchvision's verify_str_arg: a split the class does not have
            raise
        problem: Exception = exc
    except Exception as exc:  # noqa: BLE001 -- absent or incomplete files surface as many exception types
        problem = exc
    else:
        return obj
    raise UserError(f"torchvision.datasets.{cls.__name__} found no dataset under '{root}' "
                    f"({type(problem).__name__}: {problem}). {_expected(obj, cls, root)}", file=str(root),
                    hint="Give the ROOT the dataset was downloaded to; benchbridge never downloads "
                    "(download=True in torchvision, once, does).")


def _one_split(cls: type, root: Path, value: str, extra: dict[str, Any]) -> Any:
    kind = split_kind(cls)
    if kind == "train":
        if value not in ("train", "test"):
            raise ValueError(f"Unknown value '{value}' for argument split. Valid values are {{train, test}}.")
        return open_subset(cls, root, {"train": value == "train"}, extra)
    return open_subset(cls, root, {"split": value}, extra)


def open_named(cls: type, root: Path, value: str, extra: dict[str, Any]) -> list[Any]:
    """The dataset objects of a split 'a' or 'a+b'."""
    return [_one_split(cls, root, part, extra) for part in value.split("+")]


def _first_accepted(cls: type, root: Path, candidates: tuple[str, ...], extra: dict[str, Any]) -> tuple[str, Any]:
    problems = []
    for value in candidates:
        try:
            return value, open_named(cls, root, value, extra)
        except ValueError as exc:
            problems.append(str(exc))
    raise UserError(f"torchvision.datasets.{cls.__name__} accepts none of the splits {', '.join(candidates)} "
                    f"({problems[-1] if problems else ''}).", key="train_split",
                    hint="Name them with --train-split and --val-split.")


def subsets(options: TorchvisionOptions) -> tuple[dict[str, list[tuple[Any, list[int]]]], dict[str, Any]]:
    """subset ("train", "val") -> [(dataset object, the indices written)], and what dataset.json records of it."""
    cls, root, extra = dataset_class(options.name), Path(options.root).expanduser(), _kwargs(options)
    if split_kind(cls) == "none":
        (whole,) = [open_subset(cls, root, {}, extra)]
        train, val = holdout(labels_of(whole), options.holdout, options.holdout_seed)
        params = {"train_split": None, "val_split": f"held out: {options.holdout} of each class of the whole set",
                  "holdout": options.holdout, "holdout_seed": options.holdout_seed}
        return {"train": [(whole, train)], "val": [(whole, val)]}, params
    chosen = {}
    for subset, given, candidates in (("train", options.train_split, TRAIN_SPLITS),
                                      ("val", options.val_split, VAL_SPLITS)):
        try:
            chosen[subset] = (given, open_named(cls, root, given, extra)) if given else \
                _first_accepted(cls, root, candidates, extra)
        except ValueError as exc:
            raise UserError(f"--{subset}-split: {exc}", key=f"{subset}_split") from None
    params = {"train_split": chosen["train"][0], "val_split": chosen["val"][0]}
    return {s: [(d, list(range(len(d)))) for d in objs] for s, (_, objs) in chosen.items()}, params


# --- labels, classes, images ----------------------------------------------------------------------------------------


def _target(value: Any, where: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise UserError(f"{where} has targets of type {type(value).__name__}, not class indices: not a "
                        "classification dataset (or not with these arguments).", key="kwargs",
                        hint="Pick the classification target with --kwargs (e.g. '{target_type: category}').") from None


def labels_of(ds: Any) -> list[int]:
    """Every sample's class index, from the dataset's label list where it keeps one, else by reading each sample."""
    where = type(ds).__name__
    for attr in LABEL_ATTRIBUTES:
        values = getattr(ds, attr, None)
        if values is not None and len(values) == len(ds):
            return [_target(v, where) for v in (values.tolist() if hasattr(values, "tolist") else values)]
    for attr in ("samples", "_samples"):  # ImageFolder & co.; StanfordCars, GTSRB: (path, class index) pairs
        pairs = getattr(ds, attr, None)
        if isinstance(pairs, list) and len(pairs) == len(ds) and all(len(p) == 2 for p in pairs[:1]):
            return [_target(p[1], where) for p in pairs]
    return [_target(ds[i][1], where) for i in range(len(ds))]


def holdout(labels: list[int], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """(train indices, held-out indices): `fraction` of each class (at least one of a class of two or more)."""
    rng = np.random.default_rng(seed)
    by_class: dict[int, list[int]] = {}
    for i, c in enumerate(labels):
        by_class.setdefault(c, []).append(i)
    train, val = [], []
    for c in sorted(by_class):
        order = [by_class[c][i] for i in rng.permutation(len(by_class[c]))]
        k = min(len(order) - 1, max(1, round(fraction * len(order)))) if len(order) > 1 else 0
        val += sorted(order[:k])
        train += sorted(order[k:])
    return sorted(train), sorted(val)


def class_names(ds: Any, labels: list[int]) -> list[str]:
    """The dataset's class names (`classes`, `categories` or `class_to_idx`), else the indices as names."""
    for attr in ("classes", "categories"):
        names = getattr(ds, attr, None)
        if isinstance(names, (list, tuple)) and names and all(isinstance(n, str) for n in names):
            return list(names)
    mapping = getattr(ds, "class_to_idx", None)
    if isinstance(mapping, dict) and mapping:
        return [n for n, _ in sorted(mapping.items(), key=lambda kv: kv[1])]
    return [str(i) for i in range(max(labels) + 1)] if labels else []


def jpeg(image: Any, size: int | None, quality: int) -> bytes:
    """One image (a PIL image, or an array/tensor torchvision returned) as JPEG; greyscale stays greyscale."""
    from PIL import Image

    if not isinstance(image, Image.Image):
        array = np.asarray(image)
        image = Image.fromarray(array.transpose(1, 2, 0) if array.ndim == 3 and array.shape[0] in (1, 3) else array)
    image = image.convert("L" if image.mode in ("L", "1", "I;16", "I", "F") else "RGB")
    return shrink_to_jpeg(image, size, quality)


def write_order(parts: list[tuple[Any, list[int]]], first_part: int) -> list[tuple[int, int]]:
    """A subset's samples as (part number, index in it), in the fixed shuffled order they are written in."""
    items = [(first_part + p, i) for p, (_, indices) in enumerate(parts) for i in indices]
    return [items[k] for k in np.random.default_rng(ORDER_SEED).permutation(len(items))]


def make_samples(datasets: list[Any], size: int | None, quality: int,
                 items: list[tuple[int, int]]) -> Iterator[tuple[bytes, int]]:
    """The samples of one shard, as (JPEG, class index): runs in the process writing the shard."""
    for part, i in items:
        image, target = datasets[part][i]
        yield jpeg(image, size, quality), _target(target, type(datasets[part]).__name__)


class TorchvisionPreparation:
    """Write a torchvision dataset that is already on disk (under ROOT, as torchvision downloaded it) into OUT.

    NAME is a class of torchvision.datasets (any case). Its train and test (or val) subsets are the library's;
    where the class has no split (Caltech101, SUN397, ...), --holdout of each class is held out as val and
    dataset.json says so. Class names come from the dataset. Nothing is downloaded: a dataset that is not under
    ROOT is an error naming what torchvision looked for.
    """

    name = "torchvision"
    description = "Write a torchvision dataset already on disk (download=False) as shards: its train/test subsets."
    Options = TorchvisionOptions
    arguments = ("name", "root", "out")

    def totals(self, options: TorchvisionOptions) -> dict[str, int]:
        parts, _ = subsets(options)
        return {s: sum(len(ix) for _, ix in p) for s, p in parts.items()}

    def prepare(self, options: TorchvisionOptions, on_progress: OnProgress) -> DatasetSource:
        parts, params = subsets(options)
        train_ds = parts["train"][0][0]
        labels = [c for ds, ix in parts["train"] + parts["val"] for c in _subset_labels(ds, ix)]
        names = class_names(train_ds, labels)
        if not names or max(labels, default=0) >= len(names):
            raise UserError(f"the labels reach {max(labels, default=0)} but the dataset names {len(names)} classes.",
                            key="name", hint="Pick the classification target with --kwargs.")
        cls = dataset_class(options.name)
        record = {"generator": "torchvision", "torchvision_class": cls.__name__,
                  "root": str(Path(options.root).expanduser().resolve()), "kwargs": _kwargs(options), **params,
                  "size": options.size, "quality": options.quality}
        objects = [ds for ds, _ in parts["train"] + parts["val"]]
        items = {"train": write_order(parts["train"], 0), "val": write_order(parts["val"], len(parts["train"]))}
        make = functools.partial(make_samples, objects, options.size, options.quality)
        return write_dataset_parallel(Path(options.out).expanduser(), options.dataset_name or cls.__name__.lower(),
                                      [ClassInfo(i, n) for i, n in enumerate(names)], items, make, record,
                                      shard_size=options.shard_size, workers=options.workers,
                                      on_progress=on_progress)


def _subset_labels(ds: Any, indices: list[int]) -> list[int]:
    labels = labels_of(ds)
    return [labels[i] for i in indices]


@hookimpl
def register_preparations(register) -> None:  # type: ignore[no-untyped-def]
    register(TorchvisionPreparation())
