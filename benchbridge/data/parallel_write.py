"""Write a prepared dataset with several processes: each shard's samples are made, from the shard's share of a
list of sample descriptions, by one picklable function (e.g. reading rows of a dataset object and encoding them as
JPEG). The shards are the same bytes whatever the number of processes."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from benchbridge.data.shard_files import (DEFAULT_SHARD_SIZE, OnProgress, Sample, clear_previous, finish_dataset,
                                          split_entry, write_shard)
from benchbridge.data.source import ClassInfo, DatasetSource
from benchbridge.errors import UserError

MakeSamples = Callable[[Sequence[Any]], Iterable[Sample]]
_make: MakeSamples | None = None  # each worker process's function, set once by _init (not pickled per shard)


def _init(make: MakeSamples) -> None:
    global _make
    _make = make


def _write(out: str, split: str, number: int, first: int, chunk: Sequence[Any],
           num_classes: int) -> tuple[str, int, list[int], str | None]:
    """Write one shard: (split, number, its class indices, a user error's message or None)."""
    assert _make is not None
    try:
        return split, number, write_shard(Path(out), split, number, first, _make(chunk), num_classes), None
    except UserError as exc:
        return split, number, [], str(exc)


def in_processes(fn: Callable[..., Any], jobs: Sequence[tuple[Any, ...]], workers: int,
                 done: Callable[..., None], init: Callable[..., None] | None = None,
                 initargs: tuple[Any, ...] = ()) -> None:
    """`done(*fn(*job))` for every job, in up to `workers` processes (each set up by `init(*initargs)`), in this
    process when one would do; the first exception (from `fn` or `done`) cancels the jobs not started and is
    raised."""
    processes = min(workers, len(jobs))
    if processes <= 1:
        if init is not None:
            init(*initargs)
        for job in jobs:
            done(*fn(*job))
        return
    with ProcessPoolExecutor(processes, initializer=init, initargs=initargs) as pool:
        futures = [pool.submit(fn, *job) for job in jobs]
        try:
            for future in as_completed(futures):
                done(*future.result())
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def write_dataset_parallel(  # noqa: PLR0913 -- write_dataset's arguments, plus the function and the processes
        out: Path, name: str, classes: list[ClassInfo], items: Mapping[str, Sequence[Any]], make: MakeSamples,
        prepare_params: dict[str, Any], *, shard_size: int = DEFAULT_SHARD_SIZE, workers: int | None = None,
        on_progress: OnProgress | None = None) -> DatasetSource:
    """Like `write_dataset`: `items` (split -> the descriptions of its samples, in write order) cut into shards of
    `shard_size`, each shard's samples `make(its items)` -> (jpeg bytes, class index), written by `workers`
    processes (default: every core); the index is written last."""
    if shard_size < 1:
        raise ValueError("shard_size must be >= 1")
    out = Path(out)
    clear_previous(out)
    jobs = [(str(out), split, number, first, list(its[first:first + shard_size]), len(classes))
            for split, its in items.items() for number, first in enumerate(range(0, len(its), shard_size))]
    shards: dict[tuple[str, int], list[int]] = {}

    def done(split: str, number: int, written: list[int], error: str | None) -> None:
        if error:
            raise UserError(error)
        shards[split, number] = written
        if on_progress is not None:
            on_progress(split, len(written))

    in_processes(_write, jobs, workers or os.cpu_count() or 1, done, _init, (make,))
    splits = {split: split_entry(split, [shards[split, n] for n in range(sum(1 for j in jobs if j[1] == split))],
                                 len(classes)) for split in items}
    return finish_dataset(out, name, classes, splits, prepare_params)
