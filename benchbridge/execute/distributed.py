"""torch.distributed as benchbridge uses it: processes started by torchrun, one run trained by all of them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.distributed as dist


def env_world_size() -> int:
    """World size torchrun gave this process (1 when not started by torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def env_rank() -> int:
    return int(os.environ.get("RANK", "0"))


def is_main_process() -> bool:
    """Rank 0 of torchrun's workers, or a process not started by torchrun (before joining the group)."""
    return env_rank() == 0


def launched_by_torchrun() -> bool:
    return "LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ


def is_active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if is_active() else 0


def world_size() -> int:
    return dist.get_world_size() if is_active() else 1


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    if is_active():
        dist.barrier()


def local_device(wanted: torch.device) -> torch.device:
    """This rank's device: cuda:LOCAL_RANK under torchrun on GPUs, else `wanted`."""
    if wanted.type == "cuda" and launched_by_torchrun():
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return wanted


@contextmanager
def session(device: torch.device) -> Iterator[None]:
    """Join torchrun's process group (nccl on GPUs, gloo on CPU) for the block; a no-op in one process."""
    if not launched_by_torchrun() or env_world_size() == 1 or is_active():
        yield
        return
    if device.type == "cuda":
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        yield
    finally:
        dist.destroy_process_group()


def all_sum(values: list[float], device: torch.device) -> list[float]:
    """Sum each value over the ranks (identity in one process)."""
    if not is_active():
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def any_rank(flag: bool, device: torch.device) -> bool:
    """True on every rank when it is true on one of them."""
    return bool(all_sum([float(flag)], device)[0]) if is_active() else flag
