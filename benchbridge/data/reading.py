"""Reading shards: the samples of the calling (rank, worker)'s spans of the epoch plan, undecoded and labelled.

The class filter and quota apply before any image is decoded. `skip_corrupt` skips samples with a bad class label
and counts them; otherwise such a sample raises a UserError naming the shard and the key.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice

import torch
from webdataset.tariterators import group_by_keys

from benchbridge.data.epoch_plan import EpochSetup, Span, admit, plan_epoch
from benchbridge.data.loader_spec import Keep
from benchbridge.data.shards import iter_tar_members
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


@dataclass
class SampleReader:
    """Samples of one shard, grouped by key, of kept classes only (undecoded), labelled; within the quota."""

    setup: EpochSetup
    skip: bool
    counters: Counters
    keep: Keep | None = None  # (sample key, original class) -> kept

    def samples(self, url: str) -> Iterator[dict]:
        """The shard's kept samples, in file order."""
        quota = self.setup.quota
        left = dict(quota[url]) if quota is not None else None
        try:
            with open(url, "rb") as stream:
                members = ({"fname": n, "data": d, "__url__": url} for n, d in iter_tar_members(stream))
                for sample in group_by_keys(members):
                    if self._keep(sample, left):
                        yield sample
        except (OSError, ValueError) as exc:
            if not self.skip:
                raise UserError(f"cannot read shard: {exc}.", file=url,
                                hint="Run `benchbridge data verify DIR` and prepare the dataset again.") from None
            self.counters.n += 1

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
            samples = self.reader.samples(span.shard)
            stop = None if span.take < 0 else span.skip + span.take
            yield from filter(self.reader.passes, islice(samples, span.skip, stop))
            samples.close()  # type: ignore[attr-defined]
