"""Open a Hugging Face dataset from disk, offline: a `save_to_disk` folder (Dataset or DatasetDict), a folder of
parquet files (split names from the file paths, as the Hub names them), or one parquet file."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from benchbridge.api import UserError

SPLIT_WORDS = {"train": "train", "training": "train", "test": "test", "testing": "test", "eval": "test",
               "evaluation": "test", "validation": "validation", "valid": "validation", "val": "validation",
               "dev": "validation"}  # the keywords Hugging Face infers splits from in file names
SAVED_MARKERS = ("dataset_dict.json", "state.json")


def offline() -> Any:
    """`datasets`, imported with every hub access off (nothing is ever downloaded)."""
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        import datasets
    except ImportError:
        raise UserError("the Hugging Face `datasets` package is not installed.", key="src",
                        hint="pip install datasets (or reinstall benchbridge-plugin-hf).") from None
    datasets.config.HF_DATASETS_OFFLINE = True
    datasets.config.HF_HUB_OFFLINE = True
    datasets.disable_progress_bars()
    return datasets


def split_of(relative: Path) -> str:
    """The split a parquet file belongs to, from the words of its path (train-00000-of-00002.parquet, test/0.parquet);
    a file that names none is train, as on the Hub."""
    for word in re.split(r"[/_.\-]", relative.with_suffix("").as_posix().lower()):
        if word in SPLIT_WORDS:
            return SPLIT_WORDS[word]
    return "train"


def parquet_files(src: Path) -> dict[str, list[Path]]:
    """Split name -> the parquet files under `src` (or `src` itself), sorted."""
    files = [src] if src.is_file() else sorted(p for p in src.rglob("*.parquet") if p.is_file())
    found: dict[str, list[Path]] = {}
    for path in files:
        found.setdefault("train" if src.is_file() else split_of(path.relative_to(src)), []).append(path)
    return found


def open_splits(src: Path, cache_dir: Path) -> dict[str, Any]:
    """Split name -> datasets.Dataset. Parquet files are converted once into `cache_dir` (memory-mapped arrow)."""
    datasets = offline()
    if not src.exists():
        raise UserError("no such file or folder.", file=str(src), key="src", hint="Give a folder written by "
                        "save_to_disk, a folder of parquet files or one parquet file.")
    if src.is_dir() and any((src / m).is_file() for m in SAVED_MARKERS):
        try:
            loaded = datasets.load_from_disk(str(src))
        except Exception as exc:  # noqa: BLE001 -- a damaged folder surfaces as many exception types
            raise UserError(f"cannot read this save_to_disk folder ({type(exc).__name__}: {exc}).",
                            file=str(src), key="src") from None
        return dict(loaded) if isinstance(loaded, datasets.DatasetDict) else {loaded.split or "train": loaded}
    files = parquet_files(src)
    for split, paths in files.items():
        folders = sorted({str(p.parent.relative_to(src)) for p in paths}) if src.is_dir() else []
        if len(folders) > 1 and not all(Path(f).name == split for f in folders):
            raise UserError(f"the {split} parquet files lie in {len(folders)} folders ({', '.join(folders[:4])}): "
                            "several configurations of one dataset?", file=str(src), key="src",
                            hint="Give the folder of one configuration as SRC.")
    if not files:
        raise UserError("neither a save_to_disk folder (dataset_dict.json or state.json) nor parquet files.",
                        file=str(src), key="src", hint="Give a folder written by Dataset.save_to_disk, a folder "
                        "of .parquet files (the Hub's data/train-00000-of-00001.parquet layout) or one .parquet.")
    return {split: datasets.Dataset.from_parquet([str(p) for p in paths], cache_dir=str(cache_dir),
                                                 split=split, keep_in_memory=False)
            for split, paths in files.items()}
