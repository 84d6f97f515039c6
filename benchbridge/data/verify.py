"""Read every sample of a prepared dataset and report the corrupt or truncated ones by shard and key."""

from __future__ import annotations

import io
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image
from webdataset.tariterators import group_by_keys

from benchbridge.data.source import DatasetSource
from benchbridge.data.shard_files import iter_tar_members, tar_error_in_words


@dataclass(frozen=True)
class Problem:
    shard: str
    key: str | None  # None: the shard itself (unreadable, truncated, wrong sample count)
    reason: str


@dataclass
class ShardReport:
    split: str
    shard: str
    samples: int = 0
    problems: list[Problem] = field(default_factory=list)


def _check_sample(sample: dict, num_classes: int) -> str | None:
    try:
        cls = int(sample.get("cls", b""))
    except ValueError:
        return f"missing or bad class label {sample.get('cls')!r}"
    if not 0 <= cls < num_classes:
        return f"class {cls} out of range 0..{num_classes - 1}"
    if "jpg" not in sample:
        return "no jpg image"
    try:
        with Image.open(io.BytesIO(sample["jpg"])) as im:
            im.load()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        return f"cannot decode its image ({exc})"
    return None


def verify_shard(split: str, path: str, expected: int, num_classes: int) -> ShardReport:
    """Decode every sample of one shard; compare the count with the index."""
    name = Path(path).name
    report = ShardReport(split, name)
    try:
        with open(path, "rb") as stream:
            members = ({"fname": n, "data": d, "__url__": path} for n, d in iter_tar_members(stream))
            for sample in group_by_keys(members):
                report.samples += 1
                why = _check_sample(sample, num_classes)
                if why:
                    report.problems.append(Problem(name, str(sample.get("__key__")), why))
    except (OSError, ValueError) as exc:
        report.problems.append(Problem(name, None, f"unreadable after {report.samples} samples: "
                                                f"{tar_error_in_words(exc)}"))
    if expected >= 0 and report.samples != expected and not any(p.key is None for p in report.problems):
        report.problems.append(Problem(name, None, f"{report.samples} samples, the index says {expected}"))
    return report


def verify_dataset(source: DatasetSource, workers: int = 1,
                   on_shard: Callable[[ShardReport], None] | None = None) -> list[ShardReport]:
    """Reports for every shard of every split, in index order."""
    jobs = [(split, str(source.root / s), -1 if n is None else int(n), source.num_classes)
            for split, entry in source.index["splits"].items()
            for s, n in zip(entry["shards"], entry.get("shard_counts", [None] * len(entry["shards"])))]
    reports = []
    if workers <= 1:
        results = (verify_shard(*job) for job in jobs)
        for report in results:
            reports.append(report)
            if on_shard:
                on_shard(report)
        return reports
    with ProcessPoolExecutor(workers) as pool:
        for report in pool.map(verify_shard, *zip(*jobs)) if jobs else []:
            reports.append(report)
            if on_shard:
                on_shard(report)
    return reports
