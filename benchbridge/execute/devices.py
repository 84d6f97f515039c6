"""Check, before any run starts, that the devices and worker counts a manifest asks for exist on this machine."""

from __future__ import annotations

import os

import torch

from benchbridge.errors import UserError
from benchbridge.manifest import ResolvedManifest


def wanted_device(m: ResolvedManifest) -> str:
    """'cuda' or 'cpu': the manifest's execution.device with 'auto' resolved on this machine."""
    wanted = m.raw.execution.device
    if wanted == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return wanted


def cpu_count() -> int:
    """CPU cores this process may use (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def worker_count(m: ResolvedManifest) -> int:
    """How many CPU runs to train at once: execution.workers, 'auto' being one per core (1 on GPUs)."""
    workers = m.raw.execution.workers
    if workers == "auto":
        alone = wanted_device(m) == "cpu" and m.raw.execution.nproc_per_node == 1
        return cpu_count() if alone else 1
    return workers


def check_devices(m: ResolvedManifest) -> None:
    """A UserError naming the manifest key when the devices it asks for are not here."""
    ex = m.raw.execution
    if ex.device == "cuda" and not torch.cuda.is_available():
        raise UserError("execution.device is 'cuda', but torch finds no CUDA GPU on this machine "
                        f"(torch {torch.__version__}, CUDA build: {torch.version.cuda or 'no'}).", file=m.file,
                        key="execution.device", hint="Set execution.device=cpu (or auto), or run on a machine "
                        "with an NVIDIA GPU and a CUDA build of torch.")
    device = wanted_device(m)
    gpus = torch.cuda.device_count() if device == "cuda" else 0
    if device == "cuda" and ex.nproc_per_node > gpus:
        raise UserError(f"execution.nproc_per_node is {ex.nproc_per_node}, but this machine has {gpus} GPU(s).",
                        file=m.file, key="execution.nproc_per_node",
                        hint=f"Set execution.nproc_per_node (or --nproc-per-node) to at most {gpus}.")
    check_batch_split(m.raw.training.batch_size, ex.nproc_per_node, m.file)
    if ex.nproc_per_node > 1 and m.raw.evaluation.holdout:
        raise UserError("evaluation.holdout is not supported with execution.nproc_per_node > 1 yet: the held-out "
                        "images would leave the ranks with unequal numbers of training steps.", file=m.file,
                        key="evaluation.holdout", hint="Train with one process per run (nproc_per_node: 1), or "
                        "drop evaluation.holdout (and the plateau schedule that needs it).")
    if ex.nproc_per_node > 1 and isinstance(ex.workers, int) and ex.workers > 1:
        raise UserError(f"execution.workers is {ex.workers} and execution.nproc_per_node is {ex.nproc_per_node}: "
                        "a run trained by several processes cannot also share the machine with other runs.",
                        file=m.file, key="execution.workers", hint="Set execution.workers to 1 (or auto) with "
                        "nproc_per_node > 1.")
    if device == "cuda" and isinstance(ex.workers, int) and ex.workers > 1:
        raise UserError(f"execution.workers is {ex.workers}, but workers train CPU runs and this manifest trains "
                        "on the GPU.", file=m.file, key="execution.workers",
                        hint="Leave execution.workers at 1 and list GPUs in execution.executor.options.devices "
                        "to train one run per GPU at a time.")


def check_batch_split(batch_size: int, processes: int, file: str | None) -> None:
    """A UserError when the global batch does not split evenly over the processes that train one run."""
    if batch_size % processes:
        raise UserError(f"training.batch_size {batch_size} does not split evenly over {processes} processes (each "
                        "rank trains on an equal share of every global batch).", file=file, key="training.batch_size",
                        hint=f"Choose a multiple of {processes}, or another execution.nproc_per_node.")


def check_gpu_indices(m: ResolvedManifest, indices: list[int], key: str) -> None:
    """A UserError when a listed GPU index is not one of this machine's GPUs (or the run is on the CPU)."""
    if wanted_device(m) != "cuda":
        raise UserError(f"{key} lists GPUs {indices}, but the runs train on the CPU (execution.device is "
                        f"'{m.raw.execution.device}').", file=m.file, key=key,
                        hint="To train several CPU runs at once, set execution.workers (e.g. auto) instead.")
    count = torch.cuda.device_count()
    missing = [i for i in indices if not 0 <= i < count]
    if missing:
        raise UserError(f"{key} names GPU {', '.join(map(str, missing))}, but this machine has {count} GPU(s) "
                        f"(indices 0..{count - 1}).", file=m.file, key=key,
                        hint=f"List indices below {count}, or use 'all'.")
