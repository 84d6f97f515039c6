"""Reading shards: the samples of the calling (rank, worker)'s spans of the epoch plan, undecoded and labelled.

The class filter and quota apply before any image is decoded. `skip_corrupt` skips samples with a bad class label
and counts them; otherwise such a sample raises a UserError naming the shard and the key.

Every shard that is read to its end has its sample count (all samples in the tar, whatever their class) checked
against the index (`ShardCheck`): a short, long, unreadable or missing shard raises a UserError naming it and the
counts, or with `skip_corrupt` its missing samples are counted as skipped. A reader stops at the last sample of its
span; the one reader (over all ranks and workers) whose span ends at the shard's last kept sample in a rank's own
slice reads on to the end of the tar, so each shard read this epoch is checked, and counted once. A shard none of
whose samples is kept (other classes, or past the `images_per_class` quota) is not read, so not checked.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import torch
from webdataset.tariterators import group_by_keys

from benchbridge.data.source import INDEX_FILE
from benchbridge.data.epoch_plan import EpochSetup, Span, admit, plan_epoch
from benchbridge.data.loader_spec import Keep
from benchbridge.data.shard_files import iter_tar_members, tar_error_in_words
from benchbridge.errors import UserError


class Counters:
    """Samples skipped as corrupt, and images decoded, since the last batch (one per process)."""

    def __init__(self) -> None:
        self.n = 0
        self.decoded = 0

    def take(self) -> tuple[int, int]:
        """(skipped, decoded) since the last call, and reset both."""
        taken, self.n, self.decoded = (self.n, self.decoded), 0, 0
        return taken


def corrupt(sample: dict, why: str) -> UserError:
    """The error for a sample that cannot be used, naming its shard and key."""
    return UserError(f"corrupt sample '{sample.get('__key__')}': {why}.", file=str(sample.get("__url__")),
                     hint="Run `benchbridge data verify DIR`, prepare the dataset again, or set "
                          "data.skip_corrupt: true in the manifest to skip such samples.")


@dataclass(frozen=True)
class ShardCheck:
    """A shard's sample count as read from its tar against `expected` (shard path -> count in the index).

    Each method returns the samples to count as skipped (with `skip`; only by the shard's `owner`, the one reader
    that reads it to the end) or raises a UserError naming the shard and the counts.
    """

    expected: dict[str, int]
    skip: bool

    def finished(self, url: str, read: int, owner: bool) -> int:
        """The tar ended after `read` samples."""
        want = self.expected.get(url)
        if want is None or read == want:
            return 0
        if not self.skip:
            cause = "cut short (an interrupted copy or a full disk?)" if read < want else "replaced since"
            raise UserError(f"shard {Path(url).name} holds {read} samples, but the dataset's {INDEX_FILE} lists "
                            f"{want}: it was {cause}.", file=url, hint=_HINT)
        return max(0, want - read) if owner else 0

    def unreadable(self, url: str, exc: Exception, read: int, owner: bool) -> int:
        """Reading the tar failed after `read` samples (or opening it: a missing shard)."""
        want = self.expected.get(url)
        if not self.skip:
            listed = f" (the dataset's {INDEX_FILE} lists {want} samples in it)" if want is not None else ""
            if isinstance(exc, FileNotFoundError):
                raise UserError(f"shard {Path(url).name} is missing{listed}.", file=url, hint=_HINT) from None
            raise UserError(f"cannot read shard {Path(url).name}{listed}: {tar_error_in_words(exc)}.", file=url,
                            hint=_HINT) from None
        if want is None:
            return 1  # an index without per-shard counts: one unreadable shard
        return max(0, want - read) if owner else 0


_HINT = ("Run `benchbridge data verify DIR` and prepare the dataset again, or set data.skip_corrupt: true in the "
         "manifest to skip the missing samples (counted in skipped_samples).")


@dataclass
class SampleReader:
    """Samples of one shard, grouped by key, of kept classes only (undecoded), labelled; within the quota."""

    setup: EpochSetup
    skip: bool
    counters: Counters
    keep: Keep | None = None  # (sample key, original class) -> kept

    def samples(self, url: str, owner: bool = True) -> Iterator[dict]:
        """The shard's kept samples, in file order; at the end of the tar, its count is checked (`ShardCheck`)."""
        quota = self.setup.quota
        left = dict(quota[url]) if quota is not None else None
        check = ShardCheck(self.setup.expected, self.skip)
        read = 0
        try:
            with open(url, "rb") as stream:
                members = ({"fname": n, "data": d, "__url__": url} for n, d in iter_tar_members(stream))
                for sample in group_by_keys(members):
                    read += 1
                    if self._keep(sample, left):
                        yield sample
        except (OSError, ValueError) as exc:
            self.counters.n += check.unreadable(url, exc, read, owner)
            return
        self.counters.n += check.finished(url, read, owner)

    def _keep(self, sample: dict, left: dict[int, int] | None) -> bool:
        raw = sample.get("cls")
        try:
            original = int(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            if self.skip:
                self.counters.n += 1
                return False
            raise corrupt(sample, f"missing or bad class label {raw!r}") from None
        if not admit(original, self.setup.label_of, left):
            return False
        sample["label"], sample["__class__"] = self.setup.label_of[original], original
        return True

    def passes(self, sample: dict) -> bool:
        """The `keep` filter, applied after a rank's share is cut, so that the shares stay disjoint and aligned."""
        return self.keep is None or self.keep(str(sample.get("__key__", "")), sample["__class__"])


@dataclass
class PlanSource:
    """The samples of the calling (rank, worker): its spans of the epoch plan (see `epoch_plan.plan_epoch`).

    `whole`: every shard, whole, in this process (one rank, one worker; or an index without per-shard counts).
    """

    reader: SampleReader
    train: bool
    rank: int
    world_size: int
    batch_size: int
    whole: bool = False

    def __call__(self) -> Iterator[dict]:
        info = torch.utils.data.get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        setup = self.reader.setup
        order = setup.order(self.train)
        shards = [setup.shards[i] for i in order]
        if self.whole or setup.kept is None:
            return self.read([Span(s, 0, -1) for s in shards])
        kept = [setup.kept[i] for i in order]
        return self.read(plan_epoch(shards, kept, self.rank, self.world_size, worker, workers, self.batch_size,
                                    self.train))

    def read(self, spans: list[Span]) -> Iterator[dict]:
        """The kept samples of `spans`, in order, through the `keep` filter."""
        for span in spans:
            owner = self.reader.setup.finishes(span)
            samples = self.reader.samples(span.shard, owner)
            stop = None if span.take < 0 else span.skip + span.take
            yield from filter(self.reader.passes, islice(samples, span.skip, stop))
            if owner:
                for _ in samples:  # on to the end of the tar (no kept sample is left), where its count is checked
                    pass
            samples.close()  # type: ignore[attr-defined]
