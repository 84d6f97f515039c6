"""Where results live on disk, and atomic writes: a crash or a kill never leaves a half-written file."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any
from collections.abc import Callable

MANIFEST_FILE = "manifest.yaml"
PLAN_FILE = "plan.json"
RUNS_DIR = "runs"
RUN_FILE = "run.json"
METRICS_FILE = "metrics.json"
WEIGHTS_FILE = "weights.pt"
INIT_FILE = "init.pt"  # a run's random initialisation, kept for the runs that `benchbridge analyze` compares
LOCK_FILE = ".lock"
BLOCKED_FILE = "blocked.json"  # a run not trained because a run it copies from is unhealthy
NONFINITE_SUFFIX = "_nonfinite"


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once at import: os.umask can only be read by setting it


def run_dir(output_dir: Path, run_id: str) -> Path:
    return output_dir / RUNS_DIR / run_id


def is_finished(output_dir: Path, run_id: str) -> bool:
    """A run is finished when its metrics exist: they are written last, atomically."""
    return (run_dir(output_dir, run_id) / METRICS_FILE).is_file()


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


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())
