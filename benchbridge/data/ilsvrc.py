"""Convert ILSVRC-2012 as distributed (train/<wnid>/*.JPEG; val in <wnid>/ folders or flat with a labels file).

Class index = position of the wnid in sorted order (as the paper and Caffe number them). Flat validation images
get their labels from `LOC_val_solution.csv` (Kaggle), a devkit (`data/meta.mat` plus
`data/ILSVRC2012_validation_ground_truth.txt`), or a text file of `filename wnid` lines.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Literal

from benchbridge.data.source import ClassInfo, DatasetSource
from benchbridge.data.imagefolder import IMAGE_SUFFIXES, load_attributes
from benchbridge.data.prepare import Encoding, Files, prepare_files, shuffled
from benchbridge.data.shard_files import OnProgress
from benchbridge.errors import UserError

LAYOUT = ("Expected SRC/train/<wnid>/*.JPEG and SRC/val/ (either <wnid>/ folders, or flat images with "
          "--val-labels LOC_val_solution.csv or --devkit ILSVRC2012_devkit_t12).")
KAGGLE_ROOT = Path("ILSVRC/Data/CLS-LOC")


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES


def find_root(src: Path) -> Path:
    """The folder holding train/ and val/ (SRC itself, or the Kaggle download's ILSVRC/Data/CLS-LOC)."""
    src = Path(src).expanduser()
    for root in (src, src / KAGGLE_ROOT):
        if (root / "train").is_dir():
            return root
    raise UserError("no 'train' folder of <wnid> class folders.", file=str(src), hint=LAYOUT)


def train_files(root: Path) -> tuple[list[str], Files]:
    """The sorted wnids and every training image with its class index."""
    wnids = sorted(p.name for p in (root / "train").iterdir() if p.is_dir() and not p.name.startswith("."))
    if not wnids:
        raise UserError("no class folders in the train folder.", file=str(root / "train"), hint=LAYOUT)
    files = [(p, i) for i, w in enumerate(wnids) for p in sorted((root / "train" / w).iterdir()) if _is_image(p)]
    if not files:
        raise UserError("no images in the train class folders.", file=str(root / "train"), hint=LAYOUT)
    return wnids, files


def read_names(path: Path) -> dict[str, str]:
    """wnid -> words from a `LOC_synset_mapping.txt`-style file (`n01440764 tench, Tinca tinca` per line)."""
    try:
        lines = Path(path).expanduser().read_text().splitlines()
    except OSError as exc:
        raise UserError(f"cannot read the class names file: {exc.strerror}.", file=str(path)) from None
    names = {}
    for number, line in enumerate(lines, 1):
        if line.strip():
            wnid, _, words = line.strip().partition(" ")
            if not words:
                raise UserError(f"line {number} is not 'wnid words'.", file=str(path),
                                hint="Each line: a wnid, a space, then the class name(s).")
            names[wnid] = words.strip()
    return names


def _labels_csv(path: Path) -> dict[str, str]:
    """image id -> wnid from LOC_val_solution.csv (ImageId,PredictionString whose first word is the wnid)."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or not {"ImageId", "PredictionString"} <= set(rows[0]):
        raise UserError("not a LOC_val_solution.csv file (columns ImageId,PredictionString).", file=str(path))
    return {r["ImageId"]: r["PredictionString"].split()[0] for r in rows}


def _labels_text(path: Path) -> dict[str, str]:
    """image name -> wnid from `filename wnid` lines."""
    out = {}
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        parts = line.split()
        if len(parts) == 2:
            out[Path(parts[0]).stem] = parts[1]
        elif parts:
            raise UserError(f"line {number} is not 'filename wnid'.", file=str(path), hint=LAYOUT)
    return out


def _labels_devkit(devkit: Path, images: list[Path]) -> dict[str, str]:
    """image stem -> wnid from the devkit: ground-truth ILSVRC2012_IDs (in file-name order) mapped by meta.mat."""
    meta = devkit / "data" / "meta.mat"
    truth = devkit / "data" / "ILSVRC2012_validation_ground_truth.txt"
    for path in (meta, truth):
        if not path.is_file():
            raise UserError("devkit file missing.", file=str(path), hint=LAYOUT)
    try:
        from scipy.io import loadmat
    except ImportError:
        raise UserError("reading the devkit's meta.mat needs scipy.", file=str(meta),
                        hint="pip install scipy, or pass --val-labels LOC_val_solution.csv instead.") from None
    synsets = loadmat(str(meta), squeeze_me=True)["synsets"]
    wnid_of = {int(s["ILSVRC2012_ID"]): str(s["WNID"]) for s in synsets}
    ids = [int(v) for v in truth.read_text().split()]
    if len(ids) != len(images):
        raise UserError(f"{len(ids)} labels for {len(images)} validation images.", file=str(truth))
    return {p.stem: wnid_of[i] for p, i in zip(sorted(images), ids)}


def val_files(root: Path, wnids: list[str], labels: Path | None, devkit: Path | None) -> Files:
    """Every validation image with its class index."""
    val = root / "val"
    if not val.is_dir():
        raise UserError("no 'val' folder.", file=str(root), hint=LAYOUT)
    index = {w: i for i, w in enumerate(wnids)}
    folders = [p for p in val.iterdir() if p.is_dir() and not p.name.startswith(".")]
    if folders:
        unknown = sorted(p.name for p in folders if p.name not in index)
        if unknown:
            raise UserError(f"validation folders not among the train wnids: {', '.join(unknown[:5])}.",
                            file=str(val), hint=LAYOUT)
        return [(p, index[f.name]) for f in sorted(folders) for p in sorted(f.iterdir()) if _is_image(p)]
    images = sorted(p for p in val.iterdir() if _is_image(p))
    found = (d / "LOC_val_solution.csv" for d in [root, *list(root.parents)[:3]])
    labels = labels or next((p for p in found if p.is_file()), None)
    if devkit is not None:
        wnid_of = _labels_devkit(Path(devkit), images)
    elif labels is not None:
        wnid_of = _labels_csv(labels) if Path(labels).suffix == ".csv" else _labels_text(labels)
    else:
        raise UserError("flat validation images but no labels.", file=str(val), hint=LAYOUT)
    missing = [p.name for p in images if p.stem not in wnid_of]
    unknown = sorted({wnid_of[p.stem] for p in images if p.stem in wnid_of} - set(index))
    if missing or unknown:
        what = f"no label for {missing[0]} ({len(missing)} in all)" if missing else f"unknown wnid {unknown[0]}"
        raise UserError(f"validation labels do not match the images: {what}.", file=str(labels or devkit))
    return [(p, index[wnid_of[p.stem]]) for p in images]


def convert_imagenet(  # noqa: PLR0913 -- keyword-only, one per flag of `benchbridge data prepare imagenet`
        src: Path, out: Path, *, names: Path | None = None, attributes: Path | None = None,
        val_labels: Path | None = None, devkit: Path | None = None, shard_size: int = 1000,
        size: int | None = 256, resize: Literal["shorter", "square"] = "shorter", quality: int = 90,
        workers: int | None = None, on_progress: OnProgress | None = None,
        name: str = "imagenet") -> DatasetSource:
    """Write ILSVRC-2012 (or any subset in its layout) as a prepared dataset under `out`."""
    root = find_root(src)
    wnids, train = train_files(root)
    val = val_files(root, wnids, val_labels, devkit)
    words = read_names(names) if names else {}
    attrs = load_attributes(attributes, wnids) if attributes else {}
    classes = [ClassInfo(i, w, {"wnid": w, **({"words": words[w]} if w in words else {}), **attrs.get(w, {})})
               for i, w in enumerate(wnids)]
    params: dict[str, Any] = {"generator": "imagenet", "source": str(root.resolve()),
                              "val_labels": str(val_labels or devkit or "folders"),
                              "names": str(names) if names else None,
                              "attributes": str(attributes) if attributes else None}
    return prepare_files(out, name, classes, {"train": shuffled(train), "val": shuffled(val)}, params,
                         shard_size=shard_size, enc=Encoding(size, resize, quality), workers=workers,
                         on_progress=on_progress)


def count_imagenet(src: Path, val_labels: Path | None = None, devkit: Path | None = None) -> dict[str, int]:
    """Images per split (for progress bars)."""
    root = find_root(src)
    wnids, train = train_files(root)
    return {"train": len(train), "val": len(val_files(root, wnids, val_labels, devkit))}
