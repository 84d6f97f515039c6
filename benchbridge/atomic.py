"""Atomic file writing, the ground floor every package that writes files stands on (results/, data/, ...).

A crash or a kill never leaves a half-written file: each write goes to a temporary file in the same folder, is
flushed to disk, given the umask's permissions and renamed over its final name (the one commit step).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

NONFINITE_SUFFIX = "_nonfinite"


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once at import: os.umask can only be read by setting it


def replace_atomically(tmp: Path, final: Path) -> None:
    """Flush `tmp` to disk, give it the umask's permissions and rename it over `final` (the one commit step)."""
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; results are meant to be shared
    os.replace(tmp, final)


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write through `write(tmp_path)` then rename over `path`, so readers see the old or the new file only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        replace_atomically(Path(tmp), path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_weights(path: Path, state: dict[str, Any]) -> None:
    """Write a network's state dict (weights.pt, init.pt) atomically, every tensor detached and on the CPU."""
    import torch  # here, not at import: reading results needs no torch

    cpu = {key: value.detach().cpu() for key, value in state.items()}
    atomic_write(path, lambda p: torch.save(cpu, p))


def write_text(path: Path, text: str) -> None:
    """Write `text` atomically."""
    atomic_write(path, lambda p: p.write_text(text))


def strict(data: Any) -> Any:
    """`data` as strict JSON values: a non-finite float becomes null; in a mapping, `KEY_nonfinite` says which."""
    if isinstance(data, float) and not math.isfinite(data):
        return None
    if isinstance(data, dict):
        out: dict[Any, Any] = {key: strict(value) for key, value in data.items()}
        for key, value in data.items():  # after the values, so that a declared `KEY_nonfinite: None` is replaced
            if isinstance(value, float) and not math.isfinite(value):
                out[f"{key}{NONFINITE_SUFFIX}"] = repr(value)  # 'nan', 'inf' or '-inf'
        return out
    if isinstance(data, (list, tuple)):
        return [strict(v) for v in data]
    return data


def dumps(data: Any, indent: int | None = 2) -> str:
    """Strict JSON (no NaN/Infinity tokens, which most JSON readers reject): see `strict`."""
    return json.dumps(strict(data), indent=indent, sort_keys=False, allow_nan=False)


def write_json(path: Path, data: Any) -> None:
    """Write `data` as indented JSON, atomically."""
    write_text(path, dumps(data) + "\n")
